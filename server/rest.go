package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berth-registry/berth/artifact"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/quota"
	"github.com/berth-registry/berth/retention"
	"github.com/berth-registry/berth/robot"
	"github.com/berth-registry/berth/tagrule"
	"github.com/berth-registry/berth/user"
	"github.com/berth-registry/berth/worker/export"
	"github.com/berth-registry/berth/worker/replication"
	"github.com/berth-registry/berth/worker/scan"
)

// rest serves the part of Harbor's REST API (/api/v2.0) that scripts written for Harbor use most.
// Every handler calls the same domain services as GraphQL, so permissions and validation are the
// same on both; this file only translates Harbor's shapes and errors.
type rest struct {
	restServices
	log *slog.Logger
	mux *http.ServeMux
}

// restServices are the domain services the REST handlers adapt.
type restServices struct {
	projects  *project.Service
	artifacts *artifact.Service
	users     *user.Service
	robots    *robot.Service
	exports   *export.Service
	scans     *scan.Service
	// endpoints and replication serve /registries and /replication (rest_replication.go).
	endpoints   *endpoint.Service
	replication *replication.Service
	// quotas and tagRules serve /quotas and /projects/{project}/immutabletagrules (rest_quota.go).
	quotas    *quota.Service
	tagRules  *tagrule.Service
	retention *retention.Service
}

func newREST(log *slog.Logger, services restServices) http.Handler {
	h := &rest{restServices: services, log: log, mux: http.NewServeMux()}
	h.userRoutes()
	h.mux.HandleFunc("GET /api/v2.0/projects", h.listProjects)
	h.mux.HandleFunc("POST /api/v2.0/projects", h.createProject)
	h.mux.HandleFunc("GET /api/v2.0/projects/{project}", h.getProject)
	h.mux.HandleFunc("DELETE /api/v2.0/projects/{project}", h.deleteProject)
	h.mux.HandleFunc("GET /api/v2.0/projects/{project}/repositories", h.listRepositories)
	h.mux.HandleFunc("GET /api/v2.0/projects/{project}/repositories/{repo}/artifacts", h.listArtifacts)
	h.mux.HandleFunc("DELETE /api/v2.0/projects/{project}/repositories/{repo}/artifacts/{reference}", h.deleteArtifact)
	h.exportRoutes()
	h.robotRoutes()
	h.addScanRoutes()
	h.replicationRoutes()
	h.policyRoutes()
	return h
}

func (h *rest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

type harborProject struct {
	ProjectID int               `json:"project_id"`
	Name      string            `json:"name"`
	Metadata  map[string]string `json:"metadata"`
	RepoCount int               `json:"repo_count"`
	// RegistryID names the endpoint a proxy-cache project pulls through (Harbor's field): other
	// registries read it to never replicate into one.
	RegistryID   *int      `json:"registry_id,omitempty"`
	CreationTime time.Time `json:"creation_time"`
	UpdateTime   time.Time `json:"update_time"`
}

func toHarborProject(p *ent.Project, repos int) harborProject {
	return harborProject{
		ProjectID: p.ID, Name: p.Name, RepoCount: repos, RegistryID: p.ProxyRegistryID, CreationTime: p.CreatedAt, UpdateTime: p.UpdatedAt,
		Metadata: map[string]string{
			"public": strconv.FormatBool(p.Public), "auto_scan": strconv.FormatBool(p.AutoScan),
			"prevent_vul": strconv.FormatBool(p.PreventVulnerable), "severity": string(p.SeverityThreshold),
		},
	}
}

// page reads Harbor's page and page_size (1-based; page_size at most 100).
func page(r *http.Request) (offset, limit int, err error) {
	pageNo, size := 1, 10
	if v := r.URL.Query().Get("page"); v != "" {
		if pageNo, err = strconv.Atoi(v); err != nil || pageNo < 1 {
			return 0, 0, fmt.Errorf("page must be a positive integer")
		}
	}
	if v := r.URL.Query().Get("page_size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > project.MaxPage {
			return 0, 0, fmt.Errorf("page_size must be between 1 and %d", project.MaxPage)
		}
	}
	return (pageNo - 1) * size, size, nil
}

// listPage is page as a service's page, or false after answering 400.
func listPage(w http.ResponseWriter, r *http.Request) (project.Page, bool) {
	offset, limit, err := page(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return project.Page{}, false
	}
	return project.Page{Offset: offset, Limit: limit}, true
}

// writeList answers a page of a list with the total, as Harbor does, in X-Total-Count.
func writeList[T any](w http.ResponseWriter, total int, items []T) {
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	writeJSON(w, http.StatusOK, items)
}

func (h *rest) listProjects(w http.ResponseWriter, r *http.Request) {
	pg, ok := listPage(w, r)
	if !ok {
		return
	}
	projects, total, err := h.projects.List(r.Context(), project.ListOptions{NameContains: r.URL.Query().Get("name"), Page: pg})
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]harborProject, len(projects))
	for i, p := range projects {
		out[i] = toHarborProject(p.Project, p.Repositories)
	}
	writeList(w, total, out)
}

