package server_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/scan"
)

// TestReconcilerEndsRunsOfVanishedJobs leaves an audit purge whose River job vanished, a CVE
// export and a scan-all whose worker died mid-attempt (their jobs still `running`, no lease),
// with no process working jobs; the next worker to start ends each (and records why), and a new
// scan-all can be queued again.
func TestReconcilerEndsRunsOfVanishedJobs(t *testing.T) {
	t.Parallel()
	const pw = servertest.AdminPassword
	env := servertest.Start(t, func(c *server.Config) { c.RunJobs = false })
	ctx := context.Background()

	var purge struct{ PurgeAuditLogs purgeRun }
	env.MustGraphQL("admin", pw, `mutation { purgeAuditLogs(input: {retentionHours: 1, operations: ["pull"]}) { id } }`, nil, &purge)
	var project string
	if err := queryRow(env, `SELECT id::text FROM projects WHERE name = 'library'`, nil, &project); err != nil {
		t.Fatal(err)
	}
	var export struct{ ExportCVE struct{ ID string } }
	env.MustGraphQL("admin", pw, `mutation($p: ID!) { exportCVE(input: {projects: [$p]}) { id } }`, map[string]any{"p": project}, &export)

	pool, err := pgxpool.New(ctx, env.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	scanAll, err := client.Insert(ctx, scan.AllArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The purge's job is gone; the export (on its last attempt) and the scan-all were being
	// worked by a process that died an hour ago.
	exec(`UPDATE purge_runs SET status = 'RUNNING' WHERE id = $1`, purge.PurgeAuditLogs.ID)
	exec(`DELETE FROM river_job WHERE id = (SELECT job_id FROM purge_runs WHERE id = $1)`, purge.PurgeAuditLogs.ID)
	exec(`UPDATE cve_exports SET status = 'RUNNING' WHERE id = $1`, export.ExportCVE.ID)
	exec(`UPDATE river_job SET state = 'running', attempt = max_attempts, attempted_at = now() - interval '1 hour',
	attempted_by = ARRAY['dead-worker'] WHERE id IN ((SELECT job_id FROM cve_exports WHERE id = $1), $2)`,
		export.ExportCVE.ID, scanAll.Job.ID)
	if again, err := client.Insert(ctx, scan.AllArgs{}, nil); err != nil || !again.UniqueSkippedAsDuplicate {
		t.Fatalf("a second scan-all while one runs: %v, duplicate %t; want a duplicate", err, again != nil && again.UniqueSkippedAsDuplicate)
	}

	startHelperWorker(t, env, -1)
	var status, log string
	waitUntil(t, time.Minute, "the purge is ended", func() bool {
		return queryRow(env, `SELECT status, log FROM purge_runs WHERE id = $1`, []any{purge.PurgeAuditLogs.ID}, &status, &log) == nil && status != "RUNNING"
	})
	if status != "ERROR" || !strings.Contains(log, "ended by the reconciler: its job is gone from the queue") {
		t.Errorf("purge whose job vanished: %s, log %q", status, log)
	}
	var text, why string
	waitUntil(t, time.Minute, "the export is ended", func() bool {
		return queryRow(env, `SELECT status, status_text, error FROM cve_exports WHERE id = $1`, []any{export.ExportCVE.ID}, &status, &text, &why) == nil && status != "RUNNING"
	})
	if status != "ERROR" || text != "Export failed" || !strings.Contains(why, "ended by the reconciler") || !strings.Contains(why, "the worker running it stopped") {
		t.Errorf("export whose worker died: %s %q, error %q", status, text, why)
	}
	var state string
	waitUntil(t, time.Minute, "the scan-all is ended", func() bool {
		return queryRow(env, `SELECT state::text FROM river_job WHERE id = $1`, []any{scanAll.Job.ID}, &state) == nil && state != "running"
	})
	if state != "discarded" {
		t.Errorf("scan-all whose worker died: job %s; want discarded", state)
	}
	if next, err := client.Insert(ctx, scan.AllArgs{}, nil); err != nil || next.UniqueSkippedAsDuplicate {
		t.Errorf("a scan-all after the dead one: %v, duplicate %t; want it queued", err, next != nil && next.UniqueSkippedAsDuplicate)
	}
}

// queryRow scans the one row query returns (with args) into dest, on env's database.
func queryRow(env *servertest.Env, query string, args []any, dest ...any) error {
	rows, err := env.DB.QueryContext(context.Background(), query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	return rows.Scan(dest...)
}
