package server

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/worker/webhook"
)

// Harbor's project webhook policies (/projects/{p}/webhook/policies), over webhook.Policies.
// A Berth policy has one target; Harbor's http target is it (slack is not supported).

func (h *rest) webhookRoutes() {
	const p = "/api/v2.0/projects/{project}/webhook/policies"
	h.mux.HandleFunc("GET "+p, h.listWebhookPolicies)
	h.mux.HandleFunc("POST "+p, h.createWebhookPolicy)
	h.mux.HandleFunc("GET "+p+"/{id}", h.getWebhookPolicy)
	h.mux.HandleFunc("PUT "+p+"/{id}", h.updateWebhookPolicy)
	h.mux.HandleFunc("DELETE "+p+"/{id}", h.deleteWebhookPolicy)
}

// harborEventTypes are Harbor's webhook event types and the Berth events they are. Harbor's
// QUOTA_*, TAG_RETENTION have no row yet: a policy naming them is refused.
var harborEventTypes = []struct {
	harbor string
	berth  event.Type
}{
	{"PUSH_ARTIFACT", event.ArtifactPushed}, {"PULL_ARTIFACT", event.ArtifactPulled},
	{"DELETE_ARTIFACT", event.ArtifactDeleted}, {"SCANNING_COMPLETED", event.ScanCompleted},
	{"SCANNING_FAILED", event.ScanFailed}, {"SCANNING_STOPPED", event.ScanStopped},
	{"REPLICATION", event.ReplicationCompleted},
}

func berthEventTypes(types []string) ([]event.Type, error) {
	out := make([]event.Type, 0, len(types))
	for _, t := range types {
		i := slices.IndexFunc(harborEventTypes, func(e struct {
			harbor string
			berth  event.Type
		}) bool {
			return e.harbor == t
		})
		if i < 0 {
			return nil, fault.BadInput("event type %.40q is not supported: use PUSH_ARTIFACT, PULL_ARTIFACT, DELETE_ARTIFACT, SCANNING_COMPLETED, SCANNING_FAILED, SCANNING_STOPPED or REPLICATION", t)
		}
		out = append(out, harborEventTypes[i].berth)
	}
	return out, nil
}

func harborEventTypesOf(types []event.Type) []string {
	out := make([]string, 0, len(types))
	for _, t := range types {
		name := string(t)
		for _, e := range harborEventTypes {
			if e.berth == t {
				name = e.harbor
			}
		}
		out = append(out, name)
	}
	return out
}

type harborWebhookTarget struct {
	Type           string `json:"type"`
	Address        string `json:"address"`
	AuthHeader     string `json:"auth_header,omitempty"`
	SkipCertVerify bool   `json:"skip_cert_verify"`
	PayloadFormat  string `json:"payload_format,omitempty"`
}

type harborWebhookPolicy struct {
	ID           int                   `json:"id,omitempty"`
	Name         string                `json:"name"`
	Description  *string               `json:"description,omitempty"`
	ProjectID    int                   `json:"project_id,omitempty"`
	Targets      []harborWebhookTarget `json:"targets"`
	EventTypes   []string              `json:"event_types"`
	Enabled      *bool                 `json:"enabled,omitempty"`
	Creator      string                `json:"creator,omitempty"`
	CreationTime *time.Time            `json:"creation_time,omitempty"`
	UpdateTime   *time.Time            `json:"update_time,omitempty"`
}

func toHarborWebhookPolicy(p *ent.WebhookPolicy) harborWebhookPolicy {
	return harborWebhookPolicy{ID: p.ID, Name: p.Name, Description: &p.Description, ProjectID: p.ProjectID,
		Targets:    []harborWebhookTarget{{Type: "http", Address: p.Address, SkipCertVerify: p.SkipCertVerify}},
		EventTypes: harborEventTypesOf(p.EventTypes), Enabled: &p.Enabled, CreationTime: &p.CreatedAt, UpdateTime: &p.UpdatedAt}
}

