package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/artifact"
	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auditlog"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/cache"
	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/graph"
	"github.com/berth-registry/berth/label"
	"github.com/berth-registry/berth/member"
	"github.com/berth-registry/berth/migrations"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/retention"
	"github.com/berth-registry/berth/robot"
	"github.com/berth-registry/berth/secrets"
	"github.com/berth-registry/berth/signature"
	"github.com/berth-registry/berth/tagrule"
	"github.com/berth-registry/berth/telemetry"
	"github.com/berth-registry/berth/user"
	"github.com/berth-registry/berth/worker"
	"github.com/berth-registry/berth/worker/gc"
	"github.com/berth-registry/berth/worker/purge"
	"github.com/berth-registry/berth/worker/replication"
	"github.com/berth-registry/berth/worker/run"
	"github.com/berth-registry/berth/worker/scan"
	"github.com/berth-registry/berth/worker/webhook"
)

// Server is a running Berth: every part, built and wired.
type Server struct {
	cfg      Config
	log      *slog.Logger
	pool     *pgxpool.Pool
	sqlDB    *sql.DB
	db       *ent.Client
	auth     *auth.Service
	events   *event.Bus
	dispatch *event.Dispatcher
	audit    *audit.Writer
	auditCfg *audit.Settings
	forward  *audit.Forwarder
	registry *registry.Registry
	jobs     *river.Client[pgx.Tx]
	jobDeps  worker.Deps
	redis    *redis.Client
	cache    *cache.Cache // nil when the cache is off
	handler  http.Handler
	queries  *atomic.Int64
	tracing  *telemetry.Tracing
	metrics  *metricsRegistry
	runs     *worker.RunProgress
	secrets  *secrets.Store
}

// defaultConnectTimeout bounds a connection attempt when DATABASE_URL sets no connect_timeout.
const defaultConnectTimeout = 5 * time.Second

// Database opens the PostgreSQL pool named by cfg (creating the database if it is missing),
// brings the schema up to date, and returns the pool with an ent client over it.
func Database(ctx context.Context, cfg Config, log *slog.Logger) (*pgxpool.Pool, *sql.DB, *ent.Client, error) {
	return openDatabase(ctx, cfg, log, nil)
}

// openDatabase is Database with tracer (nil: none) tracing every query of the pool.
func openDatabase(ctx context.Context, cfg Config, log *slog.Logger, tracer pgx.QueryTracer) (*pgxpool.Pool, *sql.DB, *ent.Client, error) {
	if err := migrations.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
		return nil, nil, nil, fmt.Errorf("database %s: %w", migrations.Redact(cfg.DatabaseURL), err)
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("database %s: %w", migrations.Redact(cfg.DatabaseURL), err)
	}
	if poolCfg.ConnConfig.ConnectTimeout == 0 {
		// Without connect_timeout in the URL a connect to an unreachable host waits for the
		// operating system (minutes): requests would hang instead of answering 503.
		poolCfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if tracer != nil {
		poolCfg.ConnConfig.Tracer = tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("database %s: %w", migrations.Redact(cfg.DatabaseURL), err)
	}
	if err := migrations.Apply(ctx, pool, log); err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	// ent runs on the same pool through pgx's database/sql adapter: one set of connections.
	sqlDB := stdlib.OpenDBFromPool(pool)
	db := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, sqlDB)))
	return pool, sqlDB, db, nil
}