func (h *rest) createProject(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ProjectName string            `json:"project_name"`
		Public      *bool             `json:"public"`
		Metadata    map[string]string `json:"metadata"`
		// RegistryID makes a proxy-cache project of the endpoint it names (0 or absent: none).
		RegistryID *int `json:"registry_id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "invalid JSON body: "+err.Error())
		return
	}
	public := body.Public != nil && *body.Public
	if v, ok := body.Metadata["public"]; ok {
		public = v == "true"
	}
	input := ent.CreateProjectInput{Name: body.ProjectName, Public: &public}
	if body.RegistryID != nil && *body.RegistryID != 0 {
		input.ProxyRegistryID = body.RegistryID
	}
	p, err := h.projects.Create(r.Context(), input)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Location", "/api/v2.0/projects/"+strconv.Itoa(p.ID))
	w.WriteHeader(http.StatusCreated)
}

// projectRef is the project named in the path: by name or, when it is a number, by id (unless
// the client says it is a name, as Harbor's X-Is-Resource-Name does).
func projectRef(r *http.Request) project.Ref {
	return project.ParseRef(r.PathValue("project"), r.Header.Get("X-Is-Resource-Name") == "true")
}

func (h *rest) getProject(w http.ResponseWriter, r *http.Request) {
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	n, err := h.projects.RepositoryCounts(r.Context(), []int{p.ID})
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborProject(p, n[0]))
}

func (h *rest) deleteProject(w http.ResponseWriter, r *http.Request) {
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err == nil {
		err = h.projects.Delete(r.Context(), p.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) listRepositories(w http.ResponseWriter, r *http.Request) {
	pg, ok := listPage(w, r)
	if !ok {
		return
	}
	repos, total, err := h.artifacts.ListRepositories(r.Context(), projectRef(r), pg)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]map[string]any, len(repos))
	for i, repo := range repos {
		out[i] = map[string]any{"id": repo.ID, "name": repo.Name, "project_id": repo.ProjectID,
			"artifact_count": repo.Artifacts, "pull_count": repo.PullCount,
			"creation_time": repo.CreatedAt, "update_time": repo.UpdatedAt}
	}
	writeList(w, total, out)
}

// repositoryName is "<project>/<repo>" from the path; Harbor clients escape a slash in the repo
// part twice ("a%252Fb"), which the router has already undone once.
func repositoryName(r *http.Request) string {
	repo, err := url.PathUnescape(r.PathValue("repo"))
	if err != nil {
		repo = r.PathValue("repo")
	}
	return r.PathValue("project") + "/" + repo
}

func (h *rest) listArtifacts(w http.ResponseWriter, r *http.Request) {
	pg, ok := listPage(w, r)
	if !ok {
		return
	}
	arts, total, err := h.artifacts.ListArtifacts(r.Context(), repositoryName(r), pg)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]map[string]any, len(arts))
	for i, a := range arts {
		tags := make([]map[string]any, len(a.Edges.Tags))
		for j, t := range a.Edges.Tags {
			tags[j] = map[string]any{"id": t.ID, "name": t.Name, "push_time": t.PushTime}
		}
		out[i] = map[string]any{"id": a.ID, "digest": a.Digest, "size": a.Size, "media_type": a.MediaType,
			"manifest_media_type": a.MediaType, "artifact_type": a.ArtifactType, "push_time": a.PushTime,
			"pull_time": a.PullTime, "repository_id": a.RepositoryID, "tags": tags, "annotations": a.Annotations}
	}
	writeList(w, total, out)
}

func (h *rest) deleteArtifact(w http.ResponseWriter, r *http.Request) {
	a, err := h.artifacts.ByReference(r.Context(), repositoryName(r), r.PathValue("reference"))
	if err == nil {
		err = h.artifacts.Delete(r.Context(), a.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// fail maps an error from a domain service to Harbor's status codes and error shape.
func (h *rest) fail(w http.ResponseWriter, err error) {
	f, isFault := fault.As(err)
	switch {
	case auth.IsUnavailable(err):
		h.log.Warn("rest: database unavailable", "err", err)
		unavailableREST(w)
	case errors.Is(err, auth.ErrUnauthenticated), errors.Is(err, auth.ErrBadCredentials):
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", err.Error())
	case errors.Is(err, auth.ErrForbidden):
		writeError(w, http.StatusForbidden, "FORBIDDEN", err.Error())
	case isFault:
		status, code := restStatus[f.Kind], string(f.Kind)
		if f.Kind == fault.KindBadInput {
			code = "BAD_REQUEST"
		}
		writeError(w, status, code, f.Message)
	default:
		id := w.Header().Get(RequestIDHeader) // set by withRequestID, for the log and the caller alike
		h.log.Error("rest: request failed", "request_id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error (request id "+id+")")
	}
}

// restStatus is the HTTP status of each kind of fault.
var restStatus = map[fault.Kind]int{
	fault.KindBadInput:  http.StatusBadRequest,
	fault.KindNotFound:  http.StatusNotFound,
	fault.KindConflict:  http.StatusConflict,
	fault.KindForbidden: http.StatusForbidden,
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
