// Package purge runs audit-log purges (Harbor's "log rotation"): on demand or on a schedule kept in
// the database, deleting in small batches so that writers are never blocked for long, stoppable
// between batches, each run recorded with its parameters, status, count and log. While forwarding
// is on, a purge never deletes an entry the forwarder has not sent yet: it keeps it back and says
// how many it kept and why.
package purge

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/purgerun"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/worker/run"
	"github.com/berth-registry/berth/worker/schedule"
)

// Limits of a purge's parameters (Harbor's).
const (
	MinRetentionHours = 1
	MaxRetentionHours = 240000
	// keptRuns is how many past runs the history keeps.
	keptRuns = 50
	// batch is the width of the id range one DELETE covers: each batch is its own short transaction.
	batch = 10000
)

// Params say what a purge removes: entries older than RetentionHours whose operation is one of
// Operations (none: nothing is purged). A dry run only counts them.
type Params struct {
	RetentionHours int      `json:"retention_hours"`
	Operations     []string `json:"operations"`
	DryRun         bool     `json:"dry_run"`
}

// Validate returns an error that says what is wrong with p.
func (p Params) Validate() error {
	if p.RetentionHours < MinRetentionHours || p.RetentionHours > MaxRetentionHours {
		return fmt.Errorf("retention must be between %d and %d hours, not %d", MinRetentionHours, MaxRetentionHours, p.RetentionHours)
	}
	for _, op := range p.Operations {
		if !slices.Contains(audit.Operations, op) {
			return fmt.Errorf("unknown operation %q: choose from %s", op, strings.Join(audit.Operations, ", "))
		}
	}
	return nil
}

// Args is the job that performs one run.
type Args struct {
	RunID int `json:"run_id"`
}

// Kind names the job in River's table.
func (Args) Kind() string { return "audit_purge" }

// InsertOpts: a run is tried once (its record says how it ended), and one purge at a time is
// queued or running.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: run.Unique(false)}
}

// Table is where runs are recorded, for the shared run lifecycle: the history keeps the newest.
var Table = run.Table{Name: "purge_runs", What: "audit purge", End: run.LogEnd,
	StoppedBeforeStart: run.LogStoppedBeforeStart, Keep: keptRuns}

// ErrRunning is returned when a purge is asked for while another is queued or running.
var ErrRunning = run.Busy("an audit purge is already running: wait for it or stop it")

// Timeout bounds one run: a purge of tens of millions of rows takes minutes, not hours.
const Timeout = 6 * time.Hour

// start records a run and queues its job (see run.Start).
func start(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx], p Params, trigger purgerun.Trigger, operator string) (int, error) {
	ops := p.Operations
	if ops == nil {
		ops = []string{}
	}
	id, _, err := run.Start(ctx, pool, client, Table, run.New{
		Record: func(ctx context.Context, tx pgx.Tx) (int, error) {
			var id int
			return id, tx.QueryRow(ctx, `
INSERT INTO purge_runs (status, trigger, retention_hours, operations, dry_run, rows_purged, log, operator, created_at)
VALUES ('PENDING', $1, $2, $3, $4, 0, '', $5, now()) RETURNING id`,
				string(trigger), p.RetentionHours, ops, p.DryRun, operator).Scan(&id)
		},
		Job:  func(id int) river.JobArgs { return Args{RunID: id} },
		Busy: ErrRunning,
	})
	return id, err
}

// Worker performs runs.
type Worker struct {
	river.WorkerDefaults[Args]
	db     *ent.Client
	log    *slog.Logger
	events *run.Announcer
}

// NewWorker returns the run worker; kick, if not nil, has progress events dispatched at once.
func NewWorker(db *ent.Client, log *slog.Logger, kick func()) *Worker {
	return &Worker{db: db, log: log, events: run.NewAnnouncer(db, kick, log)}
}

