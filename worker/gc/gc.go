// Package gc runs garbage collection and upload purging: on demand or on a schedule kept in the
// database, one GC at a time, each run recorded in gc_runs with its parameters, counts and log,
// and reported as GC_* events while it runs. It owns the blobs table's GC statuses (changed only by
// compare-and-set on their version, as registry.BlobGuard does on the push side) and deletes
// through Distribution's storage driver; it never deletes an artifact except through the registry.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/gcrun"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/worker/run"
)

// Limits and defaults of a run's parameters (Harbor's).
const (
	MinWorkers = 1
	MaxWorkers = 10
	// DefaultUploadAge is how old a half-finished upload must be before a purge removes it.
	DefaultUploadAge = 168 * time.Hour
	// DefaultUploadPurgeInterval is how often uploads are purged.
	DefaultUploadPurgeInterval = 24 * time.Hour
	// keptRuns is how many past runs of each kind the history keeps.
	keptRuns = 50
	// page is how many marked blobs the sweep reads at a time.
	page = 1000
	// maxLoggedFailures bounds the failure lines a run's log keeps (the count is always exact).
	maxLoggedFailures = 200
)

// ErrRunning is returned when a GC is asked for while another is pending or running.
var ErrRunning = run.Busy("a garbage collection is already running: wait for it or stop it")

// ErrUploadPurgeRunning is returned when an upload purge is asked for while another is pending or running.
var ErrUploadPurgeRunning = run.Busy("an upload purge is already running: wait for it or stop it")

// Table is where runs are recorded, for the shared run lifecycle: the history keeps the newest
// runs of each kind.
var Table = run.Table{Name: "gc_runs", What: "garbage collection", End: run.LogEnd,
	StoppedBeforeStart: run.LogStoppedBeforeStart, Keep: keptRuns, Scope: "kind"}

// Timeout bounds one run: a GC of millions of blobs on an object store takes hours.
const Timeout = 12 * time.Hour

// Params say what a GC does.
type Params struct {
	// DeleteUntagged deletes artifacts without tags first (not index children, not accessories,
	// not pushed within the window), so their blobs can go too.
	DeleteUntagged bool `json:"delete_untagged"`
	// DryRun reports what would go and the bytes it would free, deleting nothing.
	DryRun bool `json:"dry_run"`
	// Workers is how many items are deleted at once: 1 to 10.
	Workers int `json:"workers"`
	// RemoveOrphans deletes blobs storage holds that the database never knew; otherwise they are
	// only reported.
	RemoveOrphans bool `json:"remove_orphans"`
}

// Validate returns an error that says what is wrong with p.
func (p Params) Validate() error {
	if p.Workers < MinWorkers || p.Workers > MaxWorkers {
		return fmt.Errorf("workers must be between %d and %d, not %d", MinWorkers, MaxWorkers, p.Workers)
	}
	return nil
}

// Args is the job that performs one run (a GC or an upload purge).
type Args struct {
	RunID int `json:"run_id"`
	// RunKind is the run's kind (GC or UPLOAD_PURGE): one job of each may be queued or running.
	RunKind string `json:"run_kind" river:"unique"`
}

// Kind names the job in River's table.
func (Args) Kind() string { return "gc" }

// InsertOpts: a run is tried once (its record says how it ended), and there is at most one GC and
// one upload purge queued or running: River's unique jobs are the "is one running?" check.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: run.Unique(true)}
}

// ArtifactDeleter deletes an artifact from storage and the index, as the registry API does.
type ArtifactDeleter interface {
	DeleteArtifact(ctx context.Context, repo string, dgst digest.Digest) error
}

