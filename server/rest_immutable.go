package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/tagrule"
)

// immutableRoutes serves Harbor's /projects/{project_name_or_id}/immutabletagrules.
func (h *rest) immutableRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/projects/{project}/immutabletagrules", h.listImmutableRules)
	h.mux.HandleFunc("POST /api/v2.0/projects/{project}/immutabletagrules", h.createImmutableRule)
	h.mux.HandleFunc("PUT /api/v2.0/projects/{project}/immutabletagrules/{id}", h.updateImmutableRule)
	h.mux.HandleFunc("DELETE /api/v2.0/projects/{project}/immutabletagrules/{id}", h.deleteImmutableRule)
}

// harborSelector is Harbor's ImmutableSelector (and retention's RetentionSelector).
type harborSelector struct {
	Kind       string `json:"kind"`
	Decoration string `json:"decoration"`
	Pattern    string `json:"pattern"`
	Extras     string `json:"extras,omitempty"`
}

// harborImmutableRule is Harbor's ImmutableRule.
type harborImmutableRule struct {
	ID             int                         `json:"id"`
	Priority       int                         `json:"priority"`
	Disabled       bool                        `json:"disabled"`
	Action         string                      `json:"action"`
	Template       string                      `json:"template"`
	Params         map[string]any              `json:"params"`
	TagSelectors   []harborSelector            `json:"tag_selectors"`
	ScopeSelectors map[string][]harborSelector `json:"scope_selectors"`
}

func decoration(exclude bool, prefix string) string {
	if exclude {
		return prefix + "Excludes"
	}
	return prefix + "Matches"
}

func toHarborImmutableRule(r tagrule.Rule) harborImmutableRule {
	return harborImmutableRule{ID: r.ID, Disabled: r.Disabled, Action: "immutable", Template: "immutable_template", Params: map[string]any{},
		TagSelectors:   []harborSelector{{Kind: "doublestar", Decoration: decorationLower(r.TagExclude), Pattern: r.TagPattern}},
		ScopeSelectors: map[string][]harborSelector{"repository": {{Kind: "doublestar", Decoration: decoration(r.RepositoryExclude, "repo"), Pattern: r.RepositoryPattern}}}}
}

// decorationLower is a tag selector's decoration: matches or excludes.
func decorationLower(exclude bool) string {
	if exclude {
		return "excludes"
	}
	return "matches"
}

// immutableInput reads Harbor's ImmutableRule body: one tag selector and one repository selector.
func immutableInput(w http.ResponseWriter, r *http.Request) (tagrule.Input, bool) {
	var body harborImmutableRule
	bad := func(msg string) (tagrule.Input, bool) {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", msg)
		return tagrule.Input{}, false
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		return bad("send an immutable tag rule as JSON: " + err.Error())
	}
	repos := body.ScopeSelectors["repository"]
	if len(body.TagSelectors) != 1 || len(repos) != 1 {
		return bad("an immutable tag rule has exactly one tag selector and one repository selector (scope_selectors.repository)")
	}
	tag, repo := body.TagSelectors[0], repos[0]
	if tag.Decoration != "matches" && tag.Decoration != "excludes" {
		return bad(`the tag selector's decoration is "matches" or "excludes"`)
	}
	if repo.Decoration != "repoMatches" && repo.Decoration != "repoExcludes" {
		return bad(`the repository selector's decoration is "repoMatches" or "repoExcludes"`)
	}
	return tagrule.Input{RepositoryPattern: repo.Pattern, RepositoryExclude: repo.Decoration == "repoExcludes",
		TagPattern: tag.Pattern, TagExclude: tag.Decoration == "excludes", Disabled: body.Disabled}, true
}

func (h *rest) listImmutableRules(w http.ResponseWriter, r *http.Request) {
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	rules, err := h.tagRules.List(r.Context(), p.ID)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]harborImmutableRule, len(rules))
	for i, rule := range rules {
		out[i] = toHarborImmutableRule(rule)
	}
	writeList(w, r, len(out), out)
}

func (h *rest) createImmutableRule(w http.ResponseWriter, r *http.Request) {
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	in, ok := immutableInput(w, r)
	if !ok {
		return
	}
	rule, err := h.tagRules.Create(r.Context(), p.ID, in)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Location", "/api/v2.0/projects/"+strconv.Itoa(p.ID)+"/immutabletagrules/"+strconv.Itoa(rule.ID))
	w.WriteHeader(http.StatusCreated)
}

// ruleInProject is the rule id of the path, checked to belong to the path's project.
func (h *rest) ruleInProject(w http.ResponseWriter, r *http.Request) (int, bool) {
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		h.fail(w, err)
		return 0, false
	}
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "the rule id must be a positive integer")
		return 0, false
	}
	rules, err := h.tagRules.List(r.Context(), p.ID)
	if err != nil {
		h.fail(w, err)
		return 0, false
	}
	for _, rule := range rules {
		if rule.ID == id {
			return id, true
		}
	}
	writeError(w, http.StatusNotFound, "NOT_FOUND", "immutable tag rule "+strconv.Itoa(id)+" not found in this project")
	return 0, false
}

func (h *rest) updateImmutableRule(w http.ResponseWriter, r *http.Request) {
	id, ok := h.ruleInProject(w, r)
	if !ok {
		return
	}
	in, ok := immutableInput(w, r)
	if !ok {
		return
	}
	if _, err := h.tagRules.Update(r.Context(), id, in); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) deleteImmutableRule(w http.ResponseWriter, r *http.Request) {
	id, ok := h.ruleInProject(w, r)
	if !ok {
		return
	}
	if err := h.tagRules.Delete(r.Context(), id); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
