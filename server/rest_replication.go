package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/registryendpoint"
	"github.com/berth-registry/berth/ent/replicationexecution"
	"github.com/berth-registry/berth/ent/replicationpolicy"
	"github.com/berth-registry/berth/ent/replicationtask"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/worker/replication"
)

// replicationRoutes serves Harbor's registry endpoint and replication API (/registries,
// /registries/ping, /replication/policies, /replication/executions and their tasks) over the
// endpoint and replication services. Only the shapes are Harbor's here; the rules are theirs.
func (h *rest) replicationRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/registries", h.listRegistries)
	h.mux.HandleFunc("POST /api/v2.0/registries", h.createRegistry)
	h.mux.HandleFunc("POST /api/v2.0/registries/ping", h.pingRegistry)
	h.mux.HandleFunc("GET /api/v2.0/registries/{id}", h.getRegistry)
	h.mux.HandleFunc("PUT /api/v2.0/registries/{id}", h.updateRegistry)
	h.mux.HandleFunc("DELETE /api/v2.0/registries/{id}", h.deleteRegistry)
	h.mux.HandleFunc("GET /api/v2.0/replication/policies", h.listReplicationPolicies)
	h.mux.HandleFunc("POST /api/v2.0/replication/policies", h.createReplicationPolicy)
	h.mux.HandleFunc("GET /api/v2.0/replication/policies/{id}", h.getReplicationPolicy)
	h.mux.HandleFunc("PUT /api/v2.0/replication/policies/{id}", h.updateReplicationPolicy)
	h.mux.HandleFunc("DELETE /api/v2.0/replication/policies/{id}", h.deleteReplicationPolicy)
	h.mux.HandleFunc("GET /api/v2.0/replication/executions", h.listReplicationExecutions)
	h.mux.HandleFunc("POST /api/v2.0/replication/executions", h.startReplication)
	h.mux.HandleFunc("GET /api/v2.0/replication/executions/{id}", h.getReplicationExecution)
	h.mux.HandleFunc("PUT /api/v2.0/replication/executions/{id}", h.stopReplication)
	// Berth's own: run the failed and stopped tasks of a finished execution again.
	h.mux.HandleFunc("POST /api/v2.0/replication/executions/{id}/retry", h.retryReplication)
	h.mux.HandleFunc("GET /api/v2.0/replication/executions/{id}/tasks", h.listReplicationTasks)
	h.mux.HandleFunc("GET /api/v2.0/replication/executions/{id}/tasks/{task}/log", h.replicationTaskLog)
}

func pathID(r *http.Request, name string) (int, error) {
	id, err := strconv.Atoi(r.PathValue(name))
	if err != nil || id < 1 {
		return 0, fault.BadInput("%s must be a positive integer", name)
	}
	return id, nil
}

// getOne answers GET of the item the path's id names, in Harbor's shape.
func getOne[T, H any](h *rest, w http.ResponseWriter, r *http.Request, get func(context.Context, int) (T, error), shape func(T) H) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, err)
		return
	}
	v, err := get(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, shape(v))
}

// created answers 201 with the new item's address (location), or the error that kept it from being made.
func (h *rest) created(w http.ResponseWriter, err error, location func() string) {
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Location", location())
	w.WriteHeader(http.StatusCreated)
}

// byID does something to the item the path's id names and answers 200.
func (h *rest) byID(w http.ResponseWriter, r *http.Request, do func(context.Context, int) error) {
	id, err := pathID(r, "id")
	if err == nil {
		err = do(r.Context(), id)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// listShaped answers a Harbor list: the page asked, in Harbor's shape, with the total in
// X-Total-Count.
func listShaped[T, H any](h *rest, w http.ResponseWriter, r *http.Request, list func(offset, limit int) ([]T, int, error), shape func(T) H) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	items, total, err := list(pg.Offset, pg.Limit)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]H, len(items))
	for i, v := range items {
		out[i] = shape(v)
	}
	writeList(w, r, total, out)
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		return fault.BadInput("the body is not the JSON expected: %v", err)
	}
	return nil
}

