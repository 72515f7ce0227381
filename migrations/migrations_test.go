package migrations_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/berth-registry/berth/migrations"
	"github.com/berth-registry/berth/server/servertest"
)

// Replicas that start together must not migrate at once: every one of them succeeds, and each
// migration is recorded exactly once.
func TestApplyConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := servertest.NewDatabase(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	const replicas = 4
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := pgxpool.New(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			errs[i] = migrations.Apply(ctx, pool, log)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}

	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pending, err := migrations.Pending(ctx, pool)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending after apply = %v, %v", pending, err)
	}
	var recorded, distinct int
	err = pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM berth_schema_migrations").Scan(&recorded, &distinct)
	if err != nil || recorded != distinct || recorded == 0 {
		t.Fatalf("recorded %d migrations, %d distinct (%v): each must be applied once", recorded, distinct, err)
	}
	var riverTables int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'river_job'").Scan(&riverTables); err != nil || riverTables != 1 {
		t.Fatalf("river_job table missing (%d, %v): River's migrations did not run", riverTables, err)
	}
}

func TestEnsureDatabaseCreatesIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := servertest.NewDatabase(t) // exists: EnsureDatabase must leave it be
	if err := migrations.EnsureDatabase(ctx, url); err != nil {
		t.Fatalf("existing database: %v", err)
	}

	missing := servertest.NewDatabase(t)
	pool, err := pgxpool.New(ctx, servertest.BaseDatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	cfg, _ := pgxpool.ParseConfig(missing)
	if _, err := pool.Exec(ctx, "DROP DATABASE "+cfg.ConnConfig.Database); err != nil {
		t.Fatal(err)
	}
	if err := migrations.EnsureDatabase(ctx, missing); err != nil {
		t.Fatalf("missing database: %v", err)
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", cfg.ConnConfig.Database).Scan(&exists); err != nil || !exists {
		t.Fatalf("database not created: %v", err)
	}
}

func TestRedactHidesPassword(t *testing.T) {
	t.Parallel()
	got := migrations.Redact("postgres://berth:s3cret@db:5432/berth?sslmode=disable")
	if got != "postgres://berth:xxxxx@db:5432/berth?sslmode=disable" {
		t.Fatalf("Redact = %q", got)
	}
}

// The CVE id fix corrects what earlier versions stored: an advisory whose id only starts like a
// CVE id takes its CVE alias, and the built-in scanner's findings under that id follow it;
// adapters' findings and correct ids stay as they are.
func TestCVEIDFix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := servertest.NewDatabase(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := migrations.Apply(ctx, pool, log); err != nil {
		t.Fatal(err)
	}
	// The state an earlier version left, then the fix applied again.
	_, err = pool.Exec(ctx, `
INSERT INTO scanners (id, name, builtin, created_at, updated_at) VALUES (1, 'Berth', true, now(), now()), (2, 'Trivy', false, now(), now());
INSERT INTO advisories (osv_id, cve_id, aliases, modified) VALUES
  ('CVE-2099-0001-OSV', 'CVE-2099-0001-OSV', '["CVE-2099-0001"]', now()),
  ('DSA-1', 'CVE-24-1', '["CVE-24-1", "CVE-2024-1234", "CVE-2024-5678"]', now()),
  ('CVE-2099-0002-X', 'CVE-2099-0002-X', NULL, now()),
  ('CVE-2023-5363', 'CVE-2023-5363', '["DSA-5532-1"]', now());
INSERT INTO vulnerabilities (key, scanner_id, cve_id) VALUES
  ('a', 1, 'CVE-2099-0001-OSV'), ('b', 2, 'CVE-2099-0001-OSV'), ('c', 1, 'CVE-2023-5363'), ('d', 1, 'CVE-2099-0002-X');
DELETE FROM berth_schema_migrations WHERE version = '20261204200000_cve_ids';`)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations.Apply(ctx, pool, log); err != nil {
		t.Fatal(err)
	}
	read := func(query string) map[string]string {
		t.Helper()
		rows, err := pool.Query(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			out[k] = v
		}
		return out
	}
	advisories := read("SELECT osv_id, cve_id FROM advisories")
	for osv, want := range map[string]string{"CVE-2099-0001-OSV": "CVE-2099-0001", "DSA-1": "CVE-2024-1234",
		"CVE-2099-0002-X": "CVE-2099-0002-X", "CVE-2023-5363": "CVE-2023-5363"} {
		if advisories[osv] != want {
			t.Errorf("advisory %s: CVE id %q, want %q", osv, advisories[osv], want)
		}
	}
	vulns := read("SELECT key, cve_id FROM vulnerabilities")
	for key, want := range map[string]string{"a": "CVE-2099-0001", "b": "CVE-2099-0001-OSV", "c": "CVE-2023-5363", "d": "CVE-2099-0002-X"} {
		if vulns[key] != want {
			t.Errorf("vulnerability %s: CVE id %q, want %q", key, vulns[key], want)
		}
	}
}

// Pool settings in DATABASE_URL (pool_max_conns sizes the pool) are the pool's, not run-time
// parameters for the server: creating a missing database with them in the URL works.
func TestEnsureDatabaseWithPoolSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := servertest.NewDatabase(t) + "&pool_max_conns=2"
	if err := migrations.EnsureDatabase(ctx, url); err != nil {
		t.Fatalf("EnsureDatabase with pool_max_conns: %v", err)
	}
}
