package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/schema"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/robot"
	"github.com/berth-registry/berth/server/harborq"
)

// Harbor's robot API (/api/v2.0/robots), for scripts that create CI robots. It goes through the
// robot service, as GraphQL does, so who may do what is decided in one place; this file only
// translates Harbor's shapes.

// harborRobotPermission is Harbor's shape of a robot's permissions: per project, a list of access.
type harborRobotPermission struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Access    []struct {
		Resource string `json:"resource"`
		Action   string `json:"action"`
	} `json:"access"`
}

type harborRobot struct {
	ID           int                     `json:"id"`
	Name         string                  `json:"name"`
	Description  string                  `json:"description"`
	Secret       string                  `json:"secret,omitempty"`
	Level        string                  `json:"level"`
	Duration     int                     `json:"duration"`
	Disable      bool                    `json:"disable"`
	Editable     bool                    `json:"editable"`
	ExpiresAt    int64                   `json:"expires_at"`
	Permissions  []harborRobotPermission `json:"permissions"`
	CreationTime time.Time               `json:"creation_time"`
	UpdateTime   time.Time               `json:"update_time"`
}

func toHarborRobot(rb *ent.Robot) harborRobot {
	out := harborRobot{ID: rb.ID, Name: rb.Name, Description: rb.Description, Level: strings.ToLower(string(rb.Level)),
		Duration: rb.Duration, Disable: rb.Disabled, Editable: true, ExpiresAt: -1,
		CreationTime: rb.CreatedAt, UpdateTime: rb.UpdatedAt, Permissions: []harborRobotPermission{}}
	if rb.ExpiresAt != nil {
		out.ExpiresAt = rb.ExpiresAt.Unix()
	}
	byNamespace := map[string]int{}
	for _, p := range rb.Permissions {
		i, ok := byNamespace[p.Namespace]
		if !ok {
			i = len(out.Permissions)
			byNamespace[p.Namespace] = i
			out.Permissions = append(out.Permissions, harborRobotPermission{Kind: "project", Namespace: p.Namespace})
		}
		out.Permissions[i].Access = append(out.Permissions[i].Access, struct {
			Resource string `json:"resource"`
			Action   string `json:"action"`
		}{p.Resource, p.Action})
	}
	return out
}

func (h *rest) robotRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/robots", h.listRobots)
	h.mux.HandleFunc("POST /api/v2.0/robots", h.createRobot)
	h.mux.HandleFunc("GET /api/v2.0/robots/{id}", h.getRobot)
	h.mux.HandleFunc("PUT /api/v2.0/robots/{id}", h.updateRobot)
	h.mux.HandleFunc("PATCH /api/v2.0/robots/{id}", h.refreshRobot)
	h.mux.HandleFunc("DELETE /api/v2.0/robots/{id}", h.deleteRobot)
}

// harborRobotBody is the body of Harbor's create and update calls.
type harborRobotBody struct {
	Name        string                  `json:"name"`
	Description *string                 `json:"description"`
	Duration    *int                    `json:"duration"`
	Level       string                  `json:"level"`
	Disable     *bool                   `json:"disable"`
	Permissions []harborRobotPermission `json:"permissions"`
}

func (b harborRobotBody) permissions() []schema.RobotPermission {
	out := []schema.RobotPermission{}
	for _, p := range b.Permissions {
		for _, a := range p.Access {
			out = append(out, schema.RobotPermission{Namespace: p.Namespace, Resource: a.Resource, Action: a.Action})
		}
	}
	return out
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func robotID(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "robot id must be a number")
	}
	return id, err == nil
}

