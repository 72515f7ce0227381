package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/artifact"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/server/harborq"
	"github.com/berth-registry/berth/worker/scan"
)

// Harbor's repository, artifact, tag and artifact-label endpoints, over the artifact, label and
// scan services.

func (h *rest) artifactRoutes() {
	const repo = "/api/v2.0/projects/{project}/repositories/{repo}"
	const art = repo + "/artifacts/{reference}"
	h.mux.HandleFunc("GET /api/v2.0/repositories", h.listAllRepositories)
	h.mux.HandleFunc("GET /api/v2.0/projects/{project}/repositories", h.listRepositories)
	h.mux.HandleFunc("GET "+repo, h.getRepository)
	h.mux.HandleFunc("PUT "+repo, h.updateRepository)
	h.mux.HandleFunc("DELETE "+repo, h.deleteRepository)
	h.mux.HandleFunc("GET "+repo+"/artifacts", h.listArtifacts)
	h.mux.HandleFunc("GET "+art, h.getArtifact)
	h.mux.HandleFunc("DELETE "+art, h.deleteArtifact)
	h.mux.HandleFunc("GET "+art+"/tags", h.listTags)
	h.mux.HandleFunc("POST "+art+"/tags", h.createTag)
	h.mux.HandleFunc("DELETE "+art+"/tags/{tag}", h.deleteTag)
	h.mux.HandleFunc("POST "+art+"/labels", h.addArtifactLabel)
	h.mux.HandleFunc("DELETE "+art+"/labels/{label}", h.removeArtifactLabel)
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

func toHarborRepository(repo *ent.Repository, artifacts int) map[string]any {
	return map[string]any{"id": repo.ID, "name": repo.Name, "project_id": repo.ProjectID, "description": repo.Description,
		"artifact_count": artifacts, "pull_count": repo.PullCount,
		"creation_time": repo.CreatedAt, "update_time": repo.UpdatedAt}
}

// repositoryFilter reads q's name (exact or fuzzy).
func repositoryFilter(q harborq.Query) (artifact.RepositoryFilter, error) {
	var f artifact.RepositoryFilter
	if t, ok := q.Get("name"); ok {
		if err := t.Kinds(harborq.Exact, harborq.Fuzzy); err != nil {
			return f, err
		}
		if t.Kind == harborq.Fuzzy {
			f.NameContains = t.Value
		} else {
			f.Name = t.Value
		}
	}
	return f, nil
}

func (h *rest) listAllRepositories(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	q, ok := h.listQuery(w, r, "name")
	if !ok {
		return
	}
	f, err := repositoryFilter(q)
	if err != nil {
		h.fail(w, err)
		return
	}
	repos, total, err := h.artifacts.ListAllRepositories(r.Context(), f, pg)
	h.repositoryList(w, r, repos, total, err)
}

func (h *rest) listRepositories(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	q, ok := h.listQuery(w, r, "name")
	if !ok {
		return
	}
	f, err := repositoryFilter(q)
	if err != nil {
		h.fail(w, err)
		return
	}
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	f.ProjectID = p.ID
	if f.Name != "" && !strings.HasPrefix(f.Name, p.Name+"/") {
		f.Name = p.Name + "/" + f.Name // Harbor's clients name a repository with or without its project
	}
	repos, total, err := h.artifacts.ListAllRepositories(r.Context(), f, pg)
	h.repositoryList(w, r, repos, total, err)
}

func (h *rest) repositoryList(w http.ResponseWriter, r *http.Request, repos []artifact.ListedRepository, total int, err error) {
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]map[string]any, len(repos))
	for i, repo := range repos {
		out[i] = toHarborRepository(repo.Repository, repo.Artifacts)
	}
	writeList(w, r, total, out)
}