type harborCredential struct {
	Type         string `json:"type"`
	AccessKey    string `json:"access_key"`
	AccessSecret string `json:"access_secret,omitempty"`
}

type harborRegistry struct {
	ID           int              `json:"id"`
	Name         string           `json:"name"`
	Description  string           `json:"description"`
	Type         string           `json:"type"`
	URL          string           `json:"url"`
	Insecure     bool             `json:"insecure"`
	Credential   harborCredential `json:"credential"`
	Status       string           `json:"status"`
	CreationTime time.Time        `json:"creation_time"`
	UpdateTime   time.Time        `json:"update_time"`
}

// Harbor's credential types, with Berth's own names accepted too.
var credentialTypes = map[string]registryendpoint.CredentialType{
	"": registryendpoint.CredentialTypeNone, "none": registryendpoint.CredentialTypeNone,
	"basic": registryendpoint.CredentialTypeBasic, "oauth": registryendpoint.CredentialTypeBearer,
	"bearer": registryendpoint.CredentialTypeBearer, "secret": registryendpoint.CredentialTypeRobotSecret,
	"robot_secret": registryendpoint.CredentialTypeRobotSecret,
}

func toHarborRegistry(ep *ent.RegistryEndpoint) harborRegistry {
	c := harborCredential{Type: string(ep.CredentialType), AccessKey: ep.AccessKey}
	if len(ep.AccessSecretSealed) > 0 {
		c.AccessSecret = "*****" // Harbor's placeholder: the secret itself is never returned
	}
	return harborRegistry{ID: ep.ID, Name: ep.Name, Description: ep.Description, Type: string(ep.Type), URL: ep.URL,
		Insecure: ep.Insecure, Credential: c, Status: "healthy", CreationTime: ep.CreatedAt, UpdateTime: ep.UpdatedAt}
}

// registryBody is Harbor's registry (create) and registry update (flat fields) shapes in one.
type registryBody struct {
	Name           *string           `json:"name"`
	Description    *string           `json:"description"`
	Type           *string           `json:"type"`
	URL            *string           `json:"url"`
	Insecure       *bool             `json:"insecure"`
	Credential     *harborCredential `json:"credential"`
	CredentialType *string           `json:"credential_type"`
	AccessKey      *string           `json:"access_key"`
	AccessSecret   *string           `json:"access_secret"`
	ID             int               `json:"id"`
}

// input merges b over base.
func (b registryBody) input(base endpoint.Input) (endpoint.Input, error) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&base.Name, b.Name)
	set(&base.Description, b.Description)
	set(&base.URL, b.URL)
	if b.Type != nil {
		base.Type = registryendpoint.Type(*b.Type)
	}
	if b.Insecure != nil {
		base.Insecure = *b.Insecure
	}
	credType, key, secret := b.CredentialType, b.AccessKey, b.AccessSecret
	if b.Credential != nil {
		credType, key = &b.Credential.Type, &b.Credential.AccessKey
		if b.Credential.AccessSecret != "" {
			secret = &b.Credential.AccessSecret
		}
	}
	if credType != nil {
		ct, ok := credentialTypes[*credType]
		if !ok {
			return base, fault.BadInput("unknown credential type %q: use basic, oauth (a bearer token) or secret (a robot secret)", *credType)
		}
		base.CredentialType = ct
	}
	set(&base.AccessKey, key)
	if secret != nil && *secret != "*****" {
		base.AccessSecret = secret
	}
	return base, nil
}

func inputOf(ep *ent.RegistryEndpoint) endpoint.Input {
	return endpoint.Input{Name: ep.Name, Description: ep.Description, Type: ep.Type, URL: ep.URL,
		CredentialType: ep.CredentialType, AccessKey: ep.AccessKey, Insecure: ep.Insecure}
}

func (h *rest) listRegistries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("name")
	if q == "" {
		q = strings.TrimPrefix(r.URL.Query().Get("q"), "name=~")
	}
	listShaped(h, w, r, func(offset, limit int) ([]*ent.RegistryEndpoint, int, error) {
		return h.endpoints.List(r.Context(), q, offset, limit)
	}, toHarborRegistry)
}

