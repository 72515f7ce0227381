package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/worker/gc"
	"github.com/berth-registry/berth/worker/purge"
	"github.com/berth-registry/berth/worker/run"
	"github.com/berth-registry/berth/worker/schedule"
)

// Harbor's garbage collection (/system/gc) and audit-log purge (/system/purgeaudit) endpoints,
// over the gc and purge run services: history, one run, its log, and the schedule (whose
// "Manual" type starts a run now).

func (h *rest) jobRoutes() {
	for _, j := range []restJob{h.gcJob(), h.purgeJob()} {
		base := "/api/v2.0/system/" + j.path
		h.mux.HandleFunc("GET "+base, j.list)
		h.mux.HandleFunc("GET "+base+"/{id}", j.get)
		h.mux.HandleFunc("GET "+base+"/{id}/log", j.log)
		h.mux.HandleFunc("GET "+base+"/schedule", j.getSchedule)
		h.mux.HandleFunc("POST "+base+"/schedule", j.setSchedule(http.StatusCreated))
		h.mux.HandleFunc("PUT "+base+"/schedule", j.setSchedule(http.StatusOK))
	}
}

// restJob is one kind of run in Harbor's shapes.
type restJob struct {
	path                        string
	list, get, log, getSchedule http.HandlerFunc
	setSchedule                 func(status int) http.HandlerFunc
}

// harborSchedule is Harbor's Schedule (the body of POST and PUT …/schedule).
type harborSchedule struct {
	Schedule struct {
		Type string `json:"type"`
		Cron string `json:"cron"`
	} `json:"schedule"`
	Parameters   map[string]any `json:"parameters"`
	ID           any            `json:"id"`
	Status       any            `json:"status"`
	CreationTime any            `json:"creation_time"`
	UpdateTime   any            `json:"update_time"`
}

// harborScheduleKinds maps Harbor's schedule types to Berth's.
var harborScheduleKinds = map[string]schedule.Kind{
	"None": schedule.None, "Hourly": schedule.Hourly, "Daily": schedule.Daily, "Weekly": schedule.Weekly, "Custom": schedule.Custom,
}

// schedule is the Berth schedule of a Harbor one (not Manual). Harbor's cron has a seconds field
// first ("0 0 * * * *"); Berth's runs on minutes, so a leading "0" seconds field is dropped.
func (b harborSchedule) schedule() (schedule.Schedule, error) {
	kind, ok := harborScheduleKinds[b.Schedule.Type]
	if !ok {
		return schedule.Schedule{}, fault.BadInput("schedule.type %.20q is not one of Hourly, Daily, Weekly, Custom, Manual, None", b.Schedule.Type)
	}
	cron := strings.Fields(b.Schedule.Cron)
	if len(cron) == 6 {
		if cron[0] != "0" {
			return schedule.Schedule{}, fault.BadInput("schedule.cron %q: Berth schedules run on whole minutes (seconds must be 0)", b.Schedule.Cron)
		}
		cron = cron[1:]
	}
	sc := schedule.Schedule{Kind: kind}
	if kind == schedule.Custom {
		sc.Cron = strings.Join(cron, " ")
	}
	return sc, nil
}

func harborScheduleObj(sc schedule.Schedule) map[string]any {
	t := "None"
	for name, k := range harborScheduleKinds {
		if k == sc.Kind {
			t = name
		}
	}
	cron := sc.Expr()
	if cron != "" {
		cron = "0 " + cron // Harbor's clients expect the seconds field
	}
	return map[string]any{"type": t, "cron": cron}
}

// harborJobStatus is Harbor's spelling of a run status ("SUCCESS" → "Success").
func harborJobStatus(s string) string {
	if s == "" {
		return ""
	}
	return s[:1] + strings.ToLower(s[1:])
}

// execHistory is Harbor's GCHistory / ExecHistory of a run.
func execHistory(id int, name, trigger, status string, params any, created time.Time, updated *time.Time) map[string]any {
	p, _ := json.Marshal(params)
	if updated == nil {
		updated = &created
	}
	out := map[string]any{"id": id, "job_name": name, "job_kind": trigger, "job_parameters": string(p),
		"job_status": harborJobStatus(status), "deleted": false, "creation_time": created, "update_time": *updated}
	if trigger == "SCHEDULE" {
		out["schedule"] = map[string]any{"type": "Custom"}
	}
	return out
}