// New builds every part of Berth from cfg. Nothing listens until Run.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	warnIgnoredEnv(log)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	tracing, err := telemetry.New(ctx, cfg.Trace, log)
	if err != nil {
		return nil, err
	}
	pool, sqlDB, db, err := openDatabase(ctx, cfg, log, tracing.QueryTracer())
	if err != nil {
		_ = tracing.Shutdown(ctx)
		return nil, err
	}
	// The API's own client counts its statements; background jobs keep Database's plain client, so
	// that the count (and berth_db_queries_total) is the API's alone.
	jobsDB := db
	s := &Server{cfg: cfg, log: log, pool: pool, sqlDB: sqlDB, queries: new(atomic.Int64), tracing: tracing}
	// (The plain client holds nothing but sqlDB, which the counting one shares: closing it would close both.)
	db = ent.NewClient(ent.Driver(countingDriver{Driver: entsql.OpenDB(dialect.Postgres, sqlDB), n: s.queries}))
	// Every replica forgets its access decisions when a permission changes anywhere (whether or
	// not this one caches them): the hook notifies inside the writing transaction.
	db.Use(cache.AccessHook(s.ForgetAccessDecisions))
	s.db = db
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()

	if s.metrics, err = newMetrics(pool); err != nil {
		return nil, err
	}
	if err := bootstrap(ctx, db, cfg.AdminPassword, log); err != nil {
		return nil, err
	}
	if s.secrets, err = cfg.Secrets(ctx, pool, log); err != nil {
		return nil, err
	}
	s.auth = auth.NewService(db, auth.NewTokensWith(s.secrets, "berth", cfg.TokenTTL), cfg.SessionTTL)
	s.events = event.NewBus(pool, log)
	if s.runs, err = worker.NewRunProgress(s.metrics); err != nil {
		return nil, err
	}
	if err := s.metrics.Register(s.events); err != nil {
		return nil, err
	}
	s.dispatch = event.NewDispatcher(pool, log)
	if s.auditCfg, err = audit.LoadSettings(ctx, pool, log); err != nil {
		return nil, err
	}
	s.auth.SetThrottleLimits(auth.ThrottleLimits{PerAccount: cfg.LoginAttempts, PerAddress: cfg.LoginAddressAttempts, Window: cfg.LoginWindow})
	s.auth.AuditLogins(s.auditLoginFailure)
	spoolDir := cfg.AuditSpoolDir
	if spoolDir == "" {
		spoolDir = filepath.Join(cfg.DataDir, "audit-spool")
	}
	if s.audit, err = audit.NewWriter(pool, s.auditCfg, log, audit.WriterOptions{SpoolDir: spoolDir, SpoolLimit: cfg.AuditSpoolSize}); err != nil {
		return nil, err
	}
	s.forward = audit.NewForwarder(pool, s.auditCfg, log)
	if cfg.RedisURL != "" {
		if s.redis, err = cache.NewRedis(cfg.RedisURL, cache.DefaultRedisTimeout); err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		if err := tracing.InstrumentRedis(s.redis); err != nil {
			return nil, fmt.Errorf("trace Redis: %w", err)
		}
	}
	scans := scan.NewService(pool, db)
	indexer, policies := newIndexer(cfg, db, pool, s.dispatch, log)
	regCfg := cfg.registryConfig(s.secrets)
	regCfg.Audit, regCfg.PullPolicy = s.audit, scan.NewPolicy(scans)
	s.registry, err = registry.New(ctx, regCfg, db, s.auth, indexer, log)
	if err != nil {
		return nil, err
	}
	if cfg.Cache {
		s.cache, err = cache.New(cache.Config{Redis: s.redis, TTL: cfg.CacheTTL, MemoryTTL: cfg.CacheMemoryTTL,
			RedisTimeout: cache.DefaultRedisTimeout, Unavailable: auth.IsUnavailable, Log: log})
		if err != nil {
			return nil, err
		}
		s.registry.UseCache(s.cache)
	}
	deps, err := jobDeps(ctx, cfg, log, pool, jobsDB, s.registry, s.secrets, s.dispatch.Kick, tracing)
	if err != nil {
		return nil, err
	}
	deps.Quota, deps.TagRules, deps.RetentionGrace = policies.ledger, policies.guard, cfg.RetentionGrace
	if deps.Metrics, err = worker.NewJobMetrics(s.metrics); err != nil {
		return nil, err
	}
	if err := bootstrapScanning(ctx, db, deps.Advisories, cfg.AdvisoryDir, log); err != nil {
		return nil, err
	}
	s.jobDeps = deps
	s.jobs, err = worker.NewClient(pool, deps, cfg.RunJobs)
	if err != nil {
		return nil, err
	}
	hooks := webhook.NewService(pool, db, s.jobs, cfg.RegistryHost())
	s.dispatch.AddConsumer(hooks)
	s.dispatch.AddConsumer(scan.NewPushConsumer(scans, s.jobs, log))
	s.dispatch.AddConsumer(signature.NewPushConsumer(s.jobs)) // verify pushed signatures (and subjects)
	sealer, err := sealer(s.secrets)
	if err != nil {
		return nil, err
	}
	endpoints := endpoint.New(db, s.auth, s.audit, deps.Egress, sealer)
	if err := s.registry.UseProxy(registry.ProxyConfig{Upstreams: endpoints, Redis: s.redis}, s.metrics); err != nil {
		return nil, err
	}
	replications := replication.NewService(pool, db, s.jobs, s.auth, s.audit, log)
	s.dispatch.AddConsumer(replications) // event-based replication: once per event
	// Last: its insert takes the audit log's commit-order lock, held until the dispatch commits.
	s.dispatch.AddConsumer(audit.NewConsumer())
	publisher := event.NewPublisher(db, s.dispatch, log, func(ctx context.Context) (string, string) {
		return auth.PrincipalFrom(ctx).Name, auth.SourceIPFrom(ctx)
	})
	projects := project.New(db, s.auth, s.audit, publisher)
	projects.UseDefaultQuota(func() int64 { return policies.settings.Current().DefaultLimit })
	artifacts := artifact.New(db, projects, s.registry, publisher)
	runs := run.Deps{Pool: pool, Jobs: s.jobs, Auth: s.auth, Audit: s.audit, Bus: s.events}
	res := &graph.Resolver{DB: db, Pool: pool, Jobs: s.jobs, Auth: s.auth, Registry: s.registry, Events: s.events,
		Publisher: publisher, Projects: projects, Members: member.New(db, projects, s.audit),
		Artifacts: artifacts, Labels: label.New(db, s.auth, projects, artifacts),
		Dispatcher: s.dispatch, Webhooks: hooks, Audit: s.audit,
		Purge: purge.NewService(runs, db), Exports: deps.Exports.Serving(runs, projects),
		GC: gc.NewService(runs, db, s.registry.Guard().Window()), Log: log,
		Scans: scans.Serving(scan.Callers{Deps: runs, Artifacts: artifacts, Kick: s.dispatch.Kick, Egress: deps.Egress, Adapter: deps.Adapter}),
		Users: user.New(db, s.auth, s.audit), Robots: robot.New(db, s.auth, projects, s.audit),
		WebhookPolicies: webhook.NewPolicies(db, projects, deps.Egress, s.audit, hooks),
		AuditLog:        auditlog.New(pool, db, s.auth, projects, s.auditCfg, s.audit),
		Endpoints:       endpoints, Replication: replications, Secrets: secrets.NewService(s.secrets, s.auth, s.audit),
		Signatures: signature.NewService(db, s.auth, projects, s.audit, s.jobs),
		Quotas:     policies.service(db, s.auth, projects, s.audit, s.jobs), TagRules: tagrule.NewService(db, projects, s.audit),
		Retention: retention.NewService(db, pool, s.jobs, projects, s.audit, s.events)}
	s.handler = s.routes(res)
	ok = true
	return s, nil
}

