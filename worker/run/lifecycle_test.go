package run_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/run"
	"github.com/berth-registry/berth/worker/schedule"
)

// table is a kind of run (cleanupArgs, in the example) kept in purge_runs whose history keeps two runs.
var table = run.Table{Name: "purge_runs", What: "test run", End: run.LogEnd,
	StoppedBeforeStart: run.LogStoppedBeforeStart, Keep: 2}

var errBusy = run.Busy("a test run is already running")

type bundle struct {
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx] // inserts only: nothing works the jobs
}

func setup(t *testing.T) bundle {
	t.Helper()
	pool := servertest.NewPool(t)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{pool: pool, client: client}
}

func (b bundle) start(ctx context.Context) (int, error) {
	id, _, err := run.Start(ctx, b.pool, b.client, table, run.New{
		Record: func(ctx context.Context, tx pgx.Tx) (int, error) {
			var id int
			return id, tx.QueryRow(ctx, `INSERT INTO purge_runs (status, trigger, retention_hours, operations, dry_run, rows_purged, log, operator, created_at)
VALUES ('PENDING', 'MANUAL', 1, '{}', false, 0, '', 'test', now()) RETURNING id`).Scan(&id)
		},
		Job:  func(id int) river.JobArgs { return cleanupArgs{RunID: id} },
		Busy: errBusy,
	})
	return id, err
}

func TestStartStopAndTheHistory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	first, err := b.start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.start(ctx); !errors.Is(err, errBusy) || !errors.Is(err, run.ErrBusy) {
		t.Fatalf("a second run while the first is queued: %v, want %q", err, errBusy)
	}
	if err := table.Stop(ctx, b.pool, b.client, first); err != nil {
		t.Fatal(err)
	}
	var status, log, jobState string
	err = b.pool.QueryRow(ctx, `SELECT r.status, r.log, j.state FROM purge_runs r JOIN river_job j ON j.id = r.job_id WHERE r.id = $1`,
		first).Scan(&status, &log, &jobState)
	if err != nil {
		t.Fatal(err)
	}
	if status != "STOPPED" || !strings.Contains(log, "stopped before it started") || jobState != "cancelled" {
		t.Fatalf("stopped before it started: run %s (log %q), job %s", status, log, jobState)
	}
	if err := table.Stop(ctx, b.pool, b.client, first); err != nil {
		t.Fatalf("stopping a stopped run: %v", err)
	}
	if err := table.Stop(ctx, b.pool, b.client, first+1000); !errors.Is(err, run.ErrNoRun) {
		t.Fatalf("stopping no run: %v, want ErrNoRun", err)
	}
	// The history keeps the newest two: after three more runs, the first is gone.
	last := first
	for range 3 {
		if last, err = b.start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := table.Stop(ctx, b.pool, b.client, last); err != nil {
			t.Fatal(err)
		}
	}
	var ids []int
	rows, _ := b.pool.Query(ctx, `SELECT id FROM purge_runs ORDER BY id`)
	if ids, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[1] != last {
		t.Fatalf("history after four runs: %v, want the newest two ending with %d", ids, last)
	}
}

func TestSchedulesStartWhatIsDue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	type params struct {
		Hours int `json:"hours"`
	}
	s := run.NewSchedules(b.pool, "test.schedule", params{Hours: 1}, func(sc run.Schedule[params]) error {
		if sc.Params.Hours < 1 {
			return errors.New("hours must be at least 1")
		}
		return nil
	})
	if sc, err := s.Load(ctx); err != nil || sc.Kind != schedule.None || sc.Params.Hours != 1 {
		t.Fatalf("a schedule never saved: %+v, %v", sc, err)
	}
	bad := run.Schedule[params]{Schedule: schedule.Schedule{Kind: schedule.Custom, Cron: "sometimes"}, Params: params{Hours: 1}}
	if _, err := s.Save(ctx, bad); err == nil || !strings.Contains(err.Error(), "cron") {
		t.Fatalf("an invalid cron expression: %v", err)
	}
	bad = run.Schedule[params]{Schedule: schedule.Schedule{Kind: schedule.Hourly}}
	if _, err := s.Save(ctx, bad); err == nil || !strings.Contains(err.Error(), "hours") {
		t.Fatalf("invalid parameters: %v", err)
	}
	started := []params{}
	start := func(_ context.Context, p params) error { started = append(started, p); return nil }
	saved, err := s.Save(ctx, run.Schedule[params]{Schedule: schedule.Schedule{Kind: schedule.Hourly}, Params: params{Hours: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tick(ctx, start); err != nil || len(started) != 0 {
		t.Fatalf("a schedule just saved started %d runs (%v)", len(started), err)
	}
	// Saved two hours ago: a run is due.
	saved.UpdatedAt = time.Now().Add(-2 * time.Hour)
	if err := audit.SaveSetting(ctx, b.pool, "test.schedule", saved); err != nil {
		t.Fatal(err)
	}
	if err := s.Tick(ctx, start); err != nil || len(started) != 1 || started[0].Hours != 3 {
		t.Fatalf("a due schedule started %v (%v)", started, err)
	}
	after, err := s.Load(ctx)
	if err != nil || after.LastRunAt == nil || after.Due(time.Now()) {
		t.Fatalf("after its run the schedule is %+v (%v): want its last run recorded and nothing due", after, err)
	}
	if err := s.Tick(ctx, start); err != nil || len(started) != 1 {
		t.Fatalf("the schedule ran again at once: %v (%v)", started, err)
	}
}