// jobOf builds a restJob from one run service's methods.
func jobOf[R any, P any](h *rest, path, name string, svc *run.Service[R, P], history func(ctx context.Context, offset, limit int) ([]R, int, error),
	shape func(R) map[string]any, logOf func(R) string, params func(map[string]any) (P, error), start func(ctx context.Context, p P) (int, error)) restJob {
	runOf := func(w http.ResponseWriter, r *http.Request) (R, bool) {
		var none R
		id, err := pathID(r, "id")
		var v R
		if err == nil {
			v, err = svc.Run(r.Context(), id)
		}
		if err == nil && any(v) == any(none) {
			err = fault.NotFound(fmt.Sprintf("%s %d", name, id))
		}
		if err != nil {
			h.fail(w, err)
			return none, false
		}
		return v, true
	}
	return restJob{
		path: path,
		list: func(w http.ResponseWriter, r *http.Request) {
			pg, ok := h.listPage(w, r)
			if !ok {
				return
			}
			if _, ok := h.listQuery(w, r); !ok {
				return
			}
			runs, total, err := history(r.Context(), pg.Offset, pg.Limit)
			if err != nil {
				h.fail(w, err)
				return
			}
			out := make([]map[string]any, len(runs))
			for i, v := range runs {
				out[i] = shape(v)
			}
			writeList(w, r, total, out)
		},
		get: func(w http.ResponseWriter, r *http.Request) {
			if v, ok := runOf(w, r); ok {
				writeJSON(w, http.StatusOK, shape(v))
			}
		},
		log: func(w http.ResponseWriter, r *http.Request) {
			if v, ok := runOf(w, r); ok {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, _ = w.Write([]byte(logOf(v)))
			}
		},
		getSchedule: func(w http.ResponseWriter, r *http.Request) {
			sc, err := svc.Schedule(r.Context())
			if err != nil {
				h.fail(w, err)
				return
			}
			p, _ := json.Marshal(sc.Params)
			writeJSON(w, http.StatusOK, map[string]any{"id": 0, "job_name": name, "job_kind": "SCHEDULE",
				"job_parameters": string(p), "schedule": harborScheduleObj(sc.Schedule), "job_status": "",
				"deleted": false, "creation_time": sc.UpdatedAt, "update_time": sc.UpdatedAt})
		},
		setSchedule: func(status int) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				var body harborSchedule
				if err := readBody(w, r, &body); err != nil {
					h.fail(w, err)
					return
				}
				p, err := params(body.Parameters)
				if err != nil {
					h.fail(w, err)
					return
				}
				if body.Schedule.Type == "Manual" {
					id, err := start(r.Context(), p)
					h.created(w, err, func() string { return fmt.Sprintf("/api/v2.0/system/%s/%d", path, id) })
					return
				}
				sc, err := body.schedule()
				if err == nil {
					_, err = svc.SetSchedule(r.Context(), run.Schedule[P]{Schedule: sc, Params: p})
				}
				if err != nil {
					h.fail(w, err)
					return
				}
				w.WriteHeader(status)
			}
		},
	}
}

// paramBool, paramInt and paramString read one of Harbor's schedule parameters (absent: def).
func paramBool(m map[string]any, key string, def bool) (bool, error) {
	v, ok := m[key]
	if !ok {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fault.BadInput("parameters.%s must be true or false", key)
	}
	return b, nil
}

func paramInt(m map[string]any, key string, def int) (int, error) {
	v, ok := m[key]
	if !ok {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok || f != float64(int(f)) || f < -1<<31 || f > 1<<31 {
		return 0, fault.BadInput("parameters.%s must be an integer", key)
	}
	return int(f), nil
}

// onlyParams refuses a parameter the kind does not know.
func onlyParams(m map[string]any, known ...string) error {
	for k := range m {
		found := false
		for _, kk := range known {
			found = found || k == kk
		}
		if !found {
			return fault.BadInput("parameters.%.40q is not supported: use %s", k, strings.Join(known, ", "))
		}
	}
	return nil
}

func (h *rest) gcJob() restJob {
	return jobOf(h, "gc", "GARBAGE_COLLECTION", h.gc.Service, h.gc.History,
		func(g *ent.GCRun) map[string]any {
			return execHistory(g.ID, "GARBAGE_COLLECTION", string(g.Trigger), string(g.Status),
				gc.Params{DeleteUntagged: g.DeleteUntagged, DryRun: g.DryRun, Workers: g.Workers, RemoveOrphans: g.RemoveOrphans}, g.CreatedAt, g.EndedAt)
		},
		func(g *ent.GCRun) string { return g.Log },
		func(m map[string]any) (gc.Params, error) {
			var p gc.Params
			var err error
			if err = onlyParams(m, "delete_untagged", "dry_run", "workers", "remove_orphans"); err != nil {
				return p, err
			}
			if p.DeleteUntagged, err = paramBool(m, "delete_untagged", false); err != nil {
				return p, err
			}
			if p.DryRun, err = paramBool(m, "dry_run", false); err != nil {
				return p, err
			}
			if p.RemoveOrphans, err = paramBool(m, "remove_orphans", false); err != nil {
				return p, err
			}
			p.Workers, err = paramInt(m, "workers", 1)
			return p, err
		},
		func(ctx context.Context, p gc.Params) (int, error) {
			g, err := h.gc.Start(ctx, p)
			if err != nil {
				return 0, err
			}
			return g.ID, nil
		})
}

func (h *rest) purgeJob() restJob {
	return jobOf(h, "purgeaudit", "PURGE_AUDIT_LOG", h.purge.Service, h.purge.History,
		func(p *ent.PurgeRun) map[string]any {
			return execHistory(p.ID, "PURGE_AUDIT_LOG", string(p.Trigger), string(p.Status), map[string]any{
				"audit_retention_hour": p.RetentionHours, "include_operations": strings.Join(p.Operations, ","), "dry_run": p.DryRun,
			}, p.CreatedAt, p.EndedAt)
		},
		func(p *ent.PurgeRun) string { return p.Log },
		func(m map[string]any) (purge.Params, error) {
			var p purge.Params
			var err error
			if err = onlyParams(m, "audit_retention_hour", "include_operations", "dry_run"); err != nil {
				return p, err
			}
			if p.DryRun, err = paramBool(m, "dry_run", false); err != nil {
				return p, err
			}
			if p.RetentionHours, err = paramInt(m, "audit_retention_hour", 0); err != nil {
				return p, err
			}
			if v, ok := m["include_operations"]; ok {
				s, ok := v.(string)
				if !ok {
					return p, fault.BadInput("parameters.include_operations must be a comma-separated string such as \"create,delete,pull\"")
				}
				for _, op := range strings.Split(s, ",") {
					if op = strings.TrimSpace(op); op != "" {
						p.Operations = append(p.Operations, op)
					}
				}
			}
			if err := p.Validate(); err != nil {
				return p, fault.BadInput("%s", err.Error())
			}
			return p, nil
		},
		func(ctx context.Context, p purge.Params) (int, error) {
			run, err := h.purge.Start(ctx, p)
			if err != nil {
				return 0, err
			}
			return run.ID, nil
		})
}
