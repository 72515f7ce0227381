// Package run is the lifecycle every recorded job run shares: garbage collection and upload
// purges, audit-log purges, CVE exports, scans and scan-all. A run is a row in its own table
// (gc_runs, purge_runs, cve_exports, scan_reports) that names its River job, and River's job
// state is the truth about it:
//   - a run starts by inserting its row and its job in one transaction, with unique-job options
//     (Unique) instead of hand-made "is one running?" checks, and trimming the history to the
//     newest runs (Start, Insert, Trim);
//   - while an attempt runs, its process holds a lease that it renews (Leases); a lease that runs
//     out says the process died;
//   - the reconciler (Reconciler), at start-up and periodically on every process that works jobs,
//     ends the attempts of dead processes in River and the runs whose job is gone or finished
//     without saying how the run ended, and records why;
//   - stopping a run cancels its job through River (Stop), and ends it at once if its job
//     cannot do so itself any more;
//   - a job that ends because its context ended says why (Outcome): stopped, out of time, shut
//     down, or lease lost;
//   - a schedule kept in the settings table starts runs when due (Schedules, Scheduler, Every);
//   - workers announce progress (Announcer) and subscriptions follow a run until it ends (Follow);
//   - the API side of a kind of run authorizes its caller and begins, stops, reads, schedules and
//     follows runs the same way for every kind (Service); each kind's package adds its own work.
//
// It owns run_leases and the lifecycle's rules; a kind's own work (what GC deletes, what a purge
// removes) stays in its package. It updates a run table's status columns only for runs whose job
// can no longer do it (or that are stopped before they start), and River's job rows only for
// attempts whose process is dead.
package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/ent"
)

// Active are the River job states of a job that is still to run or running: a unique job is
// unique among these, so a finished, cancelled or discarded run never blocks the next.
var Active = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// Unique makes a job kind (with ByArgs, each distinct value of its `river:"unique"` args) have
// at most one job queued or running at a time.
func Unique(byArgs bool) river.UniqueOpts {
	return river.UniqueOpts{ByArgs: byArgs, ByState: Active}
}

// ErrBusy is returned by Insert when a unique job of the same kind is already queued or running.
var ErrBusy = errors.New("another run is already queued or running")

