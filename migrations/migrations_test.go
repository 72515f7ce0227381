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
