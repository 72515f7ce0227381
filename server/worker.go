package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/secrets"
	"github.com/berth-registry/berth/signature"
	"github.com/berth-registry/berth/telemetry"
	"github.com/berth-registry/berth/worker"
	"github.com/berth-registry/berth/worker/export"
	"github.com/berth-registry/berth/worker/replication"
)

// RunWorker is `berth worker`: it works jobs until ctx ends; then running jobs get
// cfg.JobStopTimeout to finish before they are cancelled. It serves nothing but, when
// cfg.WorkerMetricsAddr is set, Prometheus metrics of its jobs and pool on that address. ready, if
// not nil, is called once the jobs are being worked.
func RunWorker(ctx context.Context, cfg Config, log *slog.Logger, ready func()) error {
	tracing, err := telemetry.New(ctx, cfg.Trace, log)
	if err != nil {
		return err
	}
	defer func() {
		// Last: the spans of the jobs' final moments are sent before the exporter stops.
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tracing.Shutdown(flushCtx)
	}()
	pool, _, db, err := openDatabase(ctx, cfg, log, tracing.QueryTracer())
	if err != nil {
		return err
	}
	defer pool.Close()
	defer db.Close()
	deps, release, err := WorkerDeps(ctx, cfg, log, pool, db, tracing)
	if err != nil {
		return err
	}
	defer release()
	metrics, err := newMetrics(pool)
	if err != nil {
		return err
	}
	if deps.Metrics, err = worker.NewJobMetrics(metrics); err != nil {
		return err
	}
	if cfg.WorkerMetricsAddr != "" {
		stop, err := serveMetrics(cfg.WorkerMetricsAddr, metrics, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	client, err := worker.NewClient(pool, deps, true)
	if err != nil {
		return err
	}
	// The jobs' context is not ctx: a signal starts a soft stop (running jobs get
	// JobStopTimeout to finish), not an immediate cancel.
	jobCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if err := worker.Start(jobCtx, client, deps, true); err != nil {
		return err
	}
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	log.Info("worker stopping: letting running jobs finish", "timeout", cfg.JobStopTimeout)
	return worker.Stop(jobCtx, client, cfg.JobStopTimeout, 10*time.Second)
}

// serveMetrics serves reg on addr's /metrics until stop is called.
func serveMetrics(addr string, reg *metricsRegistry, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("BERTH_WORKER_METRICS_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("worker metrics stopped", "err", err)
		}
	}()
	log.Info("serving worker metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { _ = srv.Close() }, nil
}

// WorkerDeps builds what the jobs of a `berth worker` process need: the database, and for garbage
// collection and upload purging the registry's storage (its namespace, without the HTTP side).
// Events its jobs record are dispatched by a serving replica's sweep. release closes the registry.
// tracing (nil: off) traces the jobs.
func WorkerDeps(ctx context.Context, cfg Config, log *slog.Logger, pool *pgxpool.Pool, db *ent.Client, tracing *telemetry.Tracing) (deps worker.Deps, release func(), err error) {
	indexer, policies := newIndexer(cfg, db, pool, event.NewDispatcher(pool, log), log)
	store, err := cfg.Secrets(ctx, pool, log)
	if err != nil {
		return worker.Deps{}, nil, err
	}
	regCfg := cfg.registryConfig(store)
	regCfg.ExternalURL = ""
	reg, err := registry.New(ctx, regCfg, db, nil, indexer, log)
	if err != nil {
		return worker.Deps{}, nil, err
	}
	deps, err = jobDeps(ctx, cfg, log, pool, db, reg, store, nil, tracing)
	if err != nil {
		_ = reg.Close()
		return worker.Deps{}, nil, err
	}
	deps.Quota, deps.TagRules, deps.RetentionGrace = policies.ledger, policies.guard, cfg.RetentionGrace
	// The scanner's pull tokens are signed with the shared keys: follow rotations.
	refresh, stopRefresh := context.WithCancel(context.WithoutCancel(ctx))
	go store.Run(refresh)
	return deps, func() { stopRefresh(); _ = reg.Close() }, nil
}

// jobDeps is what every process that works jobs hands River's workers: `berth serve` and
// `berth worker` alike. kick has events that jobs record dispatched at once (nil: at the next sweep).
// tracing (nil: off) traces the jobs and their outgoing requests.
func jobDeps(ctx context.Context, cfg Config, log *slog.Logger, pool *pgxpool.Pool, db *ent.Client, reg *registry.Registry, store *secrets.Store, kick func(), tracing *telemetry.Tracing) (worker.Deps, error) {
	policy, err := cfg.Egress()
	if err != nil {
		return worker.Deps{}, err
	}
	if tracing.Enabled() {
		policy = policy.WithTransport(tracing.Transport)
	}
	deps := worker.Deps{Egress: policy, Middleware: []rivertype.Middleware{tracing.RiverMiddleware()}, DB: db, Pool: pool, Log: log, Kick: kick, WebhookRetryBase: cfg.WebhookRetryBase,
		Storage: reg.Driver(), Artifacts: reg, GCWindow: reg.Guard().Window(), JobLease: cfg.JobLease,
		UploadPurgeAge: cfg.UploadPurgeAge, UploadPurgeInterval: cfg.UploadPurgeInterval, UploadPurgeDryRun: cfg.UploadPurgeDryRun,
		ProxyCacheTTL: time.Duration(cfg.ProxyCacheTTLDays) * 24 * time.Hour,
		// CVE export files live in the registry's storage, so any replica can serve them.
		Exports: export.NewService(pool, db, reg.Driver(), log), ExportTTL: cfg.ExportTTL}
	sealer, err := sealer(store)
	if err != nil {
		return worker.Deps{}, err
	}
	// The jobs' endpoint service only builds clients: it authorizes no caller.
	deps.Replication = replication.NewWorker(pool, db, reg, endpoint.New(db, nil, nil, policy, sealer), log, kick)
	content, err := registry.NewContent(ctx, reg.Driver())
	if err != nil {
		return worker.Deps{}, err
	}
	deps.Signatures = signature.NewVerifier(db, content, log, kick)
	if err := addScanDeps(ctx, cfg, reg, store, &deps); err != nil {
		return worker.Deps{}, err
	}
	return deps, nil
}
