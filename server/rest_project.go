package server

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entmember "github.com/berth-registry/berth/ent/member"
	entproject "github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/server/harborq"
)

// Harbor's project endpoints (/projects, its metadata, summary and members), over the project
// and member services.

func (h *rest) projectRoutes() {
	const p = "/api/v2.0/projects"
	h.mux.HandleFunc("HEAD "+p, h.headProject)
	h.mux.HandleFunc("GET "+p, h.listProjects)
	h.mux.HandleFunc("POST "+p, h.createProject)
	h.mux.HandleFunc("GET "+p+"/{project}", h.getProject)
	h.mux.HandleFunc("PUT "+p+"/{project}", h.updateProject)
	h.mux.HandleFunc("DELETE "+p+"/{project}", h.deleteProject)
	h.mux.HandleFunc("GET "+p+"/{project}/_deletable", h.projectDeletable)
	h.mux.HandleFunc("GET "+p+"/{project}/summary", h.projectSummary)
	for _, path := range []string{p + "/{project}/metadatas", p + "/{project}/metadatas/{$}"} {
		h.mux.HandleFunc("GET "+path, h.listProjectMetadata)
		h.mux.HandleFunc("POST "+path, h.addProjectMetadata)
	}
	h.mux.HandleFunc("GET "+p+"/{project}/metadatas/{meta}", h.getProjectMetadata)
	h.mux.HandleFunc("PUT "+p+"/{project}/metadatas/{meta}", h.updateProjectMetadata)
	h.mux.HandleFunc("DELETE "+p+"/{project}/metadatas/{meta}", h.deleteProjectMetadata)
	h.mux.HandleFunc("GET "+p+"/{project}/members", h.listMembers)
	h.mux.HandleFunc("POST "+p+"/{project}/members", h.addMember)
	h.mux.HandleFunc("GET "+p+"/{project}/members/{mid}", h.getMember)
	h.mux.HandleFunc("PUT "+p+"/{project}/members/{mid}", h.updateMember)
	h.mux.HandleFunc("DELETE "+p+"/{project}/members/{mid}", h.removeMember)
}

// metadataKey is one key of Harbor's project metadata and what it is in Berth: the field of
// ent.CreateProjectInput and ent.UpdateProjectInput its value sets (a pointer field of the type
// parse returns, present in both), or none for a key whose only accepted value is what Berth
// always does. A key not in projectMetadata is refused, never dropped. A new setting is one row.
type metadataKey struct {
	key   string
	field string
	// parse checks a value and returns what the field is set to (nil: nothing to set).
	parse func(v string) (any, error)
	// read is the value a project has.
	read func(p *ent.Project) string
	// reset is the value DELETE …/metadatas/{key} sets (Harbor's default when the key is absent).
	reset string
}

var projectMetadata = []metadataKey{
	{key: "public", field: "Public", parse: metadataBool("public"), reset: "false",
		read: func(p *ent.Project) string { return strconv.FormatBool(p.Public) }},
	{key: "auto_scan", field: "AutoScan", parse: metadataBool("auto_scan"), reset: "false",
		read: func(p *ent.Project) string { return strconv.FormatBool(p.AutoScan) }},
	{key: "prevent_vul", field: "PreventVulnerable", parse: metadataBool("prevent_vul"), reset: "false",
		read: func(p *ent.Project) string { return strconv.FormatBool(p.PreventVulnerable) }},
	{key: "severity", field: "SeverityThreshold", parse: metadataSeverity, reset: "critical",
		read: func(p *ent.Project) string { return strings.ToLower(string(p.SeverityThreshold)) }},
	{key: "reuse_sys_cve_allowlist", reset: "true",
		parse: metadataFixed("reuse_sys_cve_allowlist", "true", "Berth always applies the system CVE allowlist; a project's own allowlist adds to it"),
		read:  func(*ent.Project) string { return "true" }},
	{key: "enable_content_trust", reset: "false",
		parse: metadataFixed("enable_content_trust", "false", "Notary v1 content trust is not part of Berth (Harbor 2.6 deprecated it)"),
		read:  func(*ent.Project) string { return "false" }},
	// Harbor checks only that a cosign signature exists; Berth requires one that verifies against
	// the project's trusted keys (docs/security.md, Signatures).
	{key: "enable_content_trust_cosign", field: "RequireVerifiedSignature", parse: metadataBool("enable_content_trust_cosign"), reset: "false",
		read: func(p *ent.Project) string { return strconv.FormatBool(p.RequireVerifiedSignature) }},
}

