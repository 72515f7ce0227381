package server

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/worker"
)

// WorkerDeps builds what the jobs of a `berth worker` process need: the database, and for garbage
// collection and upload purging the registry's storage (its namespace, without the HTTP side).
// Events its jobs record are dispatched by a serving replica's sweep. release closes the registry.
func WorkerDeps(ctx context.Context, cfg Config, log *slog.Logger, pool *pgxpool.Pool, db *ent.Client) (deps worker.Deps, release func(), err error) {
	indexer := registry.NewIndexer(db, event.NewDispatcher(pool, log), log)
	reg, err := registry.New(ctx, registry.Config{DataDir: cfg.DataDir, Storage: cfg.Storage, GCWindow: cfg.GCWindow}, db, nil, indexer, log)
	if err != nil {
		return worker.Deps{}, nil, err
	}
	deps = worker.Deps{DB: db, Pool: pool, Log: log, WebhookRetryBase: cfg.WebhookRetryBase,
		Storage: reg.Driver(), Artifacts: reg, GCWindow: reg.Guard().Window(),
		UploadPurgeAge: cfg.UploadPurgeAge, UploadPurgeInterval: cfg.UploadPurgeInterval, UploadPurgeDryRun: cfg.UploadPurgeDryRun}
	return deps, func() { _ = reg.Close() }, nil
}
