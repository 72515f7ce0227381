// Command gen writes a new versioned migration into migrations/ when the ent schema has changed
// since the last one. `make generate` runs it; it needs a PostgreSQL server to replay the existing
// migrations into a scratch database (DATABASE_URL's server, default the local one).
//
// `go run ./migrations/gen sum` only rewrites atlas.sum, after a hand-written migration (a data
// fix in plain SQL, named like the generated ones with a later timestamp) was added.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	entmigrate "github.com/berth-registry/berth/ent/migrate"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatalf("generate migration: %v", err)
	}
}

func run(ctx context.Context) error {
	if len(os.Args) > 1 && os.Args[1] == "sum" {
		dir, err := migrate.NewLocalDir("migrations")
		if err != nil {
			return err
		}
		sum, err := dir.Checksum()
		if err != nil {
			return err
		}
		return migrate.WriteSumFile(dir, sum)
	}
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		return err
	}
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer admin.Close(ctx)
	scratch := fmt.Sprintf("berth_migration_dev_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+scratch); err != nil {
		return err
	}
	defer admin.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+scratch+" WITH (FORCE)") //nolint:errcheck

	devCfg := cfg.Copy()
	devCfg.Database = scratch
	db := stdlib.OpenDB(*devCfg)
	defer db.Close()

	dir, err := migrate.NewLocalDir("migrations")
	if err != nil {
		return err
	}
	m, err := schema.NewMigrate(entsql.OpenDB(dialect.Postgres, db),
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialect.Postgres),
		schema.WithFormatter(migrate.DefaultFormatter),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
	)
	if err != nil {
		return err
	}
	name := "schema"
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	return m.NamedDiff(ctx, name, entmigrate.Tables...)
}
