package run

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
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
)

// Deps are what a kind of run's API service needs from the composition root.
type Deps struct {
	Pool  *pgxpool.Pool
	Jobs  *river.Client[pgx.Tx] // queues and stops runs
	Auth  *auth.Service
	Audit *audit.Writer
	Bus   *event.Bus // what Follow listens to
}

// Kind describes a kind of run (R is its ent record, P its parameters) to Service.
type Kind[R any, P any] struct {
	Table Table
	// Noun is what a caller hears a run called ("gc run": "gc run 7 not found").
	Noun string
	// Read guards reading and following runs and the schedule; Manage starting, stopping and
	// scheduling them. Both are system actions.
	Read, Manage auth.Action
	// Get loads a run (ent's Get: a missing one is ent's not-found error).
	Get func(ctx context.Context, id int) (R, error)
	// Schedules keeps the kind's schedule; ScheduleName names it in the audit log.
	Schedules    *Schedules[P]
	ScheduleName string
	// Events, Done and Same are how Follow watches a run (see Followed).
	Events []event.Type
	Done   func(R) bool
	Same   func(a, b R) bool
}

// Service is what the API asks of every kind of run, the same way for each: it authorizes the
// caller in ctx (the kind's Read and Manage actions), then stops, reads, schedules or follows runs.
// A kind's own service embeds it and adds how its runs start.
type Service[R any, P any] struct {
	deps Deps
	kind Kind[R, P]
}

// NewService returns the shared service of kind.
func NewService[R any, P any](deps Deps, kind Kind[R, P]) *Service[R, P] {
	return &Service[R, P]{deps: deps, kind: kind}
}

// Allow checks that the caller may do action (Read or Manage): nil, or the refusal to report.
func (s *Service[R, P]) Allow(ctx context.Context, action auth.Action) error {
	return s.deps.Auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, action, "")
}

// Begin checks that the caller may start runs, then starts one with start (which validates its
// parameters, records the run with the caller's name as operator, and queues it: see Start) and
// returns it; a conflict while another run is under way.
func (s *Service[R, P]) Begin(ctx context.Context, start func(ctx context.Context, deps Deps, operator string) (int, error)) (R, error) {
	var none R
	if err := s.Allow(ctx, s.kind.Manage); err != nil {
		return none, err
	}
	id, err := start(ctx, s.deps, auth.PrincipalFrom(ctx).Name)
	if errors.Is(err, ErrBusy) {
		return none, fault.Conflict("%s", err.Error())
	}
	if err != nil {
		return none, err
	}
	return s.kind.Get(ctx, id)
}

// get loads run id, or says it is not found.
func (s *Service[R, P]) get(ctx context.Context, id int) (R, error) {
	r, err := s.kind.Get(ctx, id)
	if ent.IsNotFound(err) {
		return r, fault.NotFound(fmt.Sprintf("%s %d", s.kind.Noun, id))
	}
	return r, err
}

// Stop stops a pending or running run (see Table.Stop) and returns it.
func (s *Service[R, P]) Stop(ctx context.Context, id int) (R, error) {
	var none R
	if err := s.Allow(ctx, s.kind.Manage); err != nil {
		return none, err
	}
	if err := s.kind.Table.Stop(ctx, s.deps.Pool, s.deps.Jobs, id); errors.Is(err, ErrNoRun) {
		return none, fault.NotFound(fmt.Sprintf("%s %d", s.kind.Noun, id))
	} else if err != nil {
		return none, err
	}
	return s.get(ctx, id)
}

// Run is one run, or nil if there is none.
func (s *Service[R, P]) Run(ctx context.Context, id int) (R, error) {
	var none R
	if err := s.Allow(ctx, s.kind.Read); err != nil {
		return none, err
	}
	r, err := s.kind.Get(ctx, id)
	if ent.IsNotFound(err) {
		return none, nil
	}
	return r, err
}

// Schedule is when runs start by themselves.
func (s *Service[R, P]) Schedule(ctx context.Context) (Schedule[P], error) {
	if err := s.Allow(ctx, s.kind.Read); err != nil {
		return Schedule[P]{}, err
	}
	return s.kind.Schedules.Load(ctx)
}

// SetSchedule validates and saves the schedule, which counts from now, and audits the change.
func (s *Service[R, P]) SetSchedule(ctx context.Context, sc Schedule[P]) (Schedule[P], error) {
	if err := s.Allow(ctx, s.kind.Manage); err != nil {
		return sc, err
	}
	if err := s.kind.Schedules.Validate(sc); err != nil {
		return sc, fault.BadInput("%s", err.Error())
	}
	sc, err := s.kind.Schedules.Save(ctx, sc)
	if err != nil {
		return sc, err
	}
	s.deps.Audit.Log(ctx, audit.Entry{Operation: audit.OpUpdate, ResourceType: "configuration", Resource: s.kind.ScheduleName})
	return sc, nil
}

// Follow streams a run as it changes, until it ends.
func (s *Service[R, P]) Follow(ctx context.Context, id int) (<-chan R, error) {
	if err := s.Allow(ctx, s.kind.Read); err != nil {
		return nil, err
	}
	return Follow(ctx, s.deps.Bus, id, Followed[R]{Events: s.kind.Events, Done: s.kind.Done, Same: s.kind.Same,
		Load: func(ctx context.Context) (R, error) { return s.get(ctx, id) }})
}