// ForgetAccessDecisions makes this replica forget its cached access decisions, as a committed
// permission change does. cache.AccessHook on another ent client (a tool or a test writing to
// the database directly) calls it.
func (s *Server) ForgetAccessDecisions() {
	if s.cache != nil {
		s.cache.AccessChanged(context.Background())
	}
}

// AccessGeneration is this replica's access generation: it moves whenever cached access decisions
// are forgotten (a permission change here or anywhere). 0 without the cache.
func (s *Server) AccessGeneration() uint64 {
	if s.cache == nil {
		return 0
	}
	return s.cache.Generation()
}

// CacheInvalidationsPending is how many events this replica heard still have a cache invalidation
// pass to run (0 without the cache).
func (s *Server) CacheInvalidationsPending() int64 {
	if s.cache == nil {
		return 0
	}
	return s.cache.InvalidationsPending()
}

// EventSubscribers is how many subscriptions (GraphQL subscriptions and cache followers) this
// replica's event bus feeds now: a test waits on it to know a subscription is live.
func (s *Server) EventSubscribers() int { return s.events.Subscribers() }

// EventsListening reports whether this replica hears events recorded on any replica now.
func (s *Server) EventsListening() bool { return s.events.Listening() }

// FlushTraces sends the spans recorded so far, when tracing is on.
func (s *Server) FlushTraces(ctx context.Context) error { return s.tracing.ForceFlush(ctx) }