func metadataBool(key string) func(string) (any, error) {
	return func(v string) (any, error) {
		switch v {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fault.BadInput("metadata %s must be \"true\" or \"false\", not %.40q", key, v)
	}
}

func metadataSeverity(v string) (any, error) {
	s := entproject.SeverityThreshold(strings.ToUpper(v))
	if entproject.SeverityThresholdValidator(s) != nil {
		return nil, fault.BadInput("metadata severity must be low, medium, high or critical, not %.40q (Berth has no \"none\" threshold)", v)
	}
	return s, nil
}

// metadataFixed accepts only want: the value that says what Berth always does.
func metadataFixed(key, want, why string) func(string) (any, error) {
	return func(v string) (any, error) {
		if v != want {
			return nil, fault.BadInput("metadata %s can only be %q: %s", key, want, why)
		}
		return nil, nil
	}
}

func metadataRow(key string) (metadataKey, error) {
	i := slices.IndexFunc(projectMetadata, func(m metadataKey) bool { return m.key == key })
	if i < 0 {
		keys := make([]string, len(projectMetadata))
		for j, m := range projectMetadata {
			keys[j] = m.key
		}
		return metadataKey{}, fault.BadInput("project metadata %.60q is not supported: Berth supports %s", key, strings.Join(keys, ", "))
	}
	return projectMetadata[i], nil
}

// applyMetadata sets the fields of input (a *ent.CreateProjectInput or *ent.UpdateProjectInput)
// that meta names, in key order; any unknown key or bad value refuses the whole map.
func applyMetadata(meta map[string]string, input any) error {
	v := reflect.ValueOf(input).Elem()
	for _, key := range slices.Sorted(maps.Keys(meta)) {
		row, err := metadataRow(key)
		if err != nil {
			return err
		}
		val, err := row.parse(meta[key])
		if err != nil || val == nil {
			if err != nil {
				return err
			}
			continue
		}
		f := v.FieldByName(row.field)
		ptr := reflect.New(f.Type().Elem())
		ptr.Elem().Set(reflect.ValueOf(val))
		f.Set(ptr)
	}
	return nil
}

func projectMetadataOf(p *ent.Project) map[string]string {
	out := make(map[string]string, len(projectMetadata))
	for _, m := range projectMetadata {
		out[m.key] = m.read(p)
	}
	return out
}

// harborAllowlist is Harbor's CVEAllowlist. Berth's allowlists never expire; the ids and times a
// client read and sends back are accepted and ignored (they are not settings).
type harborAllowlist struct {
	ID           int                   `json:"id,omitempty"`
	ProjectID    int                   `json:"project_id"`
	ExpiresAt    *int64                `json:"expires_at"`
	Items        []harborAllowlistItem `json:"items"`
	CreationTime *time.Time            `json:"creation_time,omitempty"`
	UpdateTime   *time.Time            `json:"update_time,omitempty"`
}

type harborAllowlistItem struct {
	CveID string `json:"cve_id"`
}

func (a *harborAllowlist) ids() ([]string, error) {
	if a.ExpiresAt != nil && *a.ExpiresAt != 0 {
		return nil, fault.BadInput("cve_allowlist.expires_at is not supported: Berth's allowlists do not expire")
	}
	out := make([]string, 0, len(a.Items))
	for _, it := range a.Items {
		out = append(out, it.CveID)
	}
	return out, nil
}

// harborProjectReq is Harbor's ProjectReq.
type harborProjectReq struct {
	ProjectName  string            `json:"project_name"`
	Public       *bool             `json:"public"`
	Metadata     map[string]string `json:"metadata"`
	CVEAllowlist *harborAllowlist  `json:"cve_allowlist"`
	// StorageLimit is the project's quota in bytes (-1: unlimited); setting it takes quota:update
	// (system administrators), as in Harbor.
	StorageLimit *int64 `json:"storage_limit"`
	// RegistryID makes a proxy-cache project of the endpoint it names (0 or absent: none).
	RegistryID *int `json:"registry_id"`
}

// settings applies the request's settings to input (*ent.CreateProjectInput or
// *ent.UpdateProjectInput) and returns the allowlist it sets, if any.
func (b *harborProjectReq) settings(input any) ([]string, error) {
	meta := maps.Clone(b.Metadata)
	if b.Public != nil {
		if v, ok := meta["public"]; ok && v != strconv.FormatBool(*b.Public) {
			return nil, fault.BadInput("public is %t but metadata.public is %.10q: send one", *b.Public, v)
		}
		if meta == nil {
			meta = map[string]string{}
		}
		meta["public"] = strconv.FormatBool(*b.Public)
	}
	if err := applyMetadata(meta, input); err != nil {
		return nil, err
	}
	if b.CVEAllowlist == nil {
		return nil, nil
	}
	return b.CVEAllowlist.ids()
}

type harborProject struct {
	ProjectID int    `json:"project_id"`
	Name      string `json:"name"`
	// RegistryID names the endpoint a proxy-cache project pulls through (Harbor's field): other
	// registries read it to never replicate into one.
	RegistryID         *int              `json:"registry_id,omitempty"`
	CreationTime       time.Time         `json:"creation_time"`
	UpdateTime         time.Time         `json:"update_time"`
	Deleted            bool              `json:"deleted"`
	CurrentUserRoleID  int               `json:"current_user_role_id"`
	CurrentUserRoleIDs []int             `json:"current_user_role_ids"`
	RepoCount          int               `json:"repo_count"`
	OwnerID            int               `json:"owner_id"`
	OwnerName          string            `json:"owner_name"`
	ChartCount         int               `json:"chart_count"`
	Metadata           map[string]string `json:"metadata"`
	CVEAllowlist       harborAllowlist   `json:"cve_allowlist"`
}

// harborRoleIDs are Harbor's role ids and names.
var harborRoleIDs = map[entmember.Role]int{
	entmember.RoleProjectAdmin: 1, entmember.RoleDeveloper: 2, entmember.RoleGuest: 3,
	entmember.RoleMaintainer: 4, entmember.RoleLimitedGuest: 5,
}

var harborRoleNames = map[entmember.Role]string{
	entmember.RoleProjectAdmin: "projectAdmin", entmember.RoleDeveloper: "developer", entmember.RoleGuest: "guest",
	entmember.RoleMaintainer: "maintainer", entmember.RoleLimitedGuest: "limitedGuest",
}

func roleOfHarborID(id int) (entmember.Role, error) {
	for role, n := range harborRoleIDs {
		if n == id {
			return role, nil
		}
	}
	return "", fault.BadInput("role_id %d is not a role: 1 project admin, 2 developer, 3 guest, 4 maintainer, 5 limited guest", id)
}

// toHarborProject is Harbor's Project; owner is project.Service.Owners's answer (nil: none left).
func toHarborProject(p *ent.Project, repos int, role *entmember.Role, owner *ent.User) harborProject {
	items := make([]harborAllowlistItem, len(p.CveAllowlist))
	for i, id := range p.CveAllowlist {
		items[i] = harborAllowlistItem{CveID: id}
	}
	out := harborProject{
		ProjectID: p.ID, Name: p.Name, RepoCount: repos, RegistryID: p.ProxyRegistryID, CreationTime: p.CreatedAt,
		UpdateTime: p.UpdatedAt, Metadata: projectMetadataOf(p), CurrentUserRoleIDs: []int{},
		CVEAllowlist: harborAllowlist{ProjectID: p.ID, Items: items, CreationTime: &p.CreatedAt, UpdateTime: &p.UpdatedAt},
	}
	if owner != nil {
		out.OwnerID, out.OwnerName = owner.ID, owner.Username
	}
	if role != nil {
		out.CurrentUserRoleID = harborRoleIDs[*role]
		out.CurrentUserRoleIDs = []int{out.CurrentUserRoleID}
	}
	return out
}

// projectRef is the project named in the path: by name or, when it is a number, by id (unless
// the client says it is a name, as Harbor's X-Is-Resource-Name does).
func projectRef(r *http.Request) project.Ref {
	return project.ParseRef(r.PathValue("project"), r.Header.Get("X-Is-Resource-Name") == "true")
}

// projectRefFrom is a project named by id or name outside the path (a scope, a query).
func projectRefFrom(s string) project.Ref {
	return project.ParseRef(s, false)
}

// headProject answers whether a project of the name exists (that the caller may see): 200 or 404,
// which "create it if missing" scripts rely on.
func (h *rest) headProject(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("project_name")
	if name == "" {
		h.fail(w, fault.BadInput("project_name is required"))
		return
	}
	if _, err := h.projects.Find(r.Context(), project.Ref{Name: name}); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) listProjects(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	q, ok := h.listQuery(w, r, "name", "public", "owner")
	if !ok {
		return
	}
	opts := project.ListOptions{NameContains: r.URL.Query().Get("name"), Owner: r.URL.Query().Get("owner"), Page: pg}
	if _, err := boolParam(r, "with_detail", true); err != nil {
		h.fail(w, err)
		return
	}
	if v := r.URL.Query().Get("public"); v != "" {
		b, err := boolParam(r, "public", false)
		if err != nil {
			h.fail(w, err)
			return
		}
		opts.Public = &b
	}
	if err := projectQuery(q, &opts); err != nil {
		h.fail(w, err)
		return
	}
	projects, total, err := h.projects.List(r.Context(), opts)
	if err != nil {
		h.fail(w, err)
		return
	}
	ids := make([]int, len(projects))
	for i, p := range projects {
		ids[i] = p.ID
	}
	roles, err := h.projects.Roles(r.Context(), ids)
	var owners []*ent.User
	if err == nil {
		owners, err = h.projects.Owners(r.Context(), listedProjects(projects))
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]harborProject, len(projects))
	for i, p := range projects {
		out[i] = toHarborProject(p.Project, p.Repositories, roles[i], owners[i])
	}
	writeList(w, r, total, out)
}