func (h *rest) getRepository(w http.ResponseWriter, r *http.Request) {
	repo, err := h.artifacts.RepositoryByName(r.Context(), repositoryName(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	n, err := h.artifacts.ArtifactCount(r.Context(), repo)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborRepository(repo, n))
}

// updateRepository is Harbor's description update (artifact.Service.SetRepositoryDescription).
func (h *rest) updateRepository(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Description   string `json:"description"`
		ID            any    `json:"id"`
		Name          any    `json:"name"`
		ProjectID     any    `json:"project_id"`
		ArtifactCount any    `json:"artifact_count"`
		PullCount     any    `json:"pull_count"`
		CreationTime  any    `json:"creation_time"`
		UpdateTime    any    `json:"update_time"`
	}
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	repo, err := h.artifacts.RepositoryByName(r.Context(), repositoryName(r))
	if err == nil {
		_, err = h.artifacts.SetRepositoryDescription(r.Context(), repo.ID, body.Description)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) deleteRepository(w http.ResponseWriter, r *http.Request) {
	repo, err := h.artifacts.RepositoryByName(r.Context(), repositoryName(r))
	if err == nil {
		err = h.artifacts.DeleteRepository(r.Context(), repo.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// artifactOptions are the with_* switches of Harbor's artifact answers.
type artifactOptions struct {
	tags, labels, scanOverview, accessories, signature, immutable bool
	// reportType keys scan_overview: the first type X-Accept-Vulnerabilities names that Berth
	// produces (its summaries are the same in both).
	reportType string
}

// harborReportTypes are the report types Harbor's clients ask overviews for.
var harborReportTypes = []string{"application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0", scan.ReportMimeType}

func readArtifactOptions(r *http.Request) (artifactOptions, error) {
	var o artifactOptions
	var err error
	for _, sw := range []struct {
		name string
		def  bool
		into *bool
	}{{"with_tag", true, &o.tags}, {"with_label", false, &o.labels}, {"with_scan_overview", false, &o.scanOverview},
		{"with_accessory", false, &o.accessories}, {"with_signature", false, &o.signature}, {"with_immutable_status", false, &o.immutable}} {
		if *sw.into, err = boolParam(r, sw.name, sw.def); err != nil {
			return o, err
		}
	}
	o.reportType = harborReportTypes[0]
	for _, t := range strings.Split(r.Header.Get("X-Accept-Vulnerabilities"), ",") {
		if i := slices.Index(harborReportTypes, strings.TrimSpace(t)); i >= 0 {
			o.reportType = harborReportTypes[i]
			break
		}
	}
	return o, nil
}

// harborArtifactType is Harbor's type of an artifact, from its config or artifact type.
func harborArtifactType(a *ent.Artifact) string {
	switch t := a.ArtifactType; {
	case t == "application/vnd.cncf.helm.config.v1+json":
		return "CHART"
	case strings.HasPrefix(t, "application/vnd.cnab"):
		return "CNAB"
	case t == "" || t == "application/vnd.docker.container.image.v1+json" || t == "application/vnd.oci.image.config.v1+json":
		return "IMAGE"
	case t == "application/vnd.dev.cosign.artifact.sig.v1+json":
		return "SIGNATURE"
	}
	return "UNKNOWN"
}

func toHarborTag(t *ent.Tag, artifactID int, signed, immutable bool) map[string]any {
	return map[string]any{"id": t.ID, "repository_id": t.RepositoryID, "artifact_id": artifactID, "name": t.Name,
		"push_time": t.PushTime, "pull_time": t.PullTime, "immutable": immutable, "signed": signed}
}

// tagsProtected is, per tag id, whether an immutability rule protects it (one query for the page).
func (h *rest) tagsProtected(ctx context.Context, repo string, tags []*ent.Tag) (map[int]bool, error) {
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = t.Name
	}
	protected, err := h.tagRules.Protected(ctx, repo, names)
	if err != nil {
		return nil, err
	}
	out := make(map[int]bool, len(tags))
	for i, t := range tags {
		out[t.ID] = protected[i]
	}
	return out, nil
}

func toHarborLabel(l *ent.Label) map[string]any {
	scope, projectID := "g", 0
	if l.ProjectID != nil {
		scope, projectID = "p", *l.ProjectID
	}
	return map[string]any{"id": l.ID, "name": l.Name, "description": l.Description, "color": l.Color,
		"scope": scope, "project_id": projectID, "creation_time": l.CreatedAt, "update_time": l.CreatedAt}
}

// harborScanStatus is Harbor's spelling of an overview's status.
var harborScanStatus = map[scanreport.Status]string{
	scanreport.StatusPending: "Pending", scanreport.StatusRunning: "Running", scanreport.StatusSuccess: "Success",
	scanreport.StatusError: "Error", scanreport.StatusStopped: "Stopped",
}

// toHarborOverview is Harbor's NativeReportSummary of an overview.
func toHarborOverview(o *scan.Overview) map[string]any {
	end := time.Now()
	if o.FinishedAt != nil {
		end = *o.FinishedAt
	}
	out := map[string]any{
		"scan_status": harborScanStatus[o.Status], "severity": harborSeverity(string(o.Severity)),
		"duration": int64(end.Sub(o.StartedAt).Seconds()), "start_time": o.StartedAt, "end_time": o.FinishedAt,
		"complete_percent": 0,
		"summary": map[string]any{"total": o.Total, "fixable": o.Fixable, "summary": map[string]int{
			"Critical": o.Summary.Critical, "High": o.Summary.High, "Medium": o.Summary.Medium,
			"Low": o.Summary.Low, "None": o.Summary.None, "Unknown": o.Summary.Unknown}},
	}
	if o.Status == scanreport.StatusSuccess {
		out["complete_percent"] = 100
	}
	if len(o.Reports) > 0 {
		out["report_id"] = strconv.Itoa(o.Reports[0].ID)
	}
	if o.Scanner != nil {
		out["scanner"] = map[string]string{"name": o.Scanner.Name, "vendor": o.Scanner.Vendor, "version": o.Scanner.Version}
	}
	return out
}

// harborArtifacts shapes a page of artifacts (tags and labels loaded), asking the services for
// what the switches add.
func (h *rest) harborArtifacts(r *http.Request, repo string, arts []*ent.Artifact, o artifactOptions) ([]map[string]any, error) {
	ctx := r.Context()
	var tagSigned map[int]bool // tag id → signed
	if o.tags && o.signature {
		subjects := make([]artifact.Subject, len(arts))
		for i, a := range arts {
			subjects[i] = artifact.Subject{RepositoryID: a.RepositoryID, Digest: a.Digest}
		}
		signed, err := h.artifacts.Signed(ctx, subjects)
		if err != nil {
			return nil, err
		}
		tagSigned = map[int]bool{}
		for i, a := range arts {
			for _, t := range a.Edges.Tags {
				tagSigned[t.ID] = signed[i]
			}
		}
	}
	var accessories [][]*ent.Accessory
	if o.accessories {
		var err error
		if accessories, err = h.artifacts.AccessoryLinks(ctx, arts); err != nil {
			return nil, err
		}
	}
	var immutable map[int]bool // tag id → protected by an immutability rule
	if o.tags && o.immutable {
		var all []*ent.Tag
		for _, a := range arts {
			all = append(all, a.Edges.Tags...)
		}
		var err error
		if immutable, err = h.tagsProtected(ctx, repo, all); err != nil {
			return nil, err
		}
	}
	var overviews []*scan.Overview
	if o.scanOverview && len(arts) > 0 {
		ids := make([]int, len(arts))
		for i, a := range arts {
			ids[i] = a.ID
		}
		var errs []error
		overviews, errs = h.scans.Overviews(ctx, ids)
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
	}
	projectID := 0
	if len(arts) > 0 {
		p, err := h.projects.Find(ctx, projectRefOf(repo))
		if err != nil {
			return nil, err
		}
		projectID = p.ID
	}
	out := make([]map[string]any, len(arts))
	for i, a := range arts {
		mediaType := a.ArtifactType
		if mediaType == "" {
			mediaType = a.MediaType
		}
		ref := url.PathEscape(a.Digest)
		m := map[string]any{"id": a.ID, "type": harborArtifactType(a), "digest": a.Digest, "size": a.Size,
			"media_type": mediaType, "manifest_media_type": a.MediaType, "project_id": projectID,
			"repository_id": a.RepositoryID, "push_time": a.PushTime, "pull_time": a.PullTime, "icon": "",
			"annotations": a.Annotations, "extra_attrs": map[string]any{}, "references": []any{},
			"addition_links": map[string]any{"vulnerabilities": map[string]any{"absolute": false,
				"href": "/api/v2.0/projects/" + repoPath(repo) + "/artifacts/" + ref + "/additions/vulnerabilities"}},
		}
		if o.tags {
			tags := make([]map[string]any, len(a.Edges.Tags))
			for j, t := range a.Edges.Tags {
				tags[j] = toHarborTag(t, a.ID, tagSigned[t.ID], immutable[t.ID])
			}
			m["tags"] = tags
		}
		if o.labels {
			labels := make([]map[string]any, len(a.Edges.Labels))
			for j, l := range a.Edges.Labels {
				labels[j] = toHarborLabel(l)
			}
			m["labels"] = labels
		}
		if o.scanOverview {
			overview := map[string]any{}
			if ov := overviews[i]; ov != nil {
				overview[o.reportType] = toHarborOverview(ov)
			}
			m["scan_overview"] = overview
		}
		if o.accessories {
			acc := make([]map[string]any, 0, len(accessories[i]))
			for _, l := range accessories[i] {
				if l.Edges.Artifact == nil {
					continue
				}
				acc = append(acc, toHarborAccessory(a, l))
			}
			m["accessories"] = acc
		}
		out[i] = m
	}
	return out, nil
}

// projectRefOf is the project of a full repository name.
func projectRefOf(repo string) project.Ref {
	name, _, _ := strings.Cut(repo, "/")
	return project.Ref{Name: name}
}

// repoPath is a full repository name as Harbor's paths spell it: project, then the rest escaped
// twice.
func repoPath(repo string) string {
	p, rest, _ := strings.Cut(repo, "/")
	return p + "/repositories/" + url.PathEscape(url.PathEscape(rest))
}

func (h *rest) listArtifacts(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	q, ok := h.listQuery(w, r, "tags", "labels")
	if !ok {
		return
	}
	f, err := artifactFilter(q)
	if err != nil {
		h.fail(w, err)
		return
	}
	o, err := readArtifactOptions(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	arts, total, err := h.artifacts.ListArtifacts(r.Context(), repositoryName(r), pg, f)
	var out []map[string]any
	if err == nil {
		out, err = h.harborArtifacts(r, repositoryName(r), arts, o)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeList(w, r, total, out)
}

// artifactFilter reads Harbor's artifact q: tags=* (tagged), tags=nil (untagged), tags=v,
// tags=~v, and labels=(id1 id2) (carrying all of them; labels=id for one).
func artifactFilter(q harborq.Query) (artifact.ArtifactFilter, error) {
	var f artifact.ArtifactFilter
	if t, ok := q.Get("tags"); ok {
		if err := t.Kinds(harborq.Exact, harborq.Fuzzy); err != nil {
			return f, err
		}
		switch {
		case t.Kind == harborq.Fuzzy:
			f.TagContains = t.Value
		case t.Value == "*":
			f.Tagged = new(true)
		case t.Value == "nil":
			f.Tagged = new(false)
		default:
			f.Tag = t.Value
		}
	}
	if t, ok := q.Get("labels"); ok {
		if err := t.Kinds(harborq.Exact, harborq.Intersection); err != nil {
			return f, err
		}
		vals := t.Values
		if t.Kind == harborq.Exact {
			vals = []string{t.Value}
		}
		for _, v := range vals {
			id, err := strconv.Atoi(strings.TrimSuffix(v, ","))
			if err != nil || id < 1 {
				return f, fault.BadInput("q labels: %.20q is not a label id", v)
			}
			f.LabelIDs = append(f.LabelIDs, id)
		}
	}
	return f, nil
}

// artifactWithEdges loads the artifact the path names, with its tags and labels.
func (h *rest) artifactWithEdges(r *http.Request) (*ent.Artifact, error) {
	a, err := h.artifactOf(r)
	if err != nil {
		return nil, err
	}
	if a.Edges.Tags, err = a.QueryTags().All(r.Context()); err != nil {
		return nil, fmt.Errorf("tags of artifact %d: %w", a.ID, err)
	}
	if a.Edges.Labels, err = a.QueryLabels().All(r.Context()); err != nil {
		return nil, fmt.Errorf("labels of artifact %d: %w", a.ID, err)
	}
	return a, nil
}

func (h *rest) getArtifact(w http.ResponseWriter, r *http.Request) {
	o, err := readArtifactOptions(r)
	var a *ent.Artifact
	if err == nil {
		a, err = h.artifactWithEdges(r)
	}
	var out []map[string]any
	if err == nil {
		out, err = h.harborArtifacts(r, repositoryName(r), []*ent.Artifact{a}, o)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out[0])
}

func (h *rest) deleteArtifact(w http.ResponseWriter, r *http.Request) {
	a, err := h.artifactOf(r)
	if err == nil {
		err = h.artifacts.Delete(r.Context(), a.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) listTags(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	q, ok := h.listQuery(w, r, "name")
	if !ok {
		return
	}
	withSignature, err := boolParam(r, "with_signature", false)
	withImmutable := false
	if err == nil {
		withImmutable, err = boolParam(r, "with_immutable_status", false)
	}
	var a *ent.Artifact
	if err == nil {
		a, err = h.artifactWithEdges(r)
	}
	signed := []bool{false}
	if err == nil && withSignature {
		signed, err = h.artifacts.Signed(r.Context(), []artifact.Subject{{RepositoryID: a.RepositoryID, Digest: a.Digest}})
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	tags := a.Edges.Tags
	if t, ok := q.Get("name"); ok {
		if err := t.Kinds(harborq.Exact, harborq.Fuzzy); err != nil {
			h.fail(w, err)
			return
		}
		tags = slices.DeleteFunc(tags, func(tag *ent.Tag) bool {
			return t.Kind == harborq.Exact && tag.Name != t.Value || t.Kind == harborq.Fuzzy && !strings.Contains(tag.Name, t.Value)
		})
	}
	slices.SortFunc(tags, func(a, b *ent.Tag) int { return strings.Compare(a.Name, b.Name) })
	total := len(tags)
	tags = tags[min(pg.Offset, total):min(pg.Offset+pg.Limit, total)]
	var immutable map[int]bool
	if withImmutable {
		if immutable, err = h.tagsProtected(r.Context(), repositoryName(r), tags); err != nil {
			h.fail(w, err)
			return
		}
	}
	out := make([]map[string]any, len(tags))
	for i, t := range tags {
		out[i] = toHarborTag(t, a.ID, signed[0], immutable[t.ID])
	}
	writeList(w, r, total, out)
}

func (h *rest) createTag(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name         string `json:"name"`
		ID           any    `json:"id"`
		RepositoryID any    `json:"repository_id"`
		ArtifactID   any    `json:"artifact_id"`
		PushTime     any    `json:"push_time"`
		PullTime     any    `json:"pull_time"`
		Immutable    any    `json:"immutable"`
		Signed       any    `json:"signed"`
	}
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	a, err := h.artifactWithEdges(r)
	if err == nil && slices.ContainsFunc(a.Edges.Tags, func(t *ent.Tag) bool { return t.Name == body.Name }) {
		err = fault.Conflict("tag %q is already on this artifact", body.Name)
	}
	if err == nil {
		_, err = h.artifacts.CreateTag(r.Context(), a.ID, body.Name)
	}
	h.created(w, err, func() string {
		return "/api/v2.0/projects/" + repoPath(repositoryName(r)) + "/artifacts/" + url.PathEscape(a.Digest) + "/tags/" + body.Name
	})
}

func (h *rest) deleteTag(w http.ResponseWriter, r *http.Request) {
	a, err := h.artifactWithEdges(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	name := r.PathValue("tag")
	i := slices.IndexFunc(a.Edges.Tags, func(t *ent.Tag) bool { return t.Name == name })
	if i < 0 {
		h.fail(w, fault.NotFound(fmt.Sprintf("tag %q of this artifact", name)))
		return
	}
	if err := h.artifacts.DeleteTag(r.Context(), a.Edges.Tags[i].ID); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) addArtifactLabel(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID           int `json:"id"`
		Name         any `json:"name"`
		Description  any `json:"description"`
		Color        any `json:"color"`
		Scope        any `json:"scope"`
		ProjectID    any `json:"project_id"`
		CreationTime any `json:"creation_time"`
		UpdateTime   any `json:"update_time"`
		Deleted      any `json:"deleted"`
	}
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	if body.ID < 1 {
		h.fail(w, fault.BadInput("the label's id is required"))
		return
	}
	a, err := h.artifactOf(r)
	if err == nil {
		_, err = h.labels.AddToArtifact(r.Context(), a.ID, body.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) removeArtifactLabel(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "label")
	var a *ent.Artifact
	if err == nil {
		a, err = h.artifactOf(r)
	}
	if err == nil {
		_, err = h.labels.RemoveFromArtifact(r.Context(), a.ID, id)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