// listRobots answers GET /robots: every robot (no q; system robot readers only),
// q=Level=system (the system's), or q=Level=project,ProjectID=<id> (a project's), a page at a time.
func (h *rest) listRobots(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	q, ok := h.listQuery(w, r, "Level", "ProjectID")
	if !ok {
		return
	}
	var projectID *int
	level, _ := q.Get("Level")
	if t, ok := q.Get("ProjectID"); ok {
		if t.Kind != harborq.Exact && t.Kind != harborq.Fuzzy { // Harbor's dashboard sends ProjectID=~<id>
			h.fail(w, fault.BadInput("q ProjectID must be a project id"))
			return
		}
		id, err := strconv.Atoi(t.Value)
		if err != nil {
			h.fail(w, fault.BadInput("q ProjectID must be a number"))
			return
		}
		projectID = &id
	}
	page := robot.Page{Offset: pg.Offset, Limit: pg.Limit}
	var robots []*ent.Robot
	var total int
	var err error
	switch {
	case level.Kind != harborq.Exact || level.Value != "" && level.Value != "system" && level.Value != "project":
		err = fault.BadInput("q Level must be system or project")
	case level.Value == "system" && projectID != nil:
		err = fault.BadInput("q Level=system takes no ProjectID")
	case projectID != nil:
		robots, total, err = h.robots.List(r.Context(), projectID, page)
	case level.Value == "system":
		robots, total, err = h.robots.List(r.Context(), nil, page)
	case level.Value == "project":
		err = fault.BadInput("q Level=project needs ProjectID")
	default:
		robots, total, err = h.robots.ListAll(r.Context(), page)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]harborRobot, len(robots))
	for i, rb := range robots {
		out[i] = toHarborRobot(rb)
	}
	writeList(w, r, total, out)
}

func (h *rest) createRobot(w http.ResponseWriter, r *http.Request) {
	var body harborRobotBody
	if !decodeBody(w, r, &body) {
		return
	}
	in := robot.CreateInput{Name: body.Name, Description: body.Description, Duration: body.Duration,
		Disabled: body.Disable, Permissions: body.permissions()}
	switch body.Level {
	case "system":
	case "project":
		// Harbor names a project robot's project by its (one) permission namespace.
		if len(body.Permissions) != 1 || body.Permissions[0].Namespace == "" {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "a project robot has permissions in exactly one project")
			return
		}
		in.ProjectName = body.Permissions[0].Namespace
	default:
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", `level must be "system" or "project"`)
		return
	}
	created, err := h.robots.Create(r.Context(), in)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := toHarborRobot(created.Robot)
	w.Header().Set("Location", "/api/v2.0/robots/"+strconv.Itoa(created.Robot.ID))
	writeJSON(w, http.StatusCreated, map[string]any{"id": out.ID, "name": out.Name, "secret": created.Secret,
		"creation_time": out.CreationTime, "expires_at": out.ExpiresAt})
}

func (h *rest) getRobot(w http.ResponseWriter, r *http.Request) {
	id, ok := robotID(w, r)
	if !ok {
		return
	}
	rb, err := h.robots.Get(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborRobot(rb))
}

func (h *rest) updateRobot(w http.ResponseWriter, r *http.Request) {
	id, ok := robotID(w, r)
	if !ok {
		return
	}
	var body harborRobotBody
	if !decodeBody(w, r, &body) {
		return
	}
	in := robot.UpdateInput{Description: body.Description, Duration: body.Duration, Disabled: body.Disable}
	if body.Permissions != nil {
		in.Permissions = body.permissions()
	}
	if _, err := h.robots.Update(r.Context(), id, in); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// refreshRobot is Harbor's PATCH /robots/{id}: Berth always generates the new secret (256 random
// bits) and returns it once; a secret chosen by the caller is refused.
func (h *rest) refreshRobot(w http.ResponseWriter, r *http.Request) {
	id, ok := robotID(w, r)
	if !ok {
		return
	}
	var body struct {
		Secret string `json:"secret"`
	}
	if r.ContentLength != 0 && !decodeBody(w, r, &body) {
		return
	}
	if body.Secret != "" {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Berth generates robot secrets: send {} and read the new secret from the answer")
		return
	}
	created, err := h.robots.RefreshSecret(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": created.Secret})
}

func (h *rest) deleteRobot(w http.ResponseWriter, r *http.Request) {
	id, ok := robotID(w, r)
	if !ok {
		return
	}
	if err := h.robots.Delete(r.Context(), id); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