// projectQuery reads q's name (exact or fuzzy), public and owner into opts.
func projectQuery(q harborq.Query, opts *project.ListOptions) error {
	for _, t := range q.Terms {
		kinds := []harborq.Kind{harborq.Exact}
		if t.Key == "name" {
			kinds = append(kinds, harborq.Fuzzy)
		}
		if err := t.Kinds(kinds...); err != nil {
			return err
		}
		switch t.Key {
		case "name":
			if t.Kind == harborq.Fuzzy {
				opts.NameContains = t.Value
			} else {
				opts.Name = t.Value
			}
		case "owner":
			opts.Owner = t.Value
		case "public":
			b, err := strconv.ParseBool(t.Value)
			if err != nil {
				return fault.BadInput("q public must be true or false")
			}
			opts.Public = &b
		}
	}
	return nil
}

func (h *rest) createProject(w http.ResponseWriter, r *http.Request) {
	var body harborProjectReq
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	input := ent.CreateProjectInput{Name: body.ProjectName}
	allowlist, err := body.settings(&input)
	if err != nil {
		h.fail(w, err)
		return
	}
	input.CveAllowlist = allowlist
	if body.RegistryID != nil && *body.RegistryID != 0 {
		input.ProxyRegistryID = body.RegistryID
	}
	p, err := h.projects.Create(r.Context(), input)
	if err != nil {
		h.fail(w, err)
		return
	}
	if body.StorageLimit != nil {
		// A limit the caller may not set takes the project back: the request does all or nothing.
		if _, err := h.quotas.SetLimit(r.Context(), p.ID, *body.StorageLimit); err != nil {
			if derr := h.projects.Delete(r.Context(), p.ID); derr != nil {
				h.log.Error("take back a project whose storage_limit was refused", "project", p.Name, "err", derr)
			}
			h.fail(w, err)
			return
		}
	}
	location := "/api/v2.0/projects/" + strconv.Itoa(p.ID)
	if r.Header.Get("X-Resource-Name-In-Location") == "true" {
		location = "/api/v2.0/projects/" + p.Name
	}
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusCreated)
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
	roles, err := h.projects.Roles(r.Context(), []int{p.ID})
	var owners []*ent.User
	if err == nil {
		owners, err = h.projects.Owners(r.Context(), []*ent.Project{p})
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborProject(p, n[0], roles[0], owners[0]))
}

