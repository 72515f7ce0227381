// Package worker runs Berth's background jobs on River, in the same PostgreSQL as everything else.
// It owns the River client, its queues and its periodic schedules; each kind of job lives in a
// subpackage (or, for small housekeeping, beside this file) with the service the API calls.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/advisory"
	"github.com/berth-registry/berth/egress"
	"github.com/berth-registry/berth/ent"
	entevent "github.com/berth-registry/berth/ent/event"
	"github.com/berth-registry/berth/ent/session"
	"github.com/berth-registry/berth/quota"
	"github.com/berth-registry/berth/retention"
	"github.com/berth-registry/berth/signature"
	"github.com/berth-registry/berth/tagrule"
	"github.com/berth-registry/berth/worker/export"
	"github.com/berth-registry/berth/worker/gc"
	"github.com/berth-registry/berth/worker/purge"
	"github.com/berth-registry/berth/worker/replication"
	"github.com/berth-registry/berth/worker/run"
	"github.com/berth-registry/berth/worker/scan"
	"github.com/berth-registry/berth/worker/webhook"
)

// Deps are the parts jobs need, handed in by the composition root.
type Deps struct {
	// Quota keeps project storage quotas: its recompute job and the sweep of expired reservations
	// run here (nil: neither is registered).
	Quota *quota.Ledger
	// TagRules guard tag retention's deletes (nil: retention runs are not worked here);
	// RetentionGrace protects artifacts pushed or pulled that recently from retention.
	TagRules       *tagrule.Guard
	RetentionGrace time.Duration
	DB             *ent.Client
	Pool           *pgxpool.Pool
	Log            *slog.Logger
	// Kick has events recorded by jobs dispatched at once (nil: within the dispatcher's sweep).
	Kick func()
	// WebhookRetryBase is the first wait before a failed webhook delivery is retried; each retry
	// doubles it. Zero means 10 seconds. (A retry also waits for River's scheduler, which runs
	// every 5 seconds.)
	WebhookRetryBase time.Duration
	// Exports writes CVE export files to the registry's storage; nil leaves exports unworked.
	Exports *export.Service
	// ExportTTL is how long an undownloaded export file is kept (zero: 24 hours).
	ExportTTL time.Duration
	// Storage is the registry's storage driver, which garbage collection and upload purging delete through.
	Storage storagedriver.StorageDriver
	// Artifacts deletes untagged artifacts for garbage collection, as the registry API does.
	Artifacts gc.ArtifactDeleter
	// GCWindow is how long a touched blob is never a GC candidate (registry.DefaultGCWindow if zero).
	GCWindow time.Duration
	// UploadPurgeAge, UploadPurgeInterval and UploadPurgeDryRun drive the scheduled upload purge;
	// zero age or interval means gc.DefaultUploadAge and gc.DefaultUploadPurgeInterval.
	UploadPurgeAge      time.Duration
	UploadPurgeInterval time.Duration
	UploadPurgeDryRun   bool
	// Content reads images for the built-in scanner; Advisories is its vulnerability database;
	// Adapter talks to pluggable scanners (nil: this process cannot).
	Content    scan.Content
	Advisories *advisory.Store
	Adapter    *scan.AdapterClient
	// ScanUnpack is the built-in scanner's own folder and the limits of what one scan unpacks.
	ScanUnpack scan.Unpack
	// ScanAll is the parsed scan-all schedule (nil: never).
	ScanAll river.PeriodicSchedule
	// Egress decides which addresses webhook deliveries may reach (nil: public ones only).
	Egress *egress.Policy
	// JobLease is how long a run's lease lasts without renewal (run.DefaultLease if zero): a
	// worker that dies mid-run is noticed, and its run ended, within about this long.
	JobLease time.Duration
	// Replication performs replication executions (nil: this process does not).
	Replication *replication.Worker
	// Middleware wraps every job this process inserts and works, ahead of Berth's own (tracing:
	// a job's span links to the request that queued it); nil entries are skipped.
	Middleware []rivertype.Middleware
	// Signatures verifies signatures against trusted keys (nil: this process does not).
	Signatures *signature.Verifier
	// Metrics counts the jobs this process works (nil: not counted).
	Metrics *JobMetrics
	// ProxyCacheTTL: artifacts of proxy-cache projects not pulled for this long are deleted
	// (DefaultProxyCacheTTL if zero).
	ProxyCacheTTL time.Duration
}