// start records a run of kind and queues its job (see run.Start).
func start(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx], kind gcrun.Kind, trigger gcrun.Trigger,
	operator string, p Params, window, uploadAge time.Duration) (int, error) {
	busy := ErrRunning
	if kind == gcrun.KindUploadPurge {
		busy = ErrUploadPurgeRunning
	}
	id, _, err := run.Start(ctx, pool, client, Table, run.New{
		Record: func(ctx context.Context, tx pgx.Tx) (int, error) {
			var id int
			return id, tx.QueryRow(ctx, `
INSERT INTO gc_runs (kind, status, trigger, dry_run, delete_untagged, remove_orphans, workers, window_seconds,
	upload_age_seconds, log, operator, created_at)
VALUES ($1, 'PENDING', $2, $3, $4, $5, $6, $7, $8, '', $9, now()) RETURNING id`,
				string(kind), string(trigger), p.DryRun, p.DeleteUntagged, p.RemoveOrphans, p.Workers,
				int64(window/time.Second), int64(uploadAge/time.Second), operator).Scan(&id)
		},
		Job:   func(id int) river.JobArgs { return Args{RunID: id, RunKind: string(kind)} },
		Scope: string(kind),
		Busy:  busy,
	})
	return id, err
}

// Worker performs runs.
type Worker struct {
	river.WorkerDefaults[Args]
	db        *ent.Client
	driver    storagedriver.StorageDriver
	artifacts ArtifactDeleter
	log       *slog.Logger
	events    *run.Announcer
}

// NewWorker returns the run worker: it deletes through driver, and untagged artifacts through
// artifacts; kick, if not nil, has progress events dispatched at once.
func NewWorker(db *ent.Client, driver storagedriver.StorageDriver, artifacts ArtifactDeleter, log *slog.Logger, kick func()) *Worker {
	return &Worker{db: db, driver: driver, artifacts: artifacts, log: log, events: run.NewAnnouncer(db, kick, log)}
}

// Timeout: a GC of millions of blobs on an object store takes hours.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return Timeout }

// Work performs the run the job names.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	gr, ok, err := run.Claim(ctx, w.db.GCRun.Get, job.Args.RunID, func(r *ent.GCRun) bool { return r.Status == gcrun.StatusPending })
	if !ok {
		return err
	}
	lease := run.From(ctx)
	if lease == nil {
		// Claims on blobs hold only while their owner's lease does: no lease, no sweep.
		return river.JobCancel(fmt.Errorf("gc run %d: worked without a run lease", job.Args.RunID))
	}
	r := &runState{w: w, run: gr, lease: lease, lastReport: time.Now()}
	r.logf("%s", describe(gr))
	gr, err = gr.Update().SetStatus(gcrun.StatusRunning).SetStartedAt(time.Now()).SetLog(r.logText()).Save(ctx)
	if err != nil {
		return err
	}
	r.run = gr
	w.event(ctx, gr, event.GCStarted, 0)
	if gr.Kind == gcrun.KindUploadPurge {
		err = r.purgeUploads(ctx)
	} else {
		err = r.collect(ctx)
	}
	status := gcrun.StatusSuccess
	stopped, why, ended := run.Outcome(ctx, Timeout)
	switch {
	case ended && stopped:
		status = gcrun.StatusStopped
		r.logf("%s", why)
	case ended:
		status = gcrun.StatusError
		r.logf("%s", why)
	case err != nil:
		status = gcrun.StatusError
		r.logf("failed: %v", err)
	default:
		r.logf("done: %s", r.summary())
	}
	if saveErr := r.save(context.WithoutCancel(ctx), status); saveErr != nil {
		return errors.Join(err, saveErr)
	}
	w.event(ctx, gr, event.GCCompleted, r.counts.blobs+r.counts.uploads)
	if ended {
		return run.Cancel(why)
	}
	return err
}

// event records a GC_* event for subscribers.
func (w *Worker) event(ctx context.Context, gr *ent.GCRun, typ event.Type, n int64) {
	w.events.Announce(ctx, typ, gr.Operator, gr.ID, n)
}

func describe(run *ent.GCRun) string {
	dry := map[bool]string{true: " (dry run)"}[run.DryRun]
	if run.Kind == gcrun.KindUploadPurge {
		return fmt.Sprintf("purging uploads older than %s%s", time.Duration(run.UploadAgeSeconds)*time.Second, dry)
	}
	return fmt.Sprintf("garbage collection%s: delete untagged %t, workers %d, remove orphans %t, window %s",
		dry, run.DeleteUntagged, run.Workers, run.RemoveOrphans, time.Duration(run.WindowSeconds)*time.Second)
}

