// Package migrations owns Berth's database schema: the versioned SQL files in this folder,
// generated from the ent schema by `make generate`, and the code that applies them (and River's
// own migrations) at start. It must not hold data fixes that depend on application code; a data
// fix is a hand-written SQL file named like the generated ones (atlas.sum rewritten by
// `go run ./migrations/gen sum`).
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed *.sql
var files embed.FS

// lockKey is the advisory lock every replica takes before migrating, so that replicas starting
// together migrate one after another. Any fixed 64-bit value works; this one spells "berthmig".
const lockKey int64 = 0x62657274686d6967

// EnsureDatabase creates the database named in databaseURL if it does not exist yet, by
// connecting to the server's "postgres" database.
func EnsureDatabase(ctx context.Context, databaseURL string) error {
	// Parsed as the pool parses it, so that pool settings in the URL (pool_max_conns, …) are
	// not sent to the server as run-time parameters, which it would refuse.
	poolCfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	cfg := poolCfg.ConnConfig
	name := cfg.Database
	if name == "" {
		return errors.New("DATABASE_URL names no database")
	}
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to postgres at %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: another replica won the race
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// Redact returns databaseURL with any password replaced, for logs and errors.
func Redact(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || u.User == nil {
		return databaseURL
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Apply brings the database up to date: Berth's own migrations, then River's. It holds an
// advisory lock for the whole run so that replicas starting together never migrate at once. It
// first refuses a PostgreSQL older than MinServerVersion, so every entry point (serve, worker,
// migrate) does.
func Apply(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	if err := checkServer(ctx, pool); err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey) //nolint:errcheck // released with the session anyway

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS berth_schema_migrations (
		version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: create version table: %w", err)
	}
	applied, err := appliedVersions(ctx, conn.Conn())
	if err != nil {
		return err
	}
	all, err := versions()
	if err != nil {
		return err
	}
	for _, v := range all {
		if applied[v] {
			continue
		}
		if err := applyOne(ctx, conn.Conn(), v); err != nil {
			return err
		}
		log.Info("applied migration", "version", v)
	}

	// River's migrator runs each of its migrations in its own transaction; it runs here, on the
	// pool, while this connection still holds the lock.
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("migrate: river migrator: %w", err)
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("migrate: river: %w", err)
	}
	for _, v := range res.Versions {
		log.Info("applied river migration", "version", v.Version)
	}
	return nil
}

// Pending returns the versions of Berth's migrations not yet applied to the database.
func Pending(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	applied, err := appliedVersions(ctx, conn.Conn())
	if err != nil {
		return nil, err
	}
	all, err := versions()
	if err != nil {
		return nil, err
	}
	var pending []string
	for _, v := range all {
		if !applied[v] {
			pending = append(pending, v)
		}
	}
	return pending, nil
}

func appliedVersions(ctx context.Context, conn *pgx.Conn) (map[string]bool, error) {
	rows, err := conn.Query(ctx, "SELECT version FROM berth_schema_migrations")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: nothing applied yet
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	applied := make(map[string]bool, len(vs))
	for _, v := range vs {
		applied[v] = true
	}
	return applied, nil
}

// versions lists the embedded migration files, oldest first. A version is the file name without
// ".sql"; Atlas names them with a timestamp prefix, so the lexical order is the order of creation.
func versions() ([]string, error) {
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	for i, n := range names {
		names[i] = strings.TrimSuffix(n, ".sql")
	}
	sort.Strings(names)
	return names, nil
}

func applyOne(ctx context.Context, conn *pgx.Conn, version string) error {
	body, err := files.ReadFile(version + ".sql")
	if err != nil {
		return fmt.Errorf("migration %s: %w", version, err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migration %s: begin: %w", version, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	// Exec without arguments uses the simple protocol, which runs a file of several statements.
	if _, err := tx.Exec(ctx, string(body)); err != nil {
		return fmt.Errorf("migration %s: %w", version, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO berth_schema_migrations (version) VALUES ($1)", version); err != nil {
		return fmt.Errorf("migration %s: record version: %w", version, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migration %s: commit: %w", version, err)
	}
	return nil
}