func (h *rest) createRegistry(w http.ResponseWriter, r *http.Request) {
	var b registryBody
	if err := readJSON(r, &b); err != nil {
		h.fail(w, err)
		return
	}
	in, err := b.input(endpoint.Input{})
	if err != nil {
		h.fail(w, err)
		return
	}
	ep, err := h.endpoints.Create(r.Context(), in)
	h.created(w, err, func() string { return "/api/v2.0/registries/" + strconv.Itoa(ep.ID) })
}

func (h *rest) getRegistry(w http.ResponseWriter, r *http.Request) {
	getOne(h, w, r, h.endpoints.Get, toHarborRegistry)
}

func (h *rest) updateRegistry(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, err)
		return
	}
	var b registryBody
	if err := readJSON(r, &b); err != nil {
		h.fail(w, err)
		return
	}
	ep, err := h.endpoints.Get(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	in, err := b.input(inputOf(ep))
	if err == nil {
		_, err = h.endpoints.Update(r.Context(), id, in)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) deleteRegistry(w http.ResponseWriter, r *http.Request) {
	h.byID(w, r, h.endpoints.Delete)
}

// pingRegistry tests a saved endpoint (id) or an unsaved one (the other fields); with an id,
// fields given override the saved ones.
func (h *rest) pingRegistry(w http.ResponseWriter, r *http.Request) {
	var b registryBody
	if err := readJSON(r, &b); err != nil {
		h.fail(w, err)
		return
	}
	var in *endpoint.Input
	if b.URL != nil || b.Type != nil || b.Credential != nil || b.CredentialType != nil || b.AccessSecret != nil {
		base := endpoint.Input{Type: registryendpoint.TypeDockerRegistry}
		if b.ID != 0 {
			ep, err := h.endpoints.Get(r.Context(), b.ID)
			if err != nil {
				h.fail(w, err)
				return
			}
			base = inputOf(ep)
		}
		merged, err := b.input(base)
		if err != nil {
			h.fail(w, err)
			return
		}
		in = &merged
	}
	if err := h.endpoints.Ping(r.Context(), b.ID, in); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

type harborRegistryRef struct {
	ID   int    `json:"id"`
	Name string `json:"name,omitempty"`
}

type harborFilter struct {
	Type       string `json:"type"`
	Value      any    `json:"value"`
	Decoration string `json:"decoration,omitempty"`
}

type harborTrigger struct {
	Type            string `json:"type"`
	TriggerSettings struct {
		Cron string `json:"cron"`
	} `json:"trigger_settings"`
}

type harborPolicy struct {
	ID                        int                `json:"id"`
	Name                      string             `json:"name"`
	Description               string             `json:"description"`
	SrcRegistry               *harborRegistryRef `json:"src_registry"`
	DestRegistry              *harborRegistryRef `json:"dest_registry"`
	DestNamespace             string             `json:"dest_namespace"`
	DestNamespaceReplaceCount int                `json:"dest_namespace_replace_count"`
	Trigger                   harborTrigger      `json:"trigger"`
	Filters                   []harborFilter     `json:"filters"`
	ReplicateDeletion         bool               `json:"replicate_deletion"`
	Override                  bool               `json:"override"`
	Enabled                   bool               `json:"enabled"`
	Speed                     int                `json:"speed"`
	CopyByChunk               bool               `json:"copy_by_chunk"`
	// Berth's own: copy from local proxy-cache projects too (push-based).
	IncludeProxyCache bool      `json:"include_proxy_cache"`
	CreationTime      time.Time `json:"creation_time"`
	UpdateTime        time.Time `json:"update_time"`
}

// Harbor's trigger names, both ways.
var harborTriggers = map[string]replicationpolicy.Trigger{
	"manual": replicationpolicy.TriggerManual, "scheduled": replicationpolicy.TriggerScheduled,
	"event_based": replicationpolicy.TriggerEventBased,
}

func toHarborPolicy(p *ent.ReplicationPolicy) harborPolicy {
	out := harborPolicy{ID: p.ID, Name: p.Name, Description: p.Description, DestNamespace: p.DestNamespace,
		DestNamespaceReplaceCount: p.DestNamespaceReplaceCount, ReplicateDeletion: p.ReplicateDeletion,
		Override: p.Override, Enabled: p.Enabled, Speed: p.SpeedKB, CopyByChunk: p.CopyByChunk,
		IncludeProxyCache: p.IncludeProxyCache, CreationTime: p.CreatedAt, UpdateTime: p.UpdatedAt, Filters: []harborFilter{}}
	if p.Direction == replicationpolicy.DirectionPush {
		out.DestRegistry = &harborRegistryRef{ID: p.RegistryID}
	} else {
		out.SrcRegistry = &harborRegistryRef{ID: p.RegistryID}
	}
	for k, v := range harborTriggers {
		if v == p.Trigger {
			out.Trigger.Type = k
		}
	}
	out.Trigger.TriggerSettings.Cron = p.Cron
	f := p.Filter
	name := f.Repository
	if p.SourceNamespace != "" {
		name = p.SourceNamespace + "/" + strings.TrimPrefix(name, p.SourceNamespace+"/")
	}
	if name != "" {
		out.Filters = append(out.Filters, harborFilter{Type: "name", Value: name})
	}
	if f.Tag != "" {
		out.Filters = append(out.Filters, harborFilter{Type: "tag", Value: f.Tag, Decoration: map[bool]string{true: "excludes", false: "matches"}[f.TagExclude]})
	}
	if len(f.Labels) > 0 {
		out.Filters = append(out.Filters, harborFilter{Type: "label", Value: f.Labels, Decoration: "matches"})
	}
	if f.Resource != "" {
		out.Filters = append(out.Filters, harborFilter{Type: "resource", Value: f.Resource})
	}
	return out
}

// policyInput reads Harbor's policy: the local side is the registry left empty (or id 0).
func policyInput(b harborPolicy) (replication.PolicyInput, error) {
	in := replication.PolicyInput{Name: b.Name, Description: b.Description, DestNamespace: b.DestNamespace,
		DestNamespaceReplaceCount: b.DestNamespaceReplaceCount, Override: b.Override, Enabled: b.Enabled,
		ReplicateDeletion: b.ReplicateDeletion, SpeedKB: b.Speed, CopyByChunk: b.CopyByChunk, IncludeProxyCache: b.IncludeProxyCache,
		Cron: b.Trigger.TriggerSettings.Cron}
	src, dst := 0, 0
	if b.SrcRegistry != nil {
		src = b.SrcRegistry.ID
	}
	if b.DestRegistry != nil {
		dst = b.DestRegistry.ID
	}
	switch {
	case src == 0 && dst != 0:
		in.Direction, in.RegistryID = replicationpolicy.DirectionPush, dst
	case src != 0 && dst == 0:
		in.Direction, in.RegistryID = replicationpolicy.DirectionPull, src
	default:
		return in, fault.BadInput("give exactly one of src_registry (pull-based) and dest_registry (push-based): the other side is this registry")
	}
	trig, ok := harborTriggers[b.Trigger.Type]
	if b.Trigger.Type == "" {
		trig, ok = replicationpolicy.TriggerManual, true
	}
	if !ok {
		return in, fault.BadInput("unknown trigger %q: use manual, scheduled or event_based", b.Trigger.Type)
	}
	in.Trigger = trig
	for _, f := range b.Filters {
		switch f.Type {
		case "name":
			s, _ := f.Value.(string)
			in.Filter.Repository = s
		case "tag":
			s, _ := f.Value.(string)
			in.Filter.Tag, in.Filter.TagExclude = s, f.Decoration == "excludes"
		case "label":
			vals, _ := f.Value.([]any)
			for _, v := range vals {
				if s, ok := v.(string); ok {
					in.Filter.Labels = append(in.Filter.Labels, s)
				}
			}
		case "resource":
			s, _ := f.Value.(string)
			in.Filter.Resource = s
		default:
			return in, fault.BadInput("unknown filter type %q: use name, tag, label or resource", f.Type)
		}
	}
	return in, nil
}

func (h *rest) listReplicationPolicies(w http.ResponseWriter, r *http.Request) {
	listShaped(h, w, r, func(offset, limit int) ([]*ent.ReplicationPolicy, int, error) {
		return h.replication.Policies(r.Context(), r.URL.Query().Get("name"), offset, limit)
	}, toHarborPolicy)
}

func (h *rest) createReplicationPolicy(w http.ResponseWriter, r *http.Request) {
	b := harborPolicy{Enabled: true, Override: true}
	if err := readJSON(r, &b); err != nil {
		h.fail(w, err)
		return
	}
	in, err := policyInput(b)
	if err != nil {
		h.fail(w, err)
		return
	}
	p, err := h.replication.CreatePolicy(r.Context(), in)
	h.created(w, err, func() string { return "/api/v2.0/replication/policies/" + strconv.Itoa(p.ID) })
}

func (h *rest) getReplicationPolicy(w http.ResponseWriter, r *http.Request) {
	getOne(h, w, r, h.replication.Policy, toHarborPolicy)
}

func (h *rest) updateReplicationPolicy(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, err)
		return
	}
	p, err := h.replication.Policy(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	b := toHarborPolicy(p) // what the body leaves out stays
	if err := readJSON(r, &b); err != nil {
		h.fail(w, err)
		return
	}
	in, err := policyInput(b)
	if err == nil {
		_, err = h.replication.UpdatePolicy(r.Context(), id, in)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) deleteReplicationPolicy(w http.ResponseWriter, r *http.Request) {
	h.byID(w, r, h.replication.DeletePolicy)
}

type harborReplicationExecution struct {
	ID         int        `json:"id"`
	PolicyID   int        `json:"policy_id"`
	Status     string     `json:"status"`
	StatusText string     `json:"status_text"`
	Trigger    string     `json:"trigger"`
	StartTime  time.Time  `json:"start_time"`
	EndTime    *time.Time `json:"end_time,omitempty"`
	Total      int        `json:"total"`
	Failed     int        `json:"failed"`
	Succeed    int        `json:"succeed"`
	InProgress int        `json:"in_progress"`
	Stopped    int        `json:"stopped"`
	// Berth's own: tasks skipped (proxy-cache destinations, tags kept with override off) and
	// bytes sent.
	Skipped int   `json:"skipped"`
	Bytes   int64 `json:"bytes"`
}

// Harbor's execution and task status words.
var harborStatus = map[string]string{"PENDING": "Pending", "RUNNING": "InProgress", "SUCCESS": "Succeed",
	"ERROR": "Failed", "FAILED": "Failed", "STOPPED": "Stopped", "SKIPPED": "Skipped"}

func toHarborReplicationExecution(e *ent.ReplicationExecution) harborReplicationExecution {
	inProgress := e.Total - e.Succeeded - e.Failed - e.Skipped - e.Stopped
	status := harborStatus[string(e.Status)]
	if status == "Pending" {
		status = "InProgress" // Harbor says InProgress for an execution not started yet (its tasks keep Pending)
	}
	return harborReplicationExecution{ID: e.ID, PolicyID: e.PolicyID, Status: status,
		Trigger: strings.ToLower(string(e.Trigger)), StartTime: e.CreatedAt, EndTime: e.EndedAt, Total: e.Total,
		Failed: e.Failed, Succeed: e.Succeeded + e.Skipped, InProgress: max(inProgress, 0), Stopped: e.Stopped,
		Skipped: e.Skipped, Bytes: e.Bytes}
}

func (h *rest) listReplicationExecutions(w http.ResponseWriter, r *http.Request) {
	var f replication.ExecutionFilter
	q := r.URL.Query()
	if v := q.Get("policy_id"); v != "" {
		var err error
		if f.PolicyID, err = strconv.Atoi(v); err != nil {
			h.fail(w, fault.BadInput("policy_id must be an integer"))
			return
		}
	}
	for k, v := range harborStatus {
		if v == q.Get("status") && k != "FAILED" && k != "SKIPPED" {
			f.Status = replicationexecution.Status(k)
		}
	}
	if v := q.Get("trigger"); v != "" {
		f.Trigger = replicationexecution.Trigger(strings.ToUpper(v))
	}
	listShaped(h, w, r, func(offset, limit int) ([]*ent.ReplicationExecution, int, error) {
		return h.replication.Executions(r.Context(), f, offset, limit)
	}, toHarborReplicationExecution)
}

func (h *rest) startReplication(w http.ResponseWriter, r *http.Request) {
	var b struct {
		PolicyID int `json:"policy_id"`
	}
	if err := readJSON(r, &b); err != nil {
		h.fail(w, err)
		return
	}
	e, err := h.replication.Start(r.Context(), b.PolicyID)
	h.created(w, err, func() string { return "/api/v2.0/replication/executions/" + strconv.Itoa(e.ID) })
}

func (h *rest) getReplicationExecution(w http.ResponseWriter, r *http.Request) {
	getOne(h, w, r, h.replication.Execution, toHarborReplicationExecution)
}

func (h *rest) stopReplication(w http.ResponseWriter, r *http.Request) {
	h.byID(w, r, func(ctx context.Context, id int) error {
		_, err := h.replication.Stop(ctx, id)
		return err
	})
}

func (h *rest) retryReplication(w http.ResponseWriter, r *http.Request) {
	h.byID(w, r, func(ctx context.Context, id int) error {
		_, err := h.replication.Retry(ctx, id)
		return err
	})
}

type harborTask struct {
	ID           int        `json:"id"`
	ExecutionID  int        `json:"execution_id"`
	ResourceType string     `json:"resource_type"`
	SrcResource  string     `json:"src_resource"`
	DstResource  string     `json:"dst_resource"`
	Operation    string     `json:"operation"`
	Status       string     `json:"status"`
	StartTime    *time.Time `json:"start_time,omitempty"`
	EndTime      *time.Time `json:"end_time,omitempty"`
	// Berth's own: bytes sent, how long it took, and why it failed or was skipped.
	Bytes      int64  `json:"bytes"`
	DurationMs int64  `json:"duration_ms"`
	Message    string `json:"message,omitempty"`
}

func (h *rest) listReplicationTasks(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, err)
		return
	}
	status := map[string]replicationtask.Status{"Pending": replicationtask.StatusPending, "InProgress": replicationtask.StatusRunning,
		"Succeed": replicationtask.StatusSuccess, "Failed": replicationtask.StatusFailed, "Skipped": replicationtask.StatusSkipped,
		"Stopped": replicationtask.StatusStopped}[r.URL.Query().Get("status")]
	listShaped(h, w, r, func(offset, limit int) ([]*ent.ReplicationTask, int, error) {
		return h.replication.Tasks(r.Context(), id, status, offset, limit)
	}, func(t *ent.ReplicationTask) harborTask {
		return harborTask{ID: t.ID, ExecutionID: t.ExecutionID, ResourceType: t.ResourceType, SrcResource: t.SrcResource,
			DstResource: t.DstResource, Operation: string(t.Operation), Status: harborStatus[string(t.Status)],
			StartTime: t.StartedAt, EndTime: t.EndedAt, Bytes: t.Bytes, DurationMs: t.DurationMs, Message: t.Message}
	})
}

func (h *rest) replicationTaskLog(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, err)
		return
	}
	taskID, err := pathID(r, "task")
	if err != nil {
		h.fail(w, err)
		return
	}
	t, err := h.replication.Task(r.Context(), id, taskID)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%s %s -> %s: %s after %d attempt(s), %d bytes in %d ms\n", t.Operation, t.SrcResource, t.DstResource,
		harborStatus[string(t.Status)], t.Attempts, t.Bytes, t.DurationMs)
	if t.Message != "" {
		fmt.Fprintln(w, t.Message)
	}
}