// purgeable is the condition, beside age and operation, for deleting an entry: it is forwarded,
// or forwarding is off (it never will be).
const purgeable = `(forwarded OR NOT ` + audit.ForwardingOnSQL + `)`

// keptBack counts the entries a purge with these limits keeps because they wait to be forwarded.
const keptBack = `SELECT count(*) FROM audit_logs WHERE occurred_at < $1 AND operation = ANY($2) AND NOT forwarded AND ` + audit.ForwardingOnSQL

// keptLine says in the run's log, and in the process log, what was kept back and why.
func (w *Worker) keptLine(run *ent.PurgeRun, kept int64, dryRun bool) string {
	if kept == 0 {
		return ""
	}
	verb := "kept back"
	if dryRun {
		verb = "would keep back"
	}
	w.log.Warn("audit purge: entries not yet forwarded kept back", "run", run.ID, "kept", kept, "dry_run", dryRun)
	return fmt.Sprintf("%s %d entries not yet forwarded to the syslog endpoint: forwarding is on, and an entry is purged only after it is sent (a later run removes them)", verb, kept)
}

// progress records a PURGE_PROGRESS or PURGE_COMPLETED event for subscribers.
func (w *Worker) progress(ctx context.Context, pr *ent.PurgeRun, typ event.Type, rows int64) {
	w.events.Announce(ctx, typ, pr.Operator, pr.ID, rows)
}

// Timeout bounds a run (see the constant).
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return Timeout }

// Work deletes (or counts) the matching entries in batches, recording progress after each.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	pr, ok, err := run.Claim(ctx, w.db.PurgeRun.Get, job.Args.RunID, func(r *ent.PurgeRun) bool { return r.Status == purgerun.StatusPending })
	if !ok {
		return err
	}
	cutoff := time.Now().Add(-time.Duration(pr.RetentionHours) * time.Hour)
	logf := run.Line
	pr, err = pr.Update().SetStatus(purgerun.StatusRunning).SetStartedAt(time.Now()).
		SetLog(logf("purging entries before %s with operations [%s]%s", cutoff.UTC().Format(time.RFC3339),
			strings.Join(pr.Operations, ", "), map[bool]string{true: " (dry run)"}[pr.DryRun])).Save(ctx)
	if err != nil {
		return err
	}
	w.progress(ctx, pr, event.PurgeProgress, 0)
	finish := func(status purgerun.Status, rows int64, line string) error {
		// Only a run still under way: the reconciler may have ended it (this worker presumed dead).
		err := w.db.PurgeRun.UpdateOne(pr).Where(purgerun.StatusIn(purgerun.StatusPending, purgerun.StatusRunning)).
			SetStatus(status).SetRowsPurged(rows).SetEndedAt(time.Now()).
			SetLog(pr.Log + line).Exec(context.WithoutCancel(ctx))
		w.progress(ctx, pr, event.PurgeCompleted, rows)
		if ent.IsNotFound(err) {
			return nil
		}
		return err
	}
	if len(pr.Operations) == 0 {
		return finish(purgerun.StatusSuccess, 0, logf("no operations chosen: nothing to purge"))
	}
	if pr.DryRun {
		var n, kept int64
		err := w.scanRow(ctx, `SELECT count(*) FROM audit_logs WHERE occurred_at < $1 AND operation = ANY($2) AND `+purgeable,
			[]any{cutoff, pr.Operations}, &n)
		if err == nil {
			err = w.scanRow(ctx, keptBack, []any{cutoff, pr.Operations}, &kept)
		}
		if err != nil {
			_ = finish(purgerun.StatusError, 0, logf("count failed: %v", err))
			return err
		}
		line := logf("dry run: %d entries would be purged", n)
		if k := w.keptLine(pr, kept, true); k != "" {
			line += logf("%s", k)
		}
		return finish(purgerun.StatusSuccess, n, line)
	}
	// Walk the primary key in ranges: each DELETE touches one range through the index, so the
	// work is linear in the rows purged however many there are, and each batch is a short
	// transaction that never holds up writers (who only insert above the range).
	var lo, hi *int64
	if err := w.scanRow(ctx, `SELECT min(id), max(id) FROM audit_logs WHERE occurred_at < $1`, []any{cutoff}, &lo, &hi); err != nil {
		_ = finish(purgerun.StatusError, 0, logf("find the range to purge: %v", err))
		return err
	}
	var total int64
	lastReport := time.Now()
	ended := func() error {
		stopped, why, _ := run.Outcome(ctx, Timeout)
		status := purgerun.StatusError
		if stopped {
			status = purgerun.StatusStopped
		}
		_ = finish(status, total, logf("%s after purging %d entries", why, total))
		return run.Cancel(why)
	}
	for next := lo; next != nil && *next <= *hi; *next += batch {
		if ctx.Err() != nil {
			return ended()
		}
		res, err := w.db.ExecContext(ctx, `
DELETE FROM audit_logs WHERE id >= $1 AND id < $2 AND occurred_at < $3 AND operation = ANY($4) AND `+purgeable,
			*next, *next+batch, cutoff, pr.Operations)
		if err != nil {
			if ctx.Err() != nil {
				return ended()
			}
			_ = finish(purgerun.StatusError, total, logf("failed after %d entries: %v", total, err))
			return err
		}
		n, _ := res.RowsAffected()
		total += n
		if time.Since(lastReport) > time.Second {
			lastReport = time.Now()
			if err := w.db.PurgeRun.UpdateOne(pr).SetRowsPurged(total).Exec(ctx); err != nil && ctx.Err() == nil {
				return err
			}
			w.progress(ctx, pr, event.PurgeProgress, total)
		}
	}
	line := logf("purged %d entries", total)
	var kept int64
	if err := w.scanRow(ctx, keptBack, []any{cutoff, pr.Operations}, &kept); err != nil {
		line += logf("could not count the entries kept back for forwarding: %v", err)
	} else if k := w.keptLine(pr, kept, false); k != "" {
		line += logf("%s", k)
	}
	return finish(purgerun.StatusSuccess, total, line)
}

