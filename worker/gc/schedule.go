package gc

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/ent/gcrun"
	"github.com/berth-registry/berth/worker/schedule"
)

// Schedule is when GC runs by itself and with which parameters, kept in the settings table.
type Schedule struct {
	schedule.Schedule
	Params Params `json:"params"`
}

const scheduleKey = "gc.schedule"

// Validate checks the schedule and its parameters.
func (s Schedule) Validate() error {
	if err := s.Schedule.Validate(); err != nil {
		return err
	}
	return s.Params.Validate()
}

// LoadSchedule reads the GC schedule (NONE if never set).
func LoadSchedule(ctx context.Context, pool *pgxpool.Pool) (Schedule, error) {
	s := Schedule{Schedule: schedule.Schedule{Kind: schedule.None}, Params: Params{Workers: 1}}
	return s, audit.LoadSetting(ctx, pool, scheduleKey, &s)
}

// SaveSchedule validates and stores a schedule; it counts from now.
func SaveSchedule(ctx context.Context, pool *pgxpool.Pool, s Schedule) (Schedule, error) {
	if err := s.Validate(); err != nil {
		return s, err
	}
	s.UpdatedAt = time.Now().UTC()
	return s, audit.SaveSetting(ctx, pool, scheduleKey, s)
}

// SchedulerArgs is the periodic job (every minute, on River's elected leader) that starts a
// scheduled GC when one is due.
type SchedulerArgs struct{}

// Kind names the job in River's table.
func (SchedulerArgs) Kind() string { return "gc_scheduler" }

// InsertOpts makes it unique per minute.
func (SchedulerArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// Scheduler starts scheduled GC runs.
type Scheduler struct {
	river.WorkerDefaults[SchedulerArgs]
	pool   *pgxpool.Pool
	window time.Duration
}

// NewScheduler returns the scheduler worker.
func NewScheduler(pool *pgxpool.Pool, window time.Duration) *Scheduler {
	return &Scheduler{pool: pool, window: window}
}

// Work starts a run if the schedule says one is due. A GC still running when the next is due
// makes this one skip: the schedule moves on.
func (w *Scheduler) Work(ctx context.Context, job *river.Job[SchedulerArgs]) error {
	s, err := LoadSchedule(ctx, w.pool)
	if err != nil {
		return err
	}
	if !s.Due(time.Now()) {
		return nil
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	if _, err := start(ctx, w.pool, client, gcrun.KindGC, gcrun.TriggerSchedule, "scheduler", s.Params, w.window, 0); err != nil && !errors.Is(err, ErrRunning) {
		return err
	}
	now := time.Now().UTC()
	s.LastRunAt = &now
	return audit.SaveSetting(ctx, w.pool, scheduleKey, s)
}

// UploadPurgeArgs is the periodic job that starts an upload purge every configured interval.
type UploadPurgeArgs struct {
	Age    time.Duration `json:"age"`
	DryRun bool          `json:"dry_run"`
}

// Kind names the job in River's table.
func (UploadPurgeArgs) Kind() string { return "upload_purge_scheduler" }

// InsertOpts makes it unique per hour, so replicas never queue it twice.
func (UploadPurgeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
}

// UploadPurgeScheduler records and queues a scheduled upload purge.
type UploadPurgeScheduler struct {
	river.WorkerDefaults[UploadPurgeArgs]
	pool *pgxpool.Pool
}

// NewUploadPurgeScheduler returns the worker that starts scheduled upload purges.
func NewUploadPurgeScheduler(pool *pgxpool.Pool) *UploadPurgeScheduler {
	return &UploadPurgeScheduler{pool: pool}
}

// Work records a run and queues it.
func (w *UploadPurgeScheduler) Work(ctx context.Context, job *river.Job[UploadPurgeArgs]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	_, err = start(ctx, w.pool, client, gcrun.KindUploadPurge, gcrun.TriggerSchedule, "scheduler",
		Params{DryRun: job.Args.DryRun, Workers: 1}, 0, job.Args.Age)
	if errors.Is(err, ErrUploadPurgeRunning) {
		return nil // the one running does the work
	}
	return err
}
