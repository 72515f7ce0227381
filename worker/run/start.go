package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

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
