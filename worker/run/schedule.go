package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/worker/schedule"
)

// Schedule is when a kind of run starts by itself (worker/schedule's rule: NONE, HOURLY, DAILY,
// WEEKLY or a CUSTOM cron expression, with its last change and last run) and the parameters its
// runs take.
type Schedule[P any] struct {
	schedule.Schedule
	Params P `json:"params"`
}

// Schedules keeps one kind of run's schedule in the settings table and starts its runs when due.
type Schedules[P any] struct {
	pool     *pgxpool.Pool
	key      string
	initial  Schedule[P]
	validate func(Schedule[P]) error
}

// NewSchedules returns the schedule stored under key: initial until one is saved; validate
// checks a schedule's parameters before it is saved (its timing is checked here).
func NewSchedules[P any](pool *pgxpool.Pool, key string, initial P, validate func(Schedule[P]) error) *Schedules[P] {
	return &Schedules[P]{pool: pool, key: key, validate: validate,
		initial: Schedule[P]{Schedule: schedule.Schedule{Kind: schedule.None}, Params: initial}}
}

// Load reads the schedule.
func (s *Schedules[P]) Load(ctx context.Context) (Schedule[P], error) {
	sc := s.initial
	if err := audit.LoadSetting(ctx, s.pool, s.key, &sc); err != nil {
		return sc, fmt.Errorf("load schedule %s: %w", s.key, err)
	}
	return sc, nil
}

// Validate returns an error that says what is wrong with sc's timing or parameters.
func (s *Schedules[P]) Validate(sc Schedule[P]) error {
	if err := sc.Schedule.Validate(); err != nil {
		return err
	}
	return s.validate(sc)
}

// Save validates and stores sc; it counts from now. Its last run is kept.
func (s *Schedules[P]) Save(ctx context.Context, sc Schedule[P]) (Schedule[P], error) {
	if err := s.Validate(sc); err != nil {
		return sc, err
	}
	sc.UpdatedAt = time.Now().UTC()
	if err := audit.SaveSetting(ctx, s.pool, s.key, sc); err != nil {
		return sc, fmt.Errorf("save schedule %s: %w", s.key, err)
	}
	return sc, nil
}

// Tick starts a run with start if the schedule says one is due, and records the run. A run
// still under way when the next is due (start returns ErrBusy) makes this one skip: the
// schedule moves on.
func (s *Schedules[P]) Tick(ctx context.Context, start func(ctx context.Context, p P) error) error {
	sc, err := s.Load(ctx)
	if err != nil {
		return err
	}
	if !sc.Due(time.Now()) {
		return nil
	}
	if err := start(ctx, sc.Params); err != nil && !errors.Is(err, ErrBusy) {
		return err
	}
	now := time.Now().UTC()
	sc.LastRunAt = &now
	return audit.SaveSetting(ctx, s.pool, s.key, sc)
}

// Minutely is embedded in the args of a job queued every minute (a scheduler: one kind per
// schedule): it makes the job unique per minute, so that replicas never queue it twice.
type Minutely struct{}

// InsertOpts makes the job unique per minute.
func (Minutely) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// Hourly is Minutely for a job queued every hour (housekeeping, the upload purge).
type Hourly struct{}

// InsertOpts makes the job unique per hour.
func (Hourly) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
}

// Scheduler is the job (every minute, on River's elected leader: see Every) that starts a
// scheduled run of one kind when its schedule is due.
type Scheduler[A river.JobArgs, P any] struct {
	river.WorkerDefaults[A]
	schedules *Schedules[P]
	start     func(ctx context.Context, client *river.Client[pgx.Tx], p P) error
}

// NewScheduler returns the scheduler of schedules; start starts one run with the schedule's
// parameters (returning an ErrBusy error while one is under way).
func NewScheduler[A river.JobArgs, P any](schedules *Schedules[P], start func(ctx context.Context, client *river.Client[pgx.Tx], p P) error) *Scheduler[A, P] {
	return &Scheduler[A, P]{schedules: schedules, start: start}
}

// Work starts a run if one is due.
func (w *Scheduler[A, P]) Work(ctx context.Context, _ *river.Job[A]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	return w.schedules.Tick(ctx, func(ctx context.Context, p P) error { return w.start(ctx, client, p) })
}