// updateProject changes the settings a ProjectReq names; the others stay as they are.
func (h *rest) updateProject(w http.ResponseWriter, r *http.Request) {
	var body harborProjectReq
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	if body.ProjectName != "" && body.ProjectName != p.Name {
		h.fail(w, fault.BadInput("a project cannot be renamed (project_name %q, project %q)", body.ProjectName, p.Name))
		return
	}
	if body.RegistryID != nil && *body.RegistryID != 0 && (p.ProxyRegistryID == nil || *p.ProxyRegistryID != *body.RegistryID) {
		h.fail(w, fault.BadInput("registry_id cannot be changed: a proxy-cache project is made so when it is created"))
		return
	}
	var input ent.UpdateProjectInput
	allowlist, err := body.settings(&input)
	if err != nil {
		h.fail(w, err)
		return
	}
	if body.StorageLimit != nil {
		if _, err := h.quotas.SetLimit(r.Context(), p.ID, *body.StorageLimit); err != nil {
			h.fail(w, err)
			return
		}
	}
	if body.CVEAllowlist != nil {
		input.CveAllowlist, input.ClearCveAllowlist = allowlist, len(allowlist) == 0
	}
	h.updated(w, r, p.ID, input)
}

func (h *rest) updated(w http.ResponseWriter, r *http.Request, id int, input ent.UpdateProjectInput) {
	if _, err := h.projects.Update(r.Context(), id, input); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
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

func (h *rest) projectDeletable(w http.ResponseWriter, r *http.Request) {
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	ok, why, err := h.projects.Deletable(r.Context(), p.ID)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deletable": ok, "message": why})
}

// projectSummary answers Harbor's ProjectSummary: repositories and, for a caller who may read
// them, members by role.
func (h *rest) projectSummary(w http.ResponseWriter, r *http.Request) {
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
	out := map[string]any{"repo_count": n[0], "chart_count": 0}
	members, err := h.members.List(r.Context(), p)
	if err == nil {
		counts := map[entmember.Role]int{}
		for _, m := range members {
			counts[m.Role]++
		}
		out["project_admin_count"] = counts[entmember.RoleProjectAdmin]
		out["maintainer_count"] = counts[entmember.RoleMaintainer]
		out["developer_count"] = counts[entmember.RoleDeveloper]
		out["guest_count"] = counts[entmember.RoleGuest]
		out["limited_guest_count"] = counts[entmember.RoleLimitedGuest]
	} else if !errors.Is(err, auth.ErrForbidden) {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *rest) listProjectMetadata(w http.ResponseWriter, r *http.Request) {
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, projectMetadataOf(p))
}

func (h *rest) getProjectMetadata(w http.ResponseWriter, r *http.Request) {
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	row, err := metadataRow(r.PathValue("meta"))
	if err != nil {
		h.fail(w, fault.NotFound(fmt.Sprintf("metadata %.60q", r.PathValue("meta"))))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{row.key: row.read(p)})
}

// setMetadata applies meta to the project in the path.
func (h *rest) setMetadata(w http.ResponseWriter, r *http.Request, meta map[string]string) {
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	var input ent.UpdateProjectInput
	if err := applyMetadata(meta, &input); err != nil {
		h.fail(w, err)
		return
	}
	h.updated(w, r, p.ID, input)
}

func (h *rest) addProjectMetadata(w http.ResponseWriter, r *http.Request) {
	var meta map[string]string
	if err := readBody(w, r, &meta); err != nil {
		h.fail(w, err)
		return
	}
	h.setMetadata(w, r, meta)
}

func (h *rest) updateProjectMetadata(w http.ResponseWriter, r *http.Request) {
	var meta map[string]string
	if err := readBody(w, r, &meta); err != nil {
		h.fail(w, err)
		return
	}
	key := r.PathValue("meta")
	if _, ok := meta[key]; !ok || len(meta) != 1 {
		h.fail(w, fault.BadInput("the body must be {%q: value}", key))
		return
	}
	h.setMetadata(w, r, meta)
}

func (h *rest) deleteProjectMetadata(w http.ResponseWriter, r *http.Request) {
	row, err := metadataRow(r.PathValue("meta"))
	if err != nil {
		h.fail(w, err)
		return
	}
	h.setMetadata(w, r, map[string]string{row.key: row.reset})
}

// Members (ProjectMemberEntity): users only; Berth has no user groups.

func toHarborMember(m *ent.Member) map[string]any {
	name := ""
	if m.Edges.User != nil {
		name = m.Edges.User.Username
	}
	return map[string]any{"id": m.ID, "project_id": m.ProjectID, "entity_name": name, "entity_id": m.UserID,
		"entity_type": "u", "role_id": harborRoleIDs[m.Role], "role_name": harborRoleNames[m.Role]}
}

// projectMembers loads the project in the path and its members.
func (h *rest) projectMembers(r *http.Request) (*ent.Project, []*ent.Member, error) {
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		return nil, nil, err
	}
	ms, err := h.members.List(r.Context(), p)
	return p, ms, err
}

