package server

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/artifact"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/label"
	"github.com/berth-registry/berth/project"
)

// Harbor's system endpoints: ping, health and systeminfo.

// harborVersion is the Harbor release whose REST API Berth answers; systeminfo reports it as
// harbor_version (clients compare it to decide what to call) with Berth's own version beside it.
const harborVersion = "v2.6.0"

func (h *rest) systemRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Pong"))
	})
	h.mux.HandleFunc("GET /api/v2.0/health", h.getHealth)
	h.mux.HandleFunc("GET /api/v2.0/systeminfo", h.systemInfo)
}

// componentHealth is Harbor's ComponentHealthStatus.
type componentHealth struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// componentHealth checks what Berth depends on, each within a second: the API itself (core),
// PostgreSQL (which also carries the job queue) and Redis when it is configured.
func (s *Server) componentHealth(ctx context.Context) []componentHealth {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	check := func(name string, err error) componentHealth {
		if err != nil { // anyone may ask: the cause (addresses, drivers) goes to the log, not the answer
			s.log.Warn("health: component unhealthy", "component", name, "err", err)
			return componentHealth{Name: name, Status: "unhealthy", Error: name + " is unreachable"}
		}
		return componentHealth{Name: name, Status: "healthy"}
	}
	db := s.pool.Ping(ctx)
	out := []componentHealth{check("core", nil), check("database", db), check("jobservice", db)}
	if s.redis != nil {
		out = append(out, check("redis", s.redis.Ping(ctx).Err()))
	}
	return out
}

func (h *rest) getHealth(w http.ResponseWriter, r *http.Request) {
	components := h.health(r.Context())
	status := "healthy"
	for _, c := range components {
		if c.Status != "healthy" {
			status = "unhealthy"
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "components": components})
}

// berthVersion is the module version this binary was built from ("dev" for a local build).
func berthVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// systemInfo answers Harbor's GeneralInfo, which anyone may read; as Harbor does, an anonymous
// caller is not told the versions.
func (h *rest) systemInfo(w http.ResponseWriter, r *http.Request) {
	info := map[string]any{
		"auth_mode": "db_auth", "with_notary": false, "with_chartmuseum": false, "self_registration": false,
		"has_ca_root": false, "read_only": false, "notification_enable": true,
	}
	if auth.PrincipalFrom(r.Context()).Authenticated() {
		info["harbor_version"], info["berth_version"] = harborVersion+"-berth-"+berthVersion(), berthVersion()
	}
	writeJSON(w, http.StatusOK, info)
}

// Search, statistics and labels.

func (h *rest) catalogRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/search", h.search)
	h.mux.HandleFunc("GET /api/v2.0/statistics", h.statistics)
	h.mux.HandleFunc("GET /api/v2.0/labels", h.listLabels)
	h.mux.HandleFunc("POST /api/v2.0/labels", h.createLabel)
	h.mux.HandleFunc("DELETE /api/v2.0/labels/{id}", h.deleteLabel)
}

// search answers Harbor's Search: the first page (up to 100) of projects and of repositories
// whose names contain q, among those the caller may see.
func (h *rest) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	if q == "" || len(q) > 255 {
		h.fail(w, fault.BadInput("q (1 to 255 characters) is required"))
		return
	}
	pg := project.Page{Limit: project.MaxPage}
	projects, _, err := h.projects.List(r.Context(), project.ListOptions{NameContains: q, Page: pg})
	if err != nil {
		h.fail(w, err)
		return
	}
	repos, _, err := h.artifacts.ListAllRepositories(r.Context(), artifact.RepositoryFilter{NameContains: q}, pg)
	if err != nil {
		h.fail(w, err)
		return
	}
	owners, err := h.projects.Owners(r.Context(), listedProjects(projects))
	if err != nil {
		h.fail(w, err)
		return
	}
	outProjects := make([]harborProject, len(projects))
	for i, p := range projects {
		outProjects[i] = toHarborProject(p.Project, p.Repositories, nil, owners[i])
	}
	public := map[int]*bool{}
	outRepos := make([]map[string]any, len(repos))
	for i, repo := range repos {
		if public[repo.ProjectID] == nil {
			p, err := h.projects.Find(r.Context(), project.Ref{ID: repo.ProjectID})
			if err != nil {
				h.fail(w, err)
				return
			}
			public[repo.ProjectID] = &p.Public
		}
		projectName, _, _ := strings.Cut(repo.Name, "/")
		outRepos[i] = map[string]any{"project_id": repo.ProjectID, "project_name": projectName,
			"project_public": *public[repo.ProjectID], "repository_name": repo.Name,
			"pull_count": repo.PullCount, "artifact_count": repo.Artifacts}
	}
	writeJSON(w, http.StatusOK, map[string]any{"project": outProjects, "repository": outRepos})
}