// Tokens signs and verifies tokens with the replicas' shared keys, for tools and tests.
func (s *Server) Tokens() *auth.Tokens { return s.auth.Tokens() }

// Handler is the whole HTTP API, for tests that serve it themselves.
func (s *Server) Handler() http.Handler { return s.handler }

// Start runs the background parts (event dispatcher and listener, jobs) until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	go s.dispatch.Run(ctx)
	go s.auditCfg.Run(ctx)
	go s.forward.Run(ctx)
	go s.auth.RecordUse(ctx, s.log)
	go s.secrets.Run(ctx)
	runEvents, stopRunEvents := s.events.Subscribe(256)
	go func() {
		defer stopRunEvents()
		s.runs.Follow(ctx, runEvents)
	}()
	if s.cache != nil {
		go s.cache.Follow(ctx, s.events)
		go s.cache.ListenAccess(ctx, s.pool)
		go s.cache.WatchSharedGeneration(ctx)
	}
	go func() {
		if err := s.events.Run(ctx); err != nil {
			s.log.Error("event bus stopped", "err", err)
		}
	}()
	if err := worker.Start(ctx, s.jobs, s.jobDeps, s.cfg.RunJobs); err != nil {
		return fmt.Errorf("start jobs: %w", err)
	}
	return nil
}

// Run serves until ctx is cancelled (SIGTERM), then shuts down gracefully: in-flight requests
// finish (up to 30 s), running jobs get to finish, connections close.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller made.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.close()
	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	if err := s.Start(bg); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return bg },
	}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			s.log.Info("serving", "url", "https://"+ln.Addr().String())
			errc <- srv.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
			return
		}
		s.log.Info("serving", "url", "http://"+ln.Addr().String())
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing in-flight requests and running jobs")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Jobs stop beside the HTTP server: each gets JobStopTimeout, then is cancelled and records
	// its run as stopped. Only after both does close() close the pool they write through.
	jobsStopped := make(chan error, 1)
	go func() { jobsStopped <- s.stopJobs(context.Background()) }()
	err := srv.Shutdown(shutdownCtx)
	if stopErr := <-jobsStopped; stopErr != nil {
		err = errors.Join(err, fmt.Errorf("stop jobs: %w", stopErr))
	}
	stopBackground()
	return err
}

// auditCloseTimeout bounds how long shutdown spends writing the audit log's last entries.
const auditCloseTimeout = 10 * time.Second

func (s *Server) close() {
	if s.registry != nil {
		_ = s.registry.Close()
	}
	if s.audit != nil {
		// After the registry: its last pulls are recorded by now. What the database cannot take
		// in time stays in the spool for the next start.
		ctx, cancel := context.WithTimeout(context.Background(), auditCloseTimeout)
		if err := s.audit.Close(ctx); err != nil {
			s.log.Error("audit: close", "err", err)
		}
		cancel()
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
	if s.db != nil {
		_ = s.db.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
	// Last: the spans of everything above are sent before the exporter stops.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := s.tracing.Shutdown(ctx); err != nil {
		s.log.Warn("tracing: last spans not sent", "err", err)
	}
	cancel()
}

// warnIgnoredEnv tells the operator that Distribution's own variables do nothing here: the
// embedded registry is configured by Berth alone.
func warnIgnoredEnv(log *slog.Logger) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "REGISTRY_") {
			log.Warn("ignoring environment variable: the embedded registry is configured through Berth's own settings", "name", name)
		}
	}
}

func (s *Server) stopJobs(ctx context.Context) error {
	if !s.cfg.RunJobs {
		return nil
	}
	return worker.Stop(ctx, s.jobs, s.cfg.JobStopTimeout, 10*time.Second)
}

// auditLoginFailure records a failed password login, on whichever door it came; a throttled one
// (refused without its password being checked) is told apart by its resource.
func (s *Server) auditLoginFailure(ctx context.Context, username string, throttled bool) {
	resource := username
	if throttled {
		resource += " (throttled)"
	}
	if err := s.audit.Record(ctx, audit.Entry{User: username, Operation: audit.OpLogin, ResourceType: "session",
		Resource: resource, Failed: true}); err != nil {
		s.log.Error("audit: record failed login", "err", err)
	}
}