func (h *rest) listMembers(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	_, ms, err := h.projectMembers(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	if name := r.URL.Query().Get("entityname"); name != "" {
		ms = slices.DeleteFunc(ms, func(m *ent.Member) bool {
			return m.Edges.User == nil || !strings.Contains(m.Edges.User.Username, name)
		})
	}
	total := len(ms)
	ms = ms[min(pg.Offset, total):min(pg.Offset+pg.Limit, total)]
	out := make([]map[string]any, len(ms))
	for i, m := range ms {
		out[i] = toHarborMember(m)
	}
	writeList(w, r, total, out)
}

// member is the member of the project in the path that {mid} names.
func (h *rest) member(r *http.Request) (*ent.Member, error) {
	id, err := pathID(r, "mid")
	if err != nil {
		return nil, err
	}
	p, ms, err := h.projectMembers(r)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(ms, func(m *ent.Member) bool { return m.ID == id })
	if i < 0 {
		return nil, fault.NotFound(fmt.Sprintf("member %d of project %s", id, p.Name))
	}
	return ms[i], nil
}

func (h *rest) getMember(w http.ResponseWriter, r *http.Request) {
	m, err := h.member(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborMember(m))
}

func (h *rest) addMember(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RoleID     int `json:"role_id"`
		MemberUser *struct {
			UserID   int    `json:"user_id"`
			Username string `json:"username"`
		} `json:"member_user"`
		MemberGroup any `json:"member_group"`
	}
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	role, err := roleOfHarborID(body.RoleID)
	switch {
	case err != nil:
	case body.MemberGroup != nil:
		err = fault.BadInput("member_group is not supported: Berth has no user groups")
	case body.MemberUser == nil || (body.MemberUser.Username == "" && body.MemberUser.UserID == 0):
		err = fault.BadInput("member_user with a username or user_id is required")
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	var m *ent.Member
	if body.MemberUser.Username != "" {
		m, err = h.members.Add(r.Context(), p.ID, body.MemberUser.Username, role)
	} else {
		m, err = h.members.AddUserID(r.Context(), p.ID, body.MemberUser.UserID, role)
	}
	h.created(w, err, func() string { return fmt.Sprintf("/api/v2.0/projects/%d/members/%d", p.ID, m.ID) })
}

func (h *rest) updateMember(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RoleID int `json:"role_id"`
	}
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	role, err := roleOfHarborID(body.RoleID)
	var m *ent.Member
	if err == nil {
		m, err = h.member(r)
	}
	if err == nil {
		_, err = h.members.Update(r.Context(), m.ID, role)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) removeMember(w http.ResponseWriter, r *http.Request) {
	m, err := h.member(r)
	if err == nil {
		err = h.members.Remove(r.Context(), m.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// listedProjects are the projects of a listed page.
func listedProjects(listed []project.Listed) []*ent.Project {
	out := make([]*ent.Project, len(listed))
	for i, l := range listed {
		out[i] = l.Project
	}
	return out
}