// leasedKinds are the jobs whose attempts hold a run lease: each records a run that must not
// be left under way when its worker dies.
var leasedKinds = []string{gc.Args{}.Kind(), purge.Args{}.Kind(), export.Args{}.Kind(), scan.Args{}.Kind(), scan.AllArgs{}.Kind(),
	replication.Args{}.Kind(), retention.Args{}.Kind()}

// Leases returns the middleware that holds run leases for deps' jobs.
func Leases(deps Deps) *run.Leases {
	return run.NewLeases(deps.Pool, deps.JobLease, deps.Log, leasedKinds...)
}

// NewReconciler returns the reconciler of every kind of run: it ends the runs of dead workers and
// of jobs that are gone, and hands back garbage collection's lapsed claims on blobs.
func NewReconciler(deps Deps) *run.Reconciler {
	return run.NewReconciler(deps.Pool, Leases(deps), deps.Log,
		[]run.Table{gc.Table, purge.Table, export.Table, scan.Table, replication.Table, retention.Table}, gc.ReleaseLapsedClaims)
}

// NewClient returns a River client over pool. With work true it works jobs and runs the periodic
// schedules (River elects one leader among all clients for those); with work false it can only
// insert jobs, for a `berth serve` that leaves the work to `berth worker` processes.
func NewClient(pool *pgxpool.Pool, deps Deps, work bool) (*river.Client[pgx.Tx], error) {
	cfg := &river.Config{Logger: deps.Log}
	for _, m := range deps.Middleware {
		if m != nil {
			cfg.Middleware = append(cfg.Middleware, m)
		}
	}
	if work {
		if deps.Metrics != nil {
			cfg.Middleware = append(cfg.Middleware, deps.Metrics)
		}
		cfg.Middleware = append(cfg.Middleware, Leases(deps))
		workers := river.NewWorkers()
		retryBase := deps.WebhookRetryBase
		if retryBase == 0 {
			retryBase = 10 * time.Second
		}
		river.AddWorker(workers, &sessionPurgeWorker{db: deps.DB})
		river.AddWorker(workers, &eventPruneWorker{db: deps.DB})
		river.AddWorker(workers, webhook.NewWorker(deps.DB, deps.Log, retryBase, deps.Egress))
		river.AddWorker(workers, purge.NewWorker(deps.DB, deps.Log, deps.Kick))
		river.AddWorker(workers, purge.NewScheduler(deps.Pool))
		river.AddWorker(workers, gc.NewWorker(deps.DB, deps.Storage, deps.Artifacts, deps.Log, deps.Kick))
		river.AddWorker(workers, gc.NewScheduler(deps.Pool, deps.GCWindow))
		river.AddWorker(workers, gc.NewUploadPurgeScheduler(deps.Pool))
		uploadAge, uploadEvery := deps.UploadPurgeAge, deps.UploadPurgeInterval
		if uploadAge == 0 {
			uploadAge = gc.DefaultUploadAge
		}
		if uploadEvery == 0 {
			uploadEvery = gc.DefaultUploadPurgeInterval
		}
		river.AddWorker(workers, scan.NewWorker(deps.DB, deps.Content, deps.Advisories, deps.Adapter, deps.Kick, deps.Log, deps.ScanUnpack))
		river.AddWorker(workers, scan.NewAllWorker(scan.NewService(deps.Pool, deps.DB)))
		if deps.Signatures != nil {
			river.AddWorker(workers, signature.NewVerifyWorker(deps.Signatures))
			river.AddWorker(workers, signature.NewReverifyWorker(deps.Signatures))
		}
		proxyTTL := deps.ProxyCacheTTL
		if proxyTTL == 0 {
			proxyTTL = DefaultProxyCacheTTL
		}
		river.AddWorker(workers, &proxyEvictWorker{db: deps.DB, artifacts: deps.Artifacts, ttl: proxyTTL})
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: 10},
			webhook.Queue:      {MaxWorkers: 20},
		}
		if deps.Exports != nil {
			river.AddWorker(workers, export.NewWorker(deps.Exports, deps.ExportTTL, deps.Kick))
			river.AddWorker(workers, export.NewExpirer(deps.Exports))
			cfg.Queues[export.Queue] = river.QueueConfig{MaxWorkers: export.QueueWorkers}
		}
		if deps.TagRules != nil {
			river.AddWorker(workers, retention.NewWorker(deps.DB, deps.Artifacts, deps.TagRules, deps.RetentionGrace, deps.Log, deps.Kick))
			river.AddWorker(workers, retention.NewScheduler(deps.DB, deps.Pool, deps.Log))
		}
		if deps.Quota != nil {
			river.AddWorker(workers, quota.NewWorker(deps.DB, deps.Quota))
			river.AddWorker(workers, quota.NewSweeper(deps.Quota))
		}
		cfg.PeriodicJobs = []*river.PeriodicJob{
			run.Every(time.Hour, SessionPurgeArgs{}, "session-purge", true),
			run.Every(time.Hour, EventPruneArgs{}, "event-prune", true),
			run.Every(time.Minute, purge.SchedulerArgs{}, "audit-purge-scheduler", true),
			run.Every(time.Minute, gc.SchedulerArgs{}, "gc-scheduler", true),
			run.Every(uploadEvery, gc.UploadPurgeArgs{Age: uploadAge, DryRun: deps.UploadPurgeDryRun}, "upload-purge", false),
			run.Every(time.Hour, ProxyEvictArgs{}, "proxy-cache-evict", true),
		}
		if deps.Exports != nil {
			cfg.PeriodicJobs = append(cfg.PeriodicJobs, run.Every(10*time.Minute, export.ExpireArgs{}, "cve-export-expire", true))
		}
		if deps.TagRules != nil {
			cfg.PeriodicJobs = append(cfg.PeriodicJobs, run.Every(time.Minute, retention.SchedulerArgs{}, "tag-retention-scheduler", true))
		}
		if deps.Quota != nil {
			cfg.PeriodicJobs = append(cfg.PeriodicJobs, run.Every(time.Minute, quota.SweepArgs{}, "quota-sweep", true))
		}
		if deps.Replication != nil {
			river.AddWorker(workers, deps.Replication)
			river.AddWorker(workers, replication.NewScheduler(deps.Pool))
			cfg.Queues[replication.Queue] = river.QueueConfig{MaxWorkers: replication.QueueWorkers}
			cfg.PeriodicJobs = append(cfg.PeriodicJobs, run.Every(time.Minute, replication.SchedulerArgs{}, "replication-scheduler", true))
		}
		if deps.ScanAll != nil {
			cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(deps.ScanAll,
				func() (river.JobArgs, *river.InsertOpts) { return scan.AllArgs{}, nil }, &river.PeriodicJobOpts{ID: "scan-all"}))
		}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return client, nil
}

