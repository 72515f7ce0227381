package server

import (
	"time"

	"net/http"

	"github.com/berth-registry/berth/auditlog"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/server/harborq"
)

// Harbor's audit log endpoints (/audit-logs and /projects/{p}/logs), over the audit log service.

func (h *rest) auditRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/audit-logs", h.listAuditLogs)
	h.mux.HandleFunc("GET /api/v2.0/projects/{project}/logs", h.listAuditLogs)
}

// auditFilter reads Harbor's audit-log q: operation and resource_type (exact or {a b}),
// username and resource (exact or ~fuzzy), op_time ([from~to]).
func auditFilter(q harborq.Query) (auditlog.Filter, error) {
	var f auditlog.Filter
	for _, t := range q.Terms {
		switch t.Key {
		case "operation", "resource_type":
			if err := t.Kinds(harborq.Exact, harborq.Union); err != nil {
				return f, err
			}
			vals := t.Values
			if t.Kind == harborq.Exact {
				vals = []string{t.Value}
			}
			if t.Key == "operation" {
				f.Operations = vals
			} else {
				f.ResourceTypes = vals
			}
		case "username", "resource":
			if err := t.Kinds(harborq.Exact, harborq.Fuzzy); err != nil {
				return f, err
			}
			switch {
			case t.Key == "username" && t.Kind == harborq.Exact:
				f.Username = t.Value
			case t.Key == "username":
				f.UsernameContains = t.Value
			case t.Kind == harborq.Exact:
				v := t.Value
				f.ResourceGlob = &v
			default:
				f.ResourceContains = t.Value
			}
		case "op_time":
			if err := t.Kinds(harborq.Range); err != nil {
				return f, err
			}
			for _, end := range []struct {
				v    string
				into **time.Time
			}{{t.Min, &f.From}, {t.Max, &f.To}} {
				if end.v == "" {
					continue
				}
				at, err := harborq.Time("op_time", end.v)
				if err != nil {
					return f, err
				}
				*end.into = &at
			}
		}
	}
	return f, nil
}

func (h *rest) listAuditLogs(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	q, ok := h.listQuery(w, r, "operation", "resource_type", "username", "resource", "op_time")
	if !ok {
		return
	}
	f, err := auditFilter(q)
	if err != nil {
		h.fail(w, err)
		return
	}
	var projectID *int
	if r.PathValue("project") != "" {
		p, err := h.projects.Find(r.Context(), projectRef(r))
		if err != nil {
			h.fail(w, err)
			return
		}
		projectID = &p.ID
	}
	rows, total, err := h.auditLog.List(r.Context(), projectID, f, pg)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]map[string]any, len(rows))
	for i, e := range rows {
		out[i] = toHarborAuditLog(e)
	}
	writeList(w, r, total, out)
}

func toHarborAuditLog(e *ent.AuditLog) map[string]any {
	return map[string]any{"id": e.ID, "username": e.Username, "resource": e.Resource, "resource_type": e.ResourceType,
		"operation": e.Operation, "op_time": e.OccurredAt}
}
