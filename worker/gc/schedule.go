package gc

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/ent/gcrun"
	"github.com/berth-registry/berth/worker/run"
)

// Schedule is when GC runs by itself and with which parameters, kept in the settings table.
type Schedule = run.Schedule[Params]

// schedules is the GC schedule's store: one worker by default, the parameters always checked.
func schedules(pool *pgxpool.Pool) *run.Schedules[Params] {
	return run.NewSchedules(pool, "gc.schedule", Params{Workers: 1}, func(s Schedule) error { return s.Params.Validate() })
}

// SchedulerArgs is the periodic job (every minute, on River's elected leader) that starts a
// scheduled GC when one is due.
type SchedulerArgs struct{ run.Minutely }

// Kind names the job in River's table.
func (SchedulerArgs) Kind() string { return "gc_scheduler" }

// NewScheduler returns the scheduler worker: a GC still running when the next is due makes this
// one skip.
func NewScheduler(pool *pgxpool.Pool, window time.Duration) *run.Scheduler[SchedulerArgs, Params] {
	return run.NewScheduler[SchedulerArgs](schedules(pool), func(ctx context.Context, client *river.Client[pgx.Tx], p Params) error {
		_, err := start(ctx, pool, client, gcrun.KindGC, gcrun.TriggerSchedule, "scheduler", p, window, 0)
		return err
	})
}

// UploadPurgeArgs is the periodic job that starts an upload purge every configured interval.
type UploadPurgeArgs struct {
	run.Hourly               // unique per hour, so replicas never queue it twice
	Age        time.Duration `json:"age"`
	DryRun     bool          `json:"dry_run"`
}

// Kind names the job in River's table.
func (UploadPurgeArgs) Kind() string { return "upload_purge_scheduler" }

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