// target is the policy's one http target.
func (b harborWebhookPolicy) target() (harborWebhookTarget, error) {
	if len(b.Targets) != 1 {
		return harborWebhookTarget{}, fault.BadInput("a webhook policy has exactly one target in Berth, not %d", len(b.Targets))
	}
	t := b.Targets[0]
	if t.Type != "" && t.Type != "http" {
		return t, fault.BadInput("target type %.20q is not supported: use http", t.Type)
	}
	if t.PayloadFormat != "" && t.PayloadFormat != "Default" {
		return t, fault.BadInput("payload_format %.20q is not supported over REST: use Default (Harbor's)", t.PayloadFormat)
	}
	return t, nil
}

// webhookPolicy is the policy {id} of the project in the path.
func (h *rest) webhookPolicy(r *http.Request) (*ent.WebhookPolicy, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	p, err := h.projects.Find(r.Context(), projectRef(r))
	if err != nil {
		return nil, err
	}
	wp, err := h.webhooks.Get(r.Context(), id)
	if err == nil && wp.ProjectID != p.ID {
		err = fault.NotFound(fmt.Sprintf("webhook policy %d of project %s", id, p.Name))
	}
	return wp, err
}

func (h *rest) listWebhookPolicies(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	if _, ok := h.listQuery(w, r); !ok {
		return
	}
	p, err := h.projects.Find(r.Context(), projectRef(r))
	var policies []*ent.WebhookPolicy
	if err == nil {
		policies, err = h.webhooks.List(r.Context(), p.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	total := len(policies)
	policies = policies[min(pg.Offset, total):min(pg.Offset+pg.Limit, total)]
	out := make([]harborWebhookPolicy, len(policies))
	for i, wp := range policies {
		out[i] = toHarborWebhookPolicy(wp)
	}
	writeList(w, r, total, out)
}

func (h *rest) getWebhookPolicy(w http.ResponseWriter, r *http.Request) {
	wp, err := h.webhookPolicy(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborWebhookPolicy(wp))
}

func (h *rest) createWebhookPolicy(w http.ResponseWriter, r *http.Request) {
	var body harborWebhookPolicy
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	p, err := h.projects.Find(r.Context(), projectRef(r))
	var t harborWebhookTarget
	if err == nil {
		t, err = body.target()
	}
	var types []event.Type
	if err == nil {
		types, err = berthEventTypes(body.EventTypes)
	}
	var created *webhook.CreatedPolicy
	if err == nil {
		created, err = h.webhooks.Create(r.Context(), webhook.PolicyInput{ProjectID: p.ID, Name: body.Name, Description: body.Description,
			Enabled: body.Enabled, EventTypes: types, Address: t.Address, AuthHeader: &t.AuthHeader, SkipCertVerify: &t.SkipCertVerify})
	}
	h.created(w, err, func() string {
		return fmt.Sprintf("/api/v2.0/projects/%d/webhook/policies/%d", p.ID, created.Policy.ID)
	})
}

func (h *rest) updateWebhookPolicy(w http.ResponseWriter, r *http.Request) {
	var body harborWebhookPolicy
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	wp, err := h.webhookPolicy(r)
	var t harborWebhookTarget
	if err == nil {
		t, err = body.target()
	}
	var types []event.Type
	if err == nil {
		types, err = berthEventTypes(body.EventTypes)
	}
	var authHeader *string // never answered, so a client's GET-change-PUT sends none: keep the one stored
	if t.AuthHeader != "" {
		authHeader = &t.AuthHeader
	}
	if err == nil {
		_, err = h.webhooks.Update(r.Context(), wp.ID, webhook.PolicyUpdate{Name: &body.Name, Description: body.Description,
			Enabled: body.Enabled, EventTypes: types, Address: &t.Address, AuthHeader: authHeader, SkipCertVerify: &t.SkipCertVerify})
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) deleteWebhookPolicy(w http.ResponseWriter, r *http.Request) {
	wp, err := h.webhookPolicy(r)
	if err == nil {
		err = h.webhooks.Delete(r.Context(), wp.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
