package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/retention"
)

// retentionRoutes serves Harbor's /retentions: a project has one policy, whose id is the project's.
func (h *rest) retentionRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/retentions/{id}", h.getRetention)
	h.mux.HandleFunc("POST /api/v2.0/retentions", h.putRetention)
	h.mux.HandleFunc("PUT /api/v2.0/retentions/{id}", h.putRetention)
	h.mux.HandleFunc("GET /api/v2.0/retentions/{id}/executions", h.listRetentionExecutions)
	h.mux.HandleFunc("POST /api/v2.0/retentions/{id}/executions", h.startRetentionExecution)
	h.mux.HandleFunc("PATCH /api/v2.0/retentions/{id}/executions/{eid}", h.stopRetentionExecution)
}

// harborRetentionRule is Harbor's RetentionRule.
type harborRetentionRule struct {
	ID             int                         `json:"id"`
	Priority       int                         `json:"priority"`
	Disabled       bool                        `json:"disabled"`
	Action         string                      `json:"action"`
	Template       string                      `json:"template"`
	Params         map[string]any              `json:"params"`
	TagSelectors   []harborSelector            `json:"tag_selectors"`
	ScopeSelectors map[string][]harborSelector `json:"scope_selectors"`
}

// harborRetentionPolicy is Harbor's RetentionPolicy.
type harborRetentionPolicy struct {
	ID        int                   `json:"id"`
	Algorithm string                `json:"algorithm"`
	Rules     []harborRetentionRule `json:"rules"`
	Trigger   map[string]any        `json:"trigger"`
	Scope     struct {
		Level string `json:"level"`
		Ref   int    `json:"ref"`
	} `json:"scope"`
}

func toHarborRetentionRule(i int, r retention.Rule) harborRetentionRule {
	extras := ""
	if r.Untagged {
		extras = `{"untagged":true}`
	}
	params := map[string]any{}
	if r.Template != retention.Always {
		params[r.Template] = r.N
	}
	return harborRetentionRule{ID: i + 1, Priority: i + 1, Disabled: r.Disabled, Action: "retain", Template: r.Template, Params: params,
		TagSelectors:   []harborSelector{{Kind: "doublestar", Decoration: decorationLower(r.TagExclude), Pattern: r.TagPattern, Extras: extras}},
		ScopeSelectors: map[string][]harborSelector{"repository": {{Kind: "doublestar", Decoration: decoration(r.RepositoryExclude, "repo"), Pattern: r.RepositoryPattern}}}}
}

func (h *rest) retentionProject(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "the retention id (the project's id) must be a positive integer")
		return 0, false
	}
	return id, true
}