// Insert queues args in tx and records the job's id in the run's row (table t, id runID). It
// returns ErrBusy if args' unique options found another job queued or running.
//
// A run's worker records its end before River records its job's: a job whose run has ended is
// about to be completed, and Insert waits for that (a few seconds at most) rather than answer busy.
// Each try is a savepoint that is rolled back when it finds a duplicate: River's unique insert
// locks the job in the way, which would keep River from completing it until tx ends.
func Insert(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], t Table, runID int, args river.JobArgs) (int64, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return 0, fmt.Errorf("queue %s %d: %w", t.What, runID, err)
		}
		res, err := client.InsertTx(ctx, sp, args, nil)
		if err != nil {
			_ = sp.Rollback(ctx)
			return 0, fmt.Errorf("queue %s %d: %w", t.What, runID, err)
		}
		if !res.UniqueSkippedAsDuplicate {
			if err := sp.Commit(ctx); err != nil {
				return 0, fmt.Errorf("queue %s %d: %w", t.What, runID, err)
			}
			if _, err := tx.Exec(ctx, "UPDATE "+t.Name+" SET job_id = $1 WHERE id = $2", res.Job.ID, runID); err != nil {
				return 0, fmt.Errorf("record the job of %s %d: %w", t.What, runID, err)
			}
			return res.Job.ID, nil
		}
		if err := sp.Rollback(ctx); err != nil {
			return 0, fmt.Errorf("queue %s %d: %w", t.What, runID, err)
		}
		var underWay bool
		err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t.Name+` WHERE job_id = $1 AND status IN ('PENDING', 'RUNNING'))`,
			res.Job.ID).Scan(&underWay)
		if err != nil {
			return 0, fmt.Errorf("queue %s %d: look at the job in the way: %w", t.What, runID, err)
		}
		if underWay || time.Now().After(deadline) {
			return 0, ErrBusy
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Trim deletes the finished runs of t beyond the newest t.Keep (per scopeValue of t.Scope, if
// t has a scope) and returns their ids. A table that keeps every run trims nothing.
func Trim(ctx context.Context, tx pgx.Tx, t Table, scopeValue any) ([]int, error) {
	if t.Keep <= 0 {
		return nil, nil
	}
	where, args := "true", []any{t.Keep}
	if t.Scope != "" {
		where, args = t.Scope+" = $2", append(args, scopeValue)
	}
	rows, err := tx.Query(ctx, `DELETE FROM `+t.Name+` WHERE `+where+` AND status NOT IN ('PENDING', 'RUNNING')
AND id NOT IN (SELECT id FROM `+t.Name+` WHERE `+where+` ORDER BY id DESC LIMIT $1) RETURNING id`, args...)
	if err != nil {
		return nil, fmt.Errorf("trim the history of %s runs: %w", t.What, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("trim the history of %s runs: %w", t.What, err)
	}
	return ids, nil
}

// Claim loads run id, which a job is to perform, with get (ent's Get): a run that is gone
// cancels the job, and ok is false for a run todo says is no longer to be done (stopped before it
// started, or ended by an earlier attempt): the job then returns err, nil, at once.
func Claim[R any](ctx context.Context, get func(context.Context, int) (R, error), id int, todo func(R) bool) (r R, ok bool, err error) {
	r, err = get(ctx, id)
	if ent.IsNotFound(err) {
		return r, false, river.JobCancel(err)
	}
	if err != nil {
		return r, false, err
	}
	return r, todo(r), nil
}

// Outcome says how a run whose work returned (with err) ended, from its context: stopped by a
// request, out of time, lease lost, or its worker shutting down; ok is false while ctx is live,
// and the run's own result stands.
func Outcome(ctx context.Context, timeout time.Duration) (stopped bool, why string, ok bool) {
	if ctx.Err() == nil {
		return false, "", false
	}
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, river.ErrJobCancelledRemotely):
		return true, "stopped by request", true
	case errors.Is(cause, context.DeadlineExceeded):
		return false, fmt.Sprintf("failed: ran out of time (this kind of run may take at most %s)", timeout), true
	case errors.Is(cause, ErrLeaseLost):
		return false, "failed: " + ErrLeaseLost.Error(), true
	default:
		return true, "stopped: the worker running it shut down", true
	}
}

// Cancel is what a job returns once it has recorded its run as ended because its context ended:
// River then cancels the job, so its state matches the run's. (Returning the context's error on
// shutdown would make River put the job back to run again, though its run has ended.)
func Cancel(why string) error { return river.JobCancel(errors.New(why)) }

// New says how to start one run of a table's kind.
type New struct {
	// Record inserts the run's row (status PENDING) in tx and returns its id.
	Record func(ctx context.Context, tx pgx.Tx) (int, error)
	// Job is the job that performs run id.
	Job func(id int) river.JobArgs
	// Scope is the value of the table's Scope column the new run has: its history is trimmed
	// among the runs with that value.
	Scope any
	// Busy is what Start returns while another run is queued or running (ErrBusy if nil).
	Busy error
}

// Start records a run of t and queues its job in one transaction, so that a run exists only with
// its job, and trims t's history to the newest t.Keep. It returns the run's id and the ids of the
// runs trimmed (whose files, if any, the caller removes); n.Busy while another run is under way.
func Start(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx], t Table, n New) (int, []int, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", t.What, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	id, err := n.Record(ctx, tx)
	if err != nil {
		return 0, nil, fmt.Errorf("record %s run: %w", t.What, err)
	}
	// River's unique jobs are the "is one running?" check, whichever replica or schedule asks.
	if _, err := Insert(ctx, tx, client, t, id, n.Job(id)); err != nil {
		if errors.Is(err, ErrBusy) && n.Busy != nil {
			return 0, nil, n.Busy
		}
		return 0, nil, err
	}
	trimmed, err := Trim(ctx, tx, t, n.Scope)
	if err != nil {
		return 0, nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", t.What, err)
	}
	return id, trimmed, nil
}

// Busy returns an error that says msg and is ErrBusy (errors.Is): what a kind of run answers
// when another is under way, in its own words.
func Busy(msg string) error { return busyError(msg) }

type busyError string

func (e busyError) Error() string        { return string(e) }
func (e busyError) Is(target error) bool { return target == ErrBusy }

// ErrNoRun is returned by Table.Stop for a run that does not exist.
var ErrNoRun = errors.New("no such run")

// Stop stops run id of t if it is under way: one whose job has not started is ended at once
// (t.StoppedBeforeStart); a running one is told to stop through River and records how it ended
// itself, unless its worker is gone, when it is ended here (see Stop). A finished run is left as
// it is. It returns ErrNoRun if there is no such run.
func (t Table) Stop(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx], id int) error {
	var status string
	var jobID *int64
	err := pool.QueryRow(ctx, `SELECT status, job_id FROM `+t.Name+` WHERE id = $1`, id).Scan(&status, &jobID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNoRun
	}
	if err != nil {
		return fmt.Errorf("stop %s %d: %w", t.What, id, err)
	}
	if status != "PENDING" && status != "RUNNING" {
		return nil
	}
	if _, err := pool.Exec(ctx, `UPDATE `+t.Name+` SET `+t.StoppedBeforeStart+` WHERE id = $1 AND status = 'PENDING'`, id); err != nil {
		return fmt.Errorf("stop %s %d: %w", t.What, id, err)
	}
	if jobID != nil {
		return Stop(ctx, pool, client, t, id, *jobID)
	}
	return nil
}

// Finished reports whether a run's status is final: anything but PENDING and RUNNING.
func Finished[S ~string](status S) bool { return status != "PENDING" && status != "RUNNING" }

// Every is a periodic job that River's elected leader queues every interval (and at start-up if
// onStart): the registration of schedulers and housekeeping jobs.
func Every(interval time.Duration, args river.JobArgs, id string, onStart bool) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return args, nil },
		&river.PeriodicJobOpts{ID: id, RunOnStart: onStart})
}
