package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// Table is one kind of run's records: a row per run with a status (PENDING and RUNNING while it
// is under way), and a job_id naming its River job.
type Table struct {
	// Name is the table.
	Name string
	// What names a run in messages ("garbage collection").
	What string
	// End is the SET list that ends a run: `d.status` is the final status (ERROR or STOPPED)
	// and `d.why` the line that says why, without a timestamp; `r` is the run's row.
	End string
	// StoppedBeforeStart is the SET list that ends a PENDING run stopped before its job took it.
	StoppedBeforeStart string
	// Keep is how many runs the history keeps (per value of Scope, if set); older finished
	// ones are deleted when a run starts. Zero keeps them all.
	Keep int
	// Scope, if not empty, is the column whose value the history is kept per (an owner, a kind).
	Scope string
}

// Cleanup runs after each reconciliation, for state that dead attempts leave behind (garbage
// collection's claims on blobs). It must be safe to run on several processes at once.
type Cleanup func(ctx context.Context, pool *pgxpool.Pool) (int64, error)

// Reconciler ends what dead workers leave: River jobs still `running` whose process no longer
// renews their lease, and runs whose job is gone or finished without ending them. Every process
// that works jobs runs one; its statements are idempotent and skip rows another one holds.
type Reconciler struct {
	pool     *pgxpool.Pool
	leases   *Leases
	tables   []Table
	cleanups []Cleanup
	log      *slog.Logger
}

// NewReconciler returns a reconciler of the runs in tables and the attempts leases covers.
func NewReconciler(pool *pgxpool.Pool, leases *Leases, log *slog.Logger, tables []Table, cleanups ...Cleanup) *Reconciler {
	return &Reconciler{pool: pool, leases: leases, tables: tables, cleanups: cleanups, log: log}
}

