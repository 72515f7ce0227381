package purge

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/purgerun"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/worker/run"
)

// Service is what the API asks of audit purges: start, stop and schedule them (the
// purge-audit:create action), read them and follow them live (purge-audit:read). It authorizes
// the caller in ctx itself; GraphQL is an adapter over it.
type Service struct {
	pool      *pgxpool.Pool
	db        *ent.Client
	jobs      *river.Client[pgx.Tx]
	auth      *auth.Service
	audit     *audit.Writer
	bus       *event.Bus
	schedules *run.Schedules[Params]
}

// NewService returns the purge service: jobs queues runs; bus carries the events Follow hears.
func NewService(pool *pgxpool.Pool, db *ent.Client, jobs *river.Client[pgx.Tx], authz *auth.Service, auditLog *audit.Writer, bus *event.Bus) *Service {
	return &Service{pool: pool, db: db, jobs: jobs, auth: authz, audit: auditLog, bus: bus, schedules: schedules(pool)}
}

func (s *Service) allow(ctx context.Context, action auth.Action) error {
	return s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, action, "")
}

// Start starts a purge now with p; a conflict while another is queued or running.
func (s *Service) Start(ctx context.Context, p Params) (*ent.PurgeRun, error) {
	if err := s.allow(ctx, auth.ActionRunPurge); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fault.BadInput("%s", err.Error())
	}
	id, err := start(ctx, s.pool, s.jobs, p, purgerun.TriggerManual, auth.PrincipalFrom(ctx).Name)
	if errors.Is(err, run.ErrBusy) {
		return nil, fault.Conflict("%s", err.Error())
	}
	if err != nil {
		return nil, err
	}
	return s.db.PurgeRun.Get(ctx, id)
}

// Stop stops a pending or running purge; a running one stops after its current batch.
func (s *Service) Stop(ctx context.Context, id int) (*ent.PurgeRun, error) {
	if err := s.allow(ctx, auth.ActionRunPurge); err != nil {
		return nil, err
	}
	if err := Table.Stop(ctx, s.pool, s.jobs, id); errors.Is(err, run.ErrNoRun) {
		return nil, fault.NotFound(fmt.Sprintf("purge run %d", id))
	} else if err != nil {
		return nil, err
	}
	return s.db.PurgeRun.Get(ctx, id)
}

// Runs is the history of purges, for pagination.
func (s *Service) Runs(ctx context.Context) (*ent.PurgeRunQuery, error) {
	if err := s.allow(ctx, auth.ActionReadPurge); err != nil {
		return nil, err
	}
	return s.db.PurgeRun.Query(), nil
}

// Run is one purge, or nil if there is none.
func (s *Service) Run(ctx context.Context, id int) (*ent.PurgeRun, error) {
	if err := s.allow(ctx, auth.ActionReadPurge); err != nil {
		return nil, err
	}
	r, err := s.db.PurgeRun.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return r, err
}

// Schedule is when purges run by itself. Reading it is part of reading the audit settings,
// whose caller the settings' owner has authorized.
func (s *Service) Schedule(ctx context.Context) (Schedule, error) { return s.schedules.Load(ctx) }

// SetSchedule validates and saves the schedule; it counts from now.
func (s *Service) SetSchedule(ctx context.Context, sc Schedule) (Schedule, error) {
	if err := s.allow(ctx, auth.ActionRunPurge); err != nil {
		return sc, err
	}
	if err := s.schedules.Validate(sc); err != nil {
		return sc, fault.BadInput("%s", err.Error())
	}
	sc, err := s.schedules.Save(ctx, sc)
	if err != nil {
		return sc, err
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpUpdate, ResourceType: "configuration", Resource: "audit log purge schedule"})
	return sc, nil
}

// Follow streams a purge as it changes, until it ends.
func (s *Service) Follow(ctx context.Context, id int) (<-chan *ent.PurgeRun, error) {
	if err := s.allow(ctx, auth.ActionReadPurge); err != nil {
		return nil, err
	}
	return run.Follow(ctx, s.bus, id, run.Followed[*ent.PurgeRun]{
		Events: []event.Type{event.PurgeProgress, event.PurgeCompleted},
		Load: func(ctx context.Context) (*ent.PurgeRun, error) {
			r, err := s.db.PurgeRun.Get(ctx, id)
			if ent.IsNotFound(err) {
				return nil, fault.NotFound(fmt.Sprintf("purge run %d", id))
			}
			return r, err
		},
		Done: func(r *ent.PurgeRun) bool { return run.Finished(r.Status) },
		Same: func(a, b *ent.PurgeRun) bool { return a.Status == b.Status && a.RowsPurged == b.RowsPurged },
	})
}