// statistics counts the projects and repositories the caller may see, public and private, and
// (for system administrators) the storage used, from the quota usage.
func (h *rest) statistics(w http.ResponseWriter, r *http.Request) {
	if !auth.PrincipalFrom(r.Context()).Authenticated() {
		h.fail(w, auth.ErrUnauthenticated)
		return
	}
	one := project.Page{Limit: 1}
	out := map[string]int64{}
	for _, public := range []bool{true, false} {
		kind := "private"
		if public {
			kind = "public"
		}
		_, projects, err := h.projects.List(r.Context(), project.ListOptions{Public: &public, Page: one})
		if err != nil {
			h.fail(w, err)
			return
		}
		_, repos, err := h.artifacts.ListAllRepositories(r.Context(), artifact.RepositoryFilter{ProjectPublic: &public}, one)
		if err != nil {
			h.fail(w, err)
			return
		}
		out[kind+"_project_count"], out[kind+"_repo_count"] = int64(projects), int64(repos)
	}
	out["total_project_count"] = out["public_project_count"] + out["private_project_count"]
	out["total_repo_count"] = out["public_repo_count"] + out["private_repo_count"]
	// The storage every project uses, told only to who may read every quota, as in Harbor.
	if used, ok, err := h.quotas.TotalUsed(r.Context()); err != nil {
		h.fail(w, err)
		return
	} else if ok {
		out["total_storage_consumption"] = used
	}
	writeJSON(w, http.StatusOK, out)
}

// listLabels answers the system's labels (scope g) or a project's own (scope p, project_id).
func (h *rest) listLabels(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	if _, ok := h.listQuery(w, r); !ok {
		return
	}
	var projectID *int
	switch scope := r.URL.Query().Get("scope"); scope {
	case "", "g":
	case "p":
		id, err := strconv.Atoi(r.URL.Query().Get("project_id"))
		if err != nil || id < 1 {
			h.fail(w, fault.BadInput("scope p needs project_id, a positive integer"))
			return
		}
		projectID = &id
	default:
		h.fail(w, fault.BadInput("scope must be g (system) or p (project), not %.10q", scope))
		return
	}
	labels, err := h.labels.List(r.Context(), projectID)
	if err != nil {
		h.fail(w, err)
		return
	}
	name := r.URL.Query().Get("name")
	labels = slices.DeleteFunc(labels, func(l *ent.Label) bool {
		return (projectID != nil) != (l.ProjectID != nil) || name != "" && !strings.Contains(l.Name, name)
	})
	total := len(labels)
	labels = labels[min(pg.Offset, total):min(pg.Offset+pg.Limit, total)]
	out := make([]map[string]any, len(labels))
	for i, l := range labels {
		out[i] = toHarborLabel(l)
	}
	writeList(w, r, total, out)
}

func (h *rest) createLabel(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name        string  `json:"name"`
		Description *string `json:"description"`
		Color       *string `json:"color"`
		Scope       string  `json:"scope"`
		ProjectID   int     `json:"project_id"`
	}
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	in := label.CreateInput{Name: body.Name, Description: body.Description, Color: body.Color}
	switch body.Scope {
	case "", "g":
		if body.ProjectID != 0 {
			h.fail(w, fault.BadInput("a system label (scope g) has no project_id"))
			return
		}
	case "p":
		in.ProjectID = &body.ProjectID
	default:
		h.fail(w, fault.BadInput("scope must be g or p"))
		return
	}
	l, err := h.labels.Create(r.Context(), in)
	h.created(w, err, func() string { return fmt.Sprintf("/api/v2.0/labels/%d", l.ID) })
}

func (h *rest) deleteLabel(w http.ResponseWriter, r *http.Request) {
	h.byID(w, r, h.labels.Delete)
}
