package purge_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/purgerun"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/purge"
)

type bundle struct {
	pool   *pgxpool.Pool
	db     *ent.Client
	worker *purge.Worker
}

func setup(t *testing.T) bundle {
	t.Helper()
	pool := servertest.NewPool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, stdlib.OpenDBFromPool(pool))))
	return bundle{pool: pool, db: db, worker: purge.NewWorker(db, log, nil)}
}

// run performs one purge of every operation older than an hour and returns the finished run.
func (b bundle) run(t *testing.T, dryRun bool) *ent.PurgeRun {
	t.Helper()
	ctx := context.Background()
	run, err := b.db.PurgeRun.Create().SetStatus(purgerun.StatusPending).SetTrigger(purgerun.TriggerManual).
		SetRetentionHours(1).SetOperations(audit.Operations).SetDryRun(dryRun).SetOperator("admin").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.worker.Work(ctx, &river.Job[purge.Args]{Args: purge.Args{RunID: run.ID}}); err != nil {
		t.Fatal(err)
	}
	return b.db.PurgeRun.GetX(ctx, run.ID)
}

func (b bundle) count(t *testing.T, where string) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_logs WHERE "+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// While the syslog receiver is away, a purge keeps the entries it has not been sent, and says so;
// once they are forwarded (or forwarding is turned off) a purge removes them.
func TestPurgeKeepsUnforwardedEntries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	// Forwarding on, to a receiver that is not there.
	if err := audit.SaveSetting(ctx, b.pool, "audit", audit.Config{ForwardEndpoint: "127.0.0.1:9", ForwardProtocol: "tcp"}); err != nil {
		t.Fatal(err)
	}
	_, err := b.pool.Exec(ctx, `
INSERT INTO audit_logs (occurred_at, username, project_name, operation, resource_type, resource, source_ip, result, forwarded)
SELECT now() - interval '2 days', 'u', 'library', 'pull', 'artifact', 'old-' || g, '', 'SUCCESS', g > 3
FROM generate_series(1, 8) g
UNION ALL
SELECT now(), 'u', 'library', 'pull', 'artifact', 'new-' || g, '', 'SUCCESS', false
FROM generate_series(1, 2) g`)
	if err != nil {
		t.Fatal(err)
	}

	dry := b.run(t, true)
	if dry.RowsPurged != 5 || !strings.Contains(dry.Log, "would keep back 3 entries not yet forwarded") {
		t.Fatalf("dry run: %d rows, log %q; want 5, and 3 kept back", dry.RowsPurged, dry.Log)
	}
	run := b.run(t, false)
	if run.Status != purgerun.StatusSuccess || run.RowsPurged != 5 || !strings.Contains(run.Log, "kept back 3 entries not yet forwarded") {
		t.Fatalf("purge during the outage: %s, %d rows, log %q; want 5 purged and 3 kept back", run.Status, run.RowsPurged, run.Log)
	}
	if n := b.count(t, "resource LIKE 'old-%' AND NOT forwarded"); n != 3 {
		t.Fatalf("%d unforwarded old entries left, want all 3", n)
	}
	if n := b.count(t, "resource LIKE 'new-%'"); n != 2 {
		t.Fatalf("%d recent entries left, want 2", n)
	}

	// The receiver is back and has them.
	if _, err := b.pool.Exec(ctx, "UPDATE audit_logs SET forwarded = true WHERE resource LIKE 'old-%'"); err != nil {
		t.Fatal(err)
	}
	run = b.run(t, false)
	if run.RowsPurged != 3 || strings.Contains(run.Log, "kept back") {
		t.Fatalf("purge after forwarding: %d rows, log %q; want 3, nothing kept", run.RowsPurged, run.Log)
	}

	// With forwarding off, an unforwarded entry will never be sent: it is purged like any other.
	if _, err := b.pool.Exec(ctx, "UPDATE audit_logs SET occurred_at = now() - interval '2 days'"); err != nil {
		t.Fatal(err)
	}
	if err := audit.SaveSetting(ctx, b.pool, "audit", audit.DefaultConfig); err != nil {
		t.Fatal(err)
	}
	run = b.run(t, false)
	if run.RowsPurged != 2 || b.count(t, "true") != 0 {
		t.Fatalf("purge with forwarding off: %d rows, log %q; want the 2 left", run.RowsPurged, run.Log)
	}
}
