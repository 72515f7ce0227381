package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/quota"
)

// policyRoutes serves Harbor's quota, immutable tag rule and retention endpoints, adapters over
// quota.Service, tagrule.Service and retention.Service.
func (h *rest) policyRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/quotas", h.listQuotas)
	h.mux.HandleFunc("GET /api/v2.0/quotas/{id}", h.getQuota)
	h.mux.HandleFunc("PUT /api/v2.0/quotas/{id}", h.updateQuota)
	h.immutableRoutes()
	h.retentionRoutes()
}

// harborQuota is Harbor's Quota: its id is the project's id here (a project has one quota).
type harborQuota struct {
	ID           int              `json:"id"`
	Ref          harborQuotaRef   `json:"ref"`
	Hard         map[string]int64 `json:"hard"`
	Used         map[string]int64 `json:"used"`
	CreationTime time.Time        `json:"creation_time"`
	UpdateTime   time.Time        `json:"update_time"`
}

type harborQuotaRef struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func toHarborQuota(q quota.Quota) harborQuota {
	return harborQuota{ID: q.ProjectID, Ref: harborQuotaRef{ID: q.ProjectID, Name: q.ProjectName},
		Hard: map[string]int64{"storage": q.Limit}, Used: map[string]int64{"storage": q.Used}}
}

func (h *rest) listQuotas(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	if ref := r.URL.Query().Get("reference"); ref != "" && ref != "project" {
		writeList(w, r, 0, []harborQuota{})
		return
	}
	if id := r.URL.Query().Get("reference_id"); id != "" {
		n, err := strconv.Atoi(id)
		if err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "reference_id must be a project id")
			return
		}
		q, err := h.quotas.Get(r.Context(), n)
		if err != nil {
			h.fail(w, err)
			return
		}
		writeList(w, r, 1, []harborQuota{toHarborQuota(q)})
		return
	}
	qs, total, err := h.quotas.List(r.Context(), pg.Offset, pg.Limit)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]harborQuota, len(qs))
	for i, q := range qs {
		out[i] = toHarborQuota(q)
	}
	writeList(w, r, total, out)
}

func quotaID(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "the quota id must be a positive integer")
		return 0, false
	}
	return id, true
}

func (h *rest) getQuota(w http.ResponseWriter, r *http.Request) {
	id, ok := quotaID(w, r)
	if !ok {
		return
	}
	q, err := h.quotas.Get(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborQuota(q))
}

func (h *rest) updateQuota(w http.ResponseWriter, r *http.Request) {
	id, ok := quotaID(w, r)
	if !ok {
		return
	}
	var body struct {
		Hard map[string]*int64 `json:"hard"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil || body.Hard["storage"] == nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", `send {"hard": {"storage": <bytes, or -1 for unlimited>}}`)
		return
	}
	if _, err := h.quotas.SetLimit(r.Context(), id, *body.Hard["storage"]); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