// scanRow runs a one-row query through ent's database/sql connection.
func (w *Worker) scanRow(ctx context.Context, query string, args []any, dest ...any) error {
	rows, err := w.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		return rows.Err()
	}
	return rows.Scan(dest...)
}

// Schedule is the purge schedule, kept in the settings table.
type Schedule = run.Schedule[Params]

// schedules is the purge schedule's store: a month of pulls by default; the parameters matter
// (and are checked) only when it runs.
func schedules(pool *pgxpool.Pool) *run.Schedules[Params] {
	return run.NewSchedules(pool, "audit.purge_schedule", Params{RetentionHours: 720, Operations: []string{audit.OpPull}},
		func(s Schedule) error {
			if s.Kind == schedule.None {
				return nil
			}
			return s.Params.Validate()
		})
}

// SchedulerArgs is the periodic job (every minute, on River's elected leader) that starts a
// scheduled run when one is due.
type SchedulerArgs struct{ run.Minutely }

// Kind names the job in River's table.
func (SchedulerArgs) Kind() string { return "audit_purge_scheduler" }

// NewScheduler returns the scheduler worker.
func NewScheduler(pool *pgxpool.Pool) *run.Scheduler[SchedulerArgs, Params] {
	return run.NewScheduler[SchedulerArgs](schedules(pool), func(ctx context.Context, client *river.Client[pgx.Tx], p Params) error {
		_, err := start(ctx, pool, client, p, purgerun.TriggerSchedule, "scheduler")
		return err
	})
}

// LoadSchedule reads the schedule (NONE if never set), for callers that have authorized their own.
func LoadSchedule(ctx context.Context, pool *pgxpool.Pool) (Schedule, error) {
	return schedules(pool).Load(ctx)
}