func (h *rest) getRetention(w http.ResponseWriter, r *http.Request) {
	id, ok := h.retentionProject(w, r)
	if !ok {
		return
	}
	rules, err := h.retention.Policy(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	p := harborRetentionPolicy{ID: id, Algorithm: "or", Rules: []harborRetentionRule{}, Trigger: map[string]any{"kind": "Schedule", "settings": map[string]any{"cron": ""}}}
	p.Scope.Level, p.Scope.Ref = "project", id
	for i, rule := range rules {
		p.Rules = append(p.Rules, toHarborRetentionRule(i, rule))
	}
	writeJSON(w, http.StatusOK, p)
}

// putRetention creates (POST, naming the project in scope.ref) or replaces (PUT) a policy's rules.
func (h *rest) putRetention(w http.ResponseWriter, r *http.Request) {
	var body harborRetentionPolicy
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "send a retention policy as JSON: "+err.Error())
		return
	}
	id := body.Scope.Ref
	if r.Method == http.MethodPut {
		var ok bool
		if id, ok = h.retentionProject(w, r); !ok {
			return
		}
	}
	if id < 1 {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", `name the project in "scope": {"level": "project", "ref": <project id>}`)
		return
	}
	rules := make([]retention.Rule, 0, len(body.Rules))
	for i, hr := range body.Rules {
		if len(hr.TagSelectors) != 1 || len(hr.ScopeSelectors["repository"]) != 1 {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "rule "+strconv.Itoa(i+1)+": one tag selector and one repository selector (scope_selectors.repository)")
			return
		}
		tag, repo := hr.TagSelectors[0], hr.ScopeSelectors["repository"][0]
		n := 0
		if v, ok := hr.Params[hr.Template].(float64); ok {
			n = int(v)
		}
		var extras struct {
			Untagged bool `json:"untagged"`
		}
		_ = json.Unmarshal([]byte(tag.Extras), &extras)
		rules = append(rules, retention.Rule{Template: hr.Template, N: n, Disabled: hr.Disabled,
			RepositoryPattern: repo.Pattern, RepositoryExclude: repo.Decoration == "repoExcludes",
			TagPattern: tag.Pattern, TagExclude: tag.Decoration == "excludes", Untagged: extras.Untagged})
	}
	if _, err := h.retention.SetPolicy(r.Context(), id, rules); err != nil {
		h.fail(w, err)
		return
	}
	if r.Method == http.MethodPost {
		w.Header().Set("Location", "/api/v2.0/retentions/"+strconv.Itoa(id))
		w.WriteHeader(http.StatusCreated)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// harborRetentionExecution is Harbor's RetentionExecution.
type harborRetentionExecution struct {
	ID        int        `json:"id"`
	PolicyID  int        `json:"policy_id"`
	StartTime time.Time  `json:"start_time"`
	EndTime   *time.Time `json:"end_time,omitempty"`
	Status    string     `json:"status"`
	Trigger   string     `json:"trigger"`
	DryRun    bool       `json:"dry_run"`
}

// harborRunStatus is a run's status in Harbor's words.
var harborRunStatus = map[string]string{"PENDING": "Pending", "RUNNING": "Running", "SUCCESS": "Succeed", "ERROR": "Failed", "STOPPED": "Stopped"}

func toHarborRetentionExecution(run *ent.RetentionRun) harborRetentionExecution {
	trigger := "MANUAL"
	if string(run.Trigger) == "SCHEDULE" {
		trigger = "SCHEDULE"
	}
	return harborRetentionExecution{ID: run.ID, PolicyID: run.ProjectID, StartTime: run.CreatedAt, EndTime: run.EndedAt,
		Status: harborRunStatus[string(run.Status)], Trigger: trigger, DryRun: run.DryRun}
}

func (h *rest) listRetentionExecutions(w http.ResponseWriter, r *http.Request) {
	id, ok := h.retentionProject(w, r)
	if !ok {
		return
	}
	runs, err := h.retention.Runs(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]harborRetentionExecution, len(runs))
	for i, run := range runs {
		out[i] = toHarborRetentionExecution(run)
	}
	writeList(w, r, len(out), out)
}

func (h *rest) startRetentionExecution(w http.ResponseWriter, r *http.Request) {
	id, ok := h.retentionProject(w, r)
	if !ok {
		return
	}
	var body struct {
		DryRun bool `json:"dry_run"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", `send {"dry_run": true|false}`)
			return
		}
	}
	run, err := h.retention.Start(r.Context(), id, body.DryRun)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Location", "/api/v2.0/retentions/"+strconv.Itoa(id)+"/executions/"+strconv.Itoa(run.ID))
	w.WriteHeader(http.StatusCreated)
}

func (h *rest) stopRetentionExecution(w http.ResponseWriter, r *http.Request) {
	eid, err := strconv.Atoi(r.PathValue("eid"))
	if err != nil || eid < 1 {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "the execution id must be a positive integer")
		return
	}
	var body struct {
		Action string `json:"action"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil || body.Action != "stop" {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", `send {"action": "stop"}`)
		return
	}
	if _, err := h.retention.Stop(r.Context(), eid); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
