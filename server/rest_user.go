package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entuser "github.com/berth-registry/berth/ent/user"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/server/harborq"
	"github.com/berth-registry/berth/user"
)

// Harbor's user endpoints (/users), over the user service.

func (h *rest) userRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/users/current", h.currentUser)
	h.mux.HandleFunc("GET /api/v2.0/users/current/permissions", h.currentPermissions)
	h.mux.HandleFunc("GET /api/v2.0/users", h.listUsers)
	h.mux.HandleFunc("POST /api/v2.0/users", h.createUser)
	h.mux.HandleFunc("GET /api/v2.0/users/{id}", h.getUser)
	h.mux.HandleFunc("PUT /api/v2.0/users/{id}", h.updateUser)
	h.mux.HandleFunc("DELETE /api/v2.0/users/{id}", h.deleteUser)
}

func toHarborUser(u *ent.User) map[string]any {
	return map[string]any{"user_id": u.ID, "username": u.Username, "email": u.Email, "realname": u.FullName,
		"comment": "", "sysadmin_flag": u.Admin, "admin_role_in_auth": false,
		"creation_time": u.CreatedAt, "update_time": u.UpdatedAt}
}

// currentUser answers who the caller is, as Harbor does; only a user has an answer.
func (h *rest) currentUser(w http.ResponseWriter, r *http.Request) {
	v, err := h.users.Current(r.Context())
	if err == nil && v.User == nil {
		err = auth.ErrUnauthenticated
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborUser(v.User))
}

// currentPermissions answers what the caller may do, in the system or (scope=/project/{id}) in a
// project, as Harbor's Permission list: each Berth action "resource:action" split in two; with
// relative=false the resource is prefixed with the scope, as Harbor does.
func (h *rest) currentPermissions(w http.ResponseWriter, r *http.Request) {
	scope := r.URL.Query().Get("scope")
	relative, err := boolParam(r, "relative", false)
	if err != nil {
		h.fail(w, err)
		return
	}
	var projectID *int
	switch {
	case scope == "" || scope == "/":
	case strings.HasPrefix(scope, "/project/"):
		p, err := h.projects.Find(r.Context(), projectRefFrom(strings.TrimPrefix(scope, "/project/")))
		if err != nil {
			h.fail(w, err)
			return
		}
		projectID = &p.ID
		scope = fmt.Sprintf("/project/%d", p.ID)
	default:
		h.fail(w, fault.BadInput("scope must be / or /project/{id}, not %.60q", scope))
		return
	}
	actions, err := h.projects.Permissions(r.Context(), projectID)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]map[string]string, 0, len(actions))
	for _, a := range actions {
		res, act, _ := strings.Cut(string(a), ":")
		if !relative && scope != "" && scope != "/" {
			res = scope + "/" + res
		}
		out = append(out, map[string]string{"resource": res, "action": act})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *rest) listUsers(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	q, ok := h.listQuery(w, r, "username", "email")
	if !ok {
		return
	}
	users, err := h.users.Query(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	for _, t := range q.Terms {
		if err := t.Kinds(harborq.Exact, harborq.Fuzzy); err != nil {
			h.fail(w, err)
			return
		}
		switch {
		case t.Key == "username" && t.Kind == harborq.Exact:
			users = users.Where(entuser.Username(t.Value))
		case t.Key == "username":
			users = users.Where(entuser.UsernameContains(t.Value))
		case t.Kind == harborq.Exact:
			users = users.Where(entuser.Email(t.Value))
		default:
			users = users.Where(entuser.EmailContains(t.Value))
		}
	}
	total, err := users.Clone().Count(r.Context())
	var rows []*ent.User
	if err == nil {
		rows, err = users.Order(ent.Asc(entuser.FieldUsername)).Offset(pg.Offset).Limit(pg.Limit).All(r.Context())
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]map[string]any, len(rows))
	for i, u := range rows {
		out[i] = toHarborUser(u)
	}
	writeList(w, r, total, out)
}

func (h *rest) createUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Username string  `json:"username"`
		Password string  `json:"password"`
		Email    *string `json:"email"`
		Realname *string `json:"realname"`
		Comment  string  `json:"comment"`
	}
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	if body.Comment != "" {
		h.fail(w, fault.BadInput("comment is not supported: Berth keeps no comment on accounts"))
		return
	}
	u, err := h.users.Create(r.Context(), user.CreateInput{Username: body.Username, Password: body.Password, Email: body.Email, FullName: body.Realname})
	h.created(w, err, func() string { return fmt.Sprintf("/api/v2.0/users/%d", u.ID) })
}

// userByID is the account {id} names, for a caller who may list accounts.
func (h *rest) userByID(r *http.Request) (*ent.User, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	users, err := h.users.Query(r.Context())
	if err != nil {
		return nil, err
	}
	u, err := users.Where(entuser.ID(id)).Only(r.Context())
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("user %d", id))
	}
	return u, err
}

func (h *rest) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := h.userByID(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborUser(u))
}

// updateUser changes a profile (Harbor's UserProfile: email, realname, comment).
func (h *rest) updateUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email    *string `json:"email"`
		Realname *string `json:"realname"`
		Comment  string  `json:"comment"`
	}
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	id, err := pathID(r, "id")
	if err == nil && body.Comment != "" {
		err = fault.BadInput("comment is not supported: Berth keeps no comment on accounts")
	}
	if err == nil {
		_, err = h.users.Update(r.Context(), id, user.UpdateInput{Email: body.Email, FullName: body.Realname})
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) deleteUser(w http.ResponseWriter, r *http.Request) {
	h.byID(w, r, h.users.Delete)
}
