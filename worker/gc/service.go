package gc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/gcrun"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/worker/run"
)

// Service is what the API asks of garbage collection: start, stop and schedule runs (the
// garbage-collection:create action), read them and follow them live (garbage-collection:read).
// It authorizes the caller in ctx itself; GraphQL is an adapter over it.
type Service struct {
	pool      *pgxpool.Pool
	db        *ent.Client
	window    time.Duration
	jobs      *river.Client[pgx.Tx]
	auth      *auth.Service
	audit     *audit.Writer
	bus       *event.Bus
	schedules *run.Schedules[Params]
}

// NewService returns the GC service; window is how long a touched blob is never a candidate;
// jobs queues runs; bus carries the events that Follow listens to.
func NewService(pool *pgxpool.Pool, db *ent.Client, window time.Duration, jobs *river.Client[pgx.Tx],
	authz *auth.Service, auditLog *audit.Writer, bus *event.Bus) *Service {
	return &Service{pool: pool, db: db, window: window, jobs: jobs, auth: authz, audit: auditLog, bus: bus, schedules: schedules(pool)}
}

func (s *Service) allow(ctx context.Context, action auth.Action) error {
	return s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, action, "")
}

// Start starts a GC now with p; a conflict while another is pending or running.
func (s *Service) Start(ctx context.Context, p Params) (*ent.GCRun, error) {
	if err := s.allow(ctx, auth.ActionRunGC); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fault.BadInput("%s", err.Error())
	}
	id, err := start(ctx, s.pool, s.jobs, gcrun.KindGC, gcrun.TriggerManual, auth.PrincipalFrom(ctx).Name, p, s.window, 0)
	return s.started(ctx, id, err)
}

// PurgeUploads starts a purge of the uploads older than olderThanHours (nil: DefaultUploadAge).
func (s *Service) PurgeUploads(ctx context.Context, olderThanHours *int, dryRun bool) (*ent.GCRun, error) {
	if err := s.allow(ctx, auth.ActionRunGC); err != nil {
		return nil, err
	}
	age := DefaultUploadAge
	if olderThanHours != nil {
		if *olderThanHours < 1 {
			return nil, fault.BadInput("olderThanHours must be at least 1, not %d", *olderThanHours)
		}
		age = time.Duration(*olderThanHours) * time.Hour
	}
	id, err := start(ctx, s.pool, s.jobs, gcrun.KindUploadPurge, gcrun.TriggerManual, auth.PrincipalFrom(ctx).Name,
		Params{DryRun: dryRun, Workers: 1}, 0, age)
	return s.started(ctx, id, err)
}

// started answers a start: the run, or a conflict while another is under way.
func (s *Service) started(ctx context.Context, id int, err error) (*ent.GCRun, error) {
	if errors.Is(err, run.ErrBusy) {
		return nil, fault.Conflict("%s", err.Error())
	}
	if err != nil {
		return nil, err
	}
	return s.db.GCRun.Get(ctx, id)
}

// Stop stops a pending or running run; a running one stops after the items in hand.
func (s *Service) Stop(ctx context.Context, id int) (*ent.GCRun, error) {
	if err := s.allow(ctx, auth.ActionRunGC); err != nil {
		return nil, err
	}
	if err := Table.Stop(ctx, s.pool, s.jobs, id); errors.Is(err, run.ErrNoRun) {
		return nil, fault.NotFound(fmt.Sprintf("gc run %d", id))
	} else if err != nil {
		return nil, err
	}
	return s.db.GCRun.Get(ctx, id)
}

// Runs is the history, newest first when paginated, of one kind of run (nil: both).
func (s *Service) Runs(ctx context.Context, kind *gcrun.Kind) (*ent.GCRunQuery, error) {
	if err := s.allow(ctx, auth.ActionReadGC); err != nil {
		return nil, err
	}
	q := s.db.GCRun.Query()
	if kind != nil {
		q = q.Where(gcrun.KindEQ(*kind))
	}
	return q, nil
}

// Run is one run, or nil if there is none.
func (s *Service) Run(ctx context.Context, id int) (*ent.GCRun, error) {
	if err := s.allow(ctx, auth.ActionReadGC); err != nil {
		return nil, err
	}
	r, err := s.db.GCRun.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return r, err
}

// Schedule is when GC runs by itself.
func (s *Service) Schedule(ctx context.Context) (Schedule, error) {
	if err := s.allow(ctx, auth.ActionReadGC); err != nil {
		return Schedule{}, err
	}
	return s.schedules.Load(ctx)
}

// SetSchedule validates and saves the schedule; it counts from now.
func (s *Service) SetSchedule(ctx context.Context, sc Schedule) (Schedule, error) {
	if err := s.allow(ctx, auth.ActionRunGC); err != nil {
		return sc, err
	}
	if err := s.schedules.Validate(sc); err != nil {
		return sc, fault.BadInput("%s", err.Error())
	}
	sc, err := s.schedules.Save(ctx, sc)
	if err != nil {
		return sc, err
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpUpdate, ResourceType: "configuration", Resource: "gc schedule"})
	return sc, nil
}

// Follow streams a run as it changes, until it ends.
func (s *Service) Follow(ctx context.Context, id int) (<-chan *ent.GCRun, error) {
	if err := s.allow(ctx, auth.ActionReadGC); err != nil {
		return nil, err
	}
	return run.Follow(ctx, s.bus, id, run.Followed[*ent.GCRun]{
		Events: []event.Type{event.GCStarted, event.GCProgress, event.GCCompleted},
		Load: func(ctx context.Context) (*ent.GCRun, error) {
			r, err := s.db.GCRun.Get(ctx, id)
			if ent.IsNotFound(err) {
				return nil, fault.NotFound(fmt.Sprintf("gc run %d", id))
			}
			return r, err
		},
		Done: func(r *ent.GCRun) bool { return run.Finished(r.Status) },
		Same: func(a, b *ent.GCRun) bool {
			return a.Status == b.Status && a.BlobsDeleted == b.BlobsDeleted && a.UploadsPurged == b.UploadsPurged
		},
	})
}
