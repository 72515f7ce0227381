package gc

import (
	"context"
	"time"

	"entgo.io/contrib/entgql"

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
	*run.Service[*ent.GCRun, Params]
	db     *ent.Client
	window time.Duration
}

// NewService returns the GC service; window is how long a touched blob is never a candidate.
func NewService(deps run.Deps, db *ent.Client, window time.Duration) *Service {
	return &Service{db: db, window: window, Service: run.NewService(deps, run.Kind[*ent.GCRun, Params]{
		Table: Table, Noun: "gc run", Read: auth.ActionReadGC, Manage: auth.ActionRunGC,
		Get:       db.GCRun.Get,
		Schedules: schedules(deps.Pool), ScheduleName: "gc schedule",
		Events: []event.Type{event.GCStarted, event.GCProgress, event.GCCompleted},
		Done:   func(r *ent.GCRun) bool { return run.Finished(r.Status) },
		Same: func(a, b *ent.GCRun) bool {
			return a.Status == b.Status && a.BlobsDeleted == b.BlobsDeleted && a.UploadsPurged == b.UploadsPurged
		},
	})}
}

// Start starts a GC now with p; a conflict while another is pending or running.
func (s *Service) Start(ctx context.Context, p Params) (*ent.GCRun, error) {
	return s.Begin(ctx, func(ctx context.Context, deps run.Deps, operator string) (int, error) {
		if err := p.Validate(); err != nil {
			return 0, fault.BadInput("%s", err.Error())
		}
		return start(ctx, deps.Pool, deps.Jobs, gcrun.KindGC, gcrun.TriggerManual, operator, p, s.window, 0)
	})
}

// PurgeUploads starts a purge of the uploads older than olderThanHours (nil: DefaultUploadAge).
func (s *Service) PurgeUploads(ctx context.Context, olderThanHours *int, dryRun bool) (*ent.GCRun, error) {
	return s.Begin(ctx, func(ctx context.Context, deps run.Deps, operator string) (int, error) {
		age := DefaultUploadAge
		if olderThanHours != nil {
			if *olderThanHours < 1 {
				return 0, fault.BadInput("olderThanHours must be at least 1, not %d", *olderThanHours)
			}
			age = time.Duration(*olderThanHours) * time.Hour
		}
		return start(ctx, deps.Pool, deps.Jobs, gcrun.KindUploadPurge, gcrun.TriggerManual, operator, Params{DryRun: dryRun, Workers: 1}, 0, age)
	})
}

// Page is a page of the history, newest first, of one kind of run (nil: both).
func (s *Service) Page(ctx context.Context, kind *gcrun.Kind, after *entgql.Cursor[int], first *int, before *entgql.Cursor[int], last *int) (*ent.GCRunConnection, error) {
	if err := s.Allow(ctx, auth.ActionReadGC); err != nil {
		return nil, err
	}
	q := s.db.GCRun.Query()
	if kind != nil {
		q = q.Where(gcrun.KindEQ(*kind))
	}
	return q.Paginate(ctx, after, first, before, last,
		ent.WithGCRunOrder(&ent.GCRunOrder{Field: ent.GCRunOrderFieldCreatedAt, Direction: entgql.OrderDirectionDesc}))
}

// History is a page of the garbage collections (not upload purges), newest first, and how many
// there are: what Harbor's offset-paged /system/gc lists.
func (s *Service) History(ctx context.Context, offset, limit int) ([]*ent.GCRun, int, error) {
	if err := s.Allow(ctx, auth.ActionReadGC); err != nil {
		return nil, 0, err
	}
	if offset < 0 || limit < 1 || limit > 100 {
		return nil, 0, fault.BadInput("a page holds 1 to 100 runs")
	}
	q := s.db.GCRun.Query().Where(gcrun.KindEQ(gcrun.KindGC))
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, err
	}
	runs, err := q.Order(ent.Desc(gcrun.FieldCreatedAt), ent.Desc(gcrun.FieldID)).Offset(offset).Limit(limit).All(ctx)
	return runs, total, err
}
