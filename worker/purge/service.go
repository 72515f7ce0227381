package purge

import (
	"context"

	"entgo.io/contrib/entgql"

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
	*run.Service[*ent.PurgeRun, Params]
	db *ent.Client
}

// NewService returns the purge service.
func NewService(deps run.Deps, db *ent.Client) *Service {
	return &Service{db: db, Service: run.NewService(deps, run.Kind[*ent.PurgeRun, Params]{
		Table: Table, Noun: "purge run", Read: auth.ActionReadPurge, Manage: auth.ActionRunPurge,
		Get:       db.PurgeRun.Get,
		Schedules: schedules(deps.Pool), ScheduleName: "audit log purge schedule",
		Events: []event.Type{event.PurgeProgress, event.PurgeCompleted},
		Done:   func(r *ent.PurgeRun) bool { return run.Finished(r.Status) },
		Same:   func(a, b *ent.PurgeRun) bool { return a.Status == b.Status && a.RowsPurged == b.RowsPurged },
	})}
}

// Start starts a purge now with p; a conflict while another is queued or running.
func (s *Service) Start(ctx context.Context, p Params) (*ent.PurgeRun, error) {
	return s.Begin(ctx, func(ctx context.Context, deps run.Deps, operator string) (int, error) {
		if err := p.Validate(); err != nil {
			return 0, fault.BadInput("%s", err.Error())
		}
		return start(ctx, deps.Pool, deps.Jobs, p, purgerun.TriggerManual, operator)
	})
}

// Page is a page of the history of purges, newest first.
func (s *Service) Page(ctx context.Context, after *entgql.Cursor[int], first *int, before *entgql.Cursor[int], last *int) (*ent.PurgeRunConnection, error) {
	if err := s.Allow(ctx, auth.ActionReadPurge); err != nil {
		return nil, err
	}
	return s.db.PurgeRun.Query().Paginate(ctx, after, first, before, last,
		ent.WithPurgeRunOrder(&ent.PurgeRunOrder{Field: ent.PurgeRunOrderFieldCreatedAt, Direction: entgql.OrderDirectionDesc}))
}

// History is a page of the purges, newest first, and how many there are: what Harbor's
// offset-paged /system/purgeaudit lists.
func (s *Service) History(ctx context.Context, offset, limit int) ([]*ent.PurgeRun, int, error) {
	if err := s.Allow(ctx, auth.ActionReadPurge); err != nil {
		return nil, 0, err
	}
	if offset < 0 || limit < 1 || limit > 100 {
		return nil, 0, fault.BadInput("a page holds 1 to 100 runs")
	}
	q := s.db.PurgeRun.Query()
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, err
	}
	runs, err := q.Order(ent.Desc(purgerun.FieldCreatedAt), ent.Desc(purgerun.FieldID)).Offset(offset).Limit(limit).All(ctx)
	return runs, total, err
}