// Start starts client if it works jobs, with the run reconciler beside it until ctx ends; an
// insert-only client has nothing to start.
func Start(ctx context.Context, client *river.Client[pgx.Tx], deps Deps, work bool) error {
	if !work {
		return nil
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	go NewReconciler(deps).Run(ctx)
	return nil
}

// Stop stops client: running jobs get soft to finish; then their contexts are cancelled, so each
// records how its run ended (stopped by the shutdown) rather than leaving it under way, and Stop
// waits up to hard more for that. Only then may the caller close the database pool.
func Stop(ctx context.Context, client *river.Client[pgx.Tx], soft, hard time.Duration) error {
	softCtx, cancel := context.WithTimeout(ctx, soft)
	err := client.Stop(softCtx)
	cancel()
	if err == nil {
		return nil
	}
	hardCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hard)
	defer cancel()
	if err := client.StopAndCancel(hardCtx); err != nil {
		return fmt.Errorf("jobs did not stop within %s of being cancelled: %w", hard, err)
	}
	return nil
}

// SessionPurgeArgs is the hourly job that deletes expired dashboard sessions.
type SessionPurgeArgs struct{ run.Hourly }

// Kind names the job in River's table.
func (SessionPurgeArgs) Kind() string { return "session_purge" }

type sessionPurgeWorker struct {
	river.WorkerDefaults[SessionPurgeArgs]
	db *ent.Client
}

func (w *sessionPurgeWorker) Work(ctx context.Context, job *river.Job[SessionPurgeArgs]) error {
	_, err := w.db.Session.Delete().Where(session.ExpiresAtLT(time.Now())).Exec(ctx)
	return err
}

// EventRetention is how long dispatched events stay in the outbox table.
const EventRetention = 7 * 24 * time.Hour

// EventPruneArgs is the hourly job that deletes dispatched events past EventRetention.
type EventPruneArgs struct{ run.Hourly }

// Kind names the job in River's table.
func (EventPruneArgs) Kind() string { return "event_prune" }

type eventPruneWorker struct {
	river.WorkerDefaults[EventPruneArgs]
	db *ent.Client
}

func (w *eventPruneWorker) Work(ctx context.Context, job *river.Job[EventPruneArgs]) error {
	_, err := w.db.Event.Delete().
		Where(entevent.DispatchedAtNotNil(), entevent.OccurredAtLT(time.Now().Add(-EventRetention))).
		Exec(ctx)
	return err
}