// counts are a run's figures as it goes.
type counts struct {
	artifacts, manifests, marked, blobs, bytes, orphans, orphanBytes, uploads, failures int64
}

// runState is one run in progress: its counts and log, shared by the sweep's workers.
type runState struct {
	w     *Worker
	run   *ent.GCRun
	lease *run.Lease // claims on blobs name its job; storage is deleted from only while it is valid

	mu         sync.Mutex
	counts     counts
	log        strings.Builder
	failLines  int
	lastReport time.Time
}

func (r *runState) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log.WriteString(run.Line(format, args...))
}

// fail records one item that could not be deleted: logged (up to a bound) and counted.
func (r *runState) fail(format string, args ...any) {
	r.mu.Lock()
	r.counts.failures++
	n := r.failLines
	r.failLines++
	r.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	r.w.log.Warn("gc: "+msg, "run", r.run.ID)
	switch {
	case n < maxLoggedFailures:
		r.logf("%s", msg)
	case n == maxLoggedFailures:
		r.logf("more failures are counted but not logged")
	}
}

func (r *runState) add(f func(c *counts)) {
	r.mu.Lock()
	f(&r.counts)
	r.mu.Unlock()
}

func (r *runState) logText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

func (r *runState) summary() string {
	r.mu.Lock()
	c := r.counts
	r.mu.Unlock()
	verb := "deleted"
	if r.run.DryRun {
		verb = "would delete"
	}
	if r.run.Kind == gcrun.KindUploadPurge {
		return fmt.Sprintf("%s %d uploads (%d bytes), %d failures", verb, c.uploads, c.bytes, c.failures)
	}
	return fmt.Sprintf("%s %d artifacts, %d manifests and %d blobs in all, %d bytes; %d orphan blobs (%d bytes)%s; %d failures",
		verb, c.artifacts, c.manifests, c.blobs, c.bytes, c.orphans, c.orphanBytes,
		map[bool]string{true: " removed", false: " reported"}[r.run.RemoveOrphans && !r.run.DryRun], c.failures)
}

// save writes the counts and log; a status other than RUNNING ends the run.
func (r *runState) save(ctx context.Context, status gcrun.Status) error {
	r.mu.Lock()
	c := r.counts
	r.mu.Unlock()
	// Only a run still under way: the reconciler may have ended it (this worker presumed dead).
	u := r.w.db.GCRun.UpdateOneID(r.run.ID).Where(gcrun.StatusIn(gcrun.StatusPending, gcrun.StatusRunning)).SetStatus(status).
		SetArtifactsDeleted(c.artifacts).SetManifestsDeleted(c.manifests).SetBlobsMarked(c.marked).SetBlobsDeleted(c.blobs).
		SetBytesFreed(c.bytes).SetOrphans(c.orphans).SetOrphanBytes(c.orphanBytes).SetUploadsPurged(c.uploads).
		SetFailures(c.failures).SetLog(r.logText())
	if status != gcrun.StatusRunning {
		u.SetEndedAt(time.Now())
	}
	if err := u.Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return err
	}
	return nil
}

// progress saves the counts and sends GC_PROGRESS, at most once a second.
func (r *runState) progress(ctx context.Context) {
	r.mu.Lock()
	due := time.Since(r.lastReport) >= time.Second
	if due {
		r.lastReport = time.Now()
	}
	n := r.counts.blobs + r.counts.uploads
	r.mu.Unlock()
	if !due || ctx.Err() != nil {
		return
	}
	if err := r.save(ctx, gcrun.StatusRunning); err != nil && ctx.Err() == nil {
		r.w.log.Warn("gc: save progress", "run", r.run.ID, "err", err)
	}
	r.w.event(ctx, r.run, event.GCProgress, n)
}