// Run reconciles at once and then every half lease until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.leases.TTL() / 2)
	defer t.Stop()
	for {
		if err := r.Reconcile(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile job runs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Reconcile makes one pass: dead attempts first (so that their runs are ended in the same
// pass), then each table's orphaned runs, then the cleanups.
func (r *Reconciler) Reconcile(ctx context.Context) error {
	var errs []error
	if n, err := endDeadAttempts(ctx, r.pool, r.log, r.leases.Kinds(), r.leases.TTL(), 0); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		r.log.Warn("ended the job attempts of dead workers", "jobs", n)
	}
	for _, t := range r.tables {
		if _, err := t.EndOrphans(ctx, r.pool, 0); err != nil {
			errs = append(errs, err)
		}
	}
	// Leases of attempts River has finished, expired: nothing reads them any more.
	if _, err := r.pool.Exec(ctx, `DELETE FROM run_leases l WHERE l.expires_at < now()
AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = l.id AND j.state = 'running')`); err != nil {
		errs = append(errs, fmt.Errorf("delete expired run leases: %w", err))
	}
	for _, c := range r.cleanups {
		if _, err := c(ctx, r.pool); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// endDeadAttempts finalizes in River the running attempts (of the kinds given, or of any kind if
// kinds is nil; only jobID's if not zero) whose lease expired, or that never took one within ttl:
// as River's own rescuer does for stuck jobs, an attempt with attempts left is retried, the
// others discarded, and one asked to stop is cancelled. Their leases are deleted, which ends their
// claims at once.
func endDeadAttempts(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, kinds []string, ttl time.Duration, jobID int64) (int, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("end dead job attempts: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	rows, err := tx.Query(ctx, `
SELECT j.id, j.attempt, j.max_attempts, j.metadata ? 'cancel_attempted_at', coalesce(l.owner, ''),
	coalesce(l.expires_at, j.attempted_at + make_interval(secs => $2))
FROM river_job j LEFT JOIN run_leases l ON l.id = j.id
WHERE j.state = 'running' AND ($4 OR j.kind = ANY($1::text[])) AND ($3 = 0 OR j.id = $3)
	AND coalesce(l.expires_at, j.attempted_at + make_interval(secs => $2)) < now()
FOR UPDATE OF j SKIP LOCKED`, kinds, ttl.Seconds(), jobID, kinds == nil)
	if err != nil {
		return 0, fmt.Errorf("find dead job attempts: %w", err)
	}
	type dead struct {
		id                   int64
		attempt, maxAttempts int
		cancelled            bool
		owner                string
		expired              time.Time
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dead, error) {
		var d dead
		return d, row.Scan(&d.id, &d.attempt, &d.maxAttempts, &d.cancelled, &d.owner, &d.expired)
	})
	if err != nil {
		return 0, fmt.Errorf("find dead job attempts: %w", err)
	}
	for _, d := range found {
		why := fmt.Sprintf("the worker running it stopped (no lease renewal since %s)", d.expired.UTC().Format(time.RFC3339))
		if d.owner != "" {
			why = fmt.Sprintf("the worker running it (%s) stopped: its lease expired at %s", d.owner, d.expired.UTC().Format(time.RFC3339))
		}
		state, finalized := "discarded", true
		switch {
		case d.cancelled:
			state = "cancelled"
		case d.attempt < d.maxAttempts:
			state, finalized = "retryable", false
		}
		attemptErr, _ := json.Marshal(map[string]any{"at": time.Now().UTC(), "attempt": d.attempt, "error": why, "trace": ""})
		if _, err := tx.Exec(ctx, `UPDATE river_job SET state = $2::river_job_state,
	finalized_at = CASE WHEN $3 THEN now() END, scheduled_at = CASE WHEN $3 THEN scheduled_at ELSE now() END,
	errors = array_append(errors, $4::jsonb)
WHERE id = $1 AND state = 'running'`, d.id, state, finalized, attemptErr); err != nil {
			return 0, fmt.Errorf("end dead attempt of job %d: %w", d.id, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM run_leases WHERE id = $1`, d.id); err != nil {
			return 0, fmt.Errorf("end dead attempt of job %d: %w", d.id, err)
		}
		log.Warn("ended a dead worker's job attempt", "job", d.id, "state", state, "why", why)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("end dead job attempts: %w", err)
	}
	return len(found), nil
}

// EndOrphans ends the runs of t (only runID's if not zero) that are under way while their job
// is gone from River or finished (completed, discarded, cancelled): a job that is gone or dead
// will never end them. The run ends STOPPED if its job was cancelled, else ERROR, and the line
// says what became of its job, with the job's last error.
func (t Table) EndOrphans(ctx context.Context, pool *pgxpool.Pool, runID int) (int64, error) {
	res, err := pool.Exec(ctx, `
UPDATE `+t.Name+` r SET `+t.End+` FROM (
	SELECT r.id,
		CASE WHEN j.state = 'cancelled' THEN 'STOPPED' ELSE 'ERROR' END AS status,
		'ended by the reconciler: ' || CASE
			WHEN j.id IS NULL THEN 'its job is gone from the queue'
			WHEN j.state = 'cancelled' THEN 'its job was cancelled'
			WHEN j.state = 'completed' THEN 'its job completed without recording how the run ended'
			ELSE 'its job was discarded' END ||
		coalesce(' (' || (j.errors[array_upper(j.errors, 1)] ->> 'error') || ')', '') AS why
	FROM `+t.Name+` r LEFT JOIN river_job j ON j.id = r.job_id
	WHERE r.status IN ('PENDING', 'RUNNING') AND r.job_id IS NOT NULL AND ($1 = 0 OR r.id = $1)
		AND (j.id IS NULL OR j.state IN ('completed', 'discarded', 'cancelled'))
	FOR UPDATE OF r SKIP LOCKED
) d WHERE r.id = d.id`, runID)
	if err != nil {
		return 0, fmt.Errorf("end orphaned %s runs: %w", t.What, err)
	}
	return res.RowsAffected(), nil
}

// Stop stops run runID of t, whose job is jobID: the job is cancelled through River (a queued one
// at once; a running one is told to stop, and its worker records how the run ended). A run whose
// job is finished or gone, or whose worker's lease has expired, is ended here as the reconciler
// would; one whose worker died more recently ends when its lease expires.
func Stop(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx], t Table, runID int, jobID int64) error {
	if _, err := client.JobCancel(ctx, jobID); err != nil && !errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("stop %s %d: %w", t.What, runID, err)
	}
	// Without a lease row, an attempt counts as live here: the reconciler, which knows the
	// lease's length, decides about those.
	if _, err := endDeadAttempts(ctx, pool, slog.Default(), nil, 100*365*24*time.Hour, jobID); err != nil {
		return fmt.Errorf("stop %s %d: %w", t.What, runID, err)
	}
	if _, err := t.EndOrphans(ctx, pool, runID); err != nil {
		return fmt.Errorf("stop %s %d: %w", t.What, runID, err)
	}
	return nil
}

// Line is a run log line: an RFC 3339 time, then text.
func Line(format string, args ...any) string {
	return time.Now().UTC().Format(time.RFC3339) + " " + fmt.Sprintf(format, args...) + "\n"
}

// LogEnd is the End of tables that keep a text log and an ended_at (gc_runs, purge_runs).
const LogEnd = `status = d.status, ended_at = now(),
	log = r.log || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' ' || d.why || E'\n'`

// LogStoppedBeforeStart is the StoppedBeforeStart of tables that keep a text log and an ended_at.
const LogStoppedBeforeStart = `status = 'STOPPED', ended_at = now(), log = log || E'stopped before it started\n'`
