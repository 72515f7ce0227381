// Package server is Berth's composition root: it reads the configuration, builds every part
// (database, auth, event bus, registry, GraphQL, jobs) and wires them into one HTTP server with
// the token service, the Harbor-compatible REST endpoints, health, metrics and the dashboard.
// It owns wiring and HTTP plumbing; the behaviour lives in the parts.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/egress"
	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/secrets"
	"github.com/berth-registry/berth/telemetry"
)

// Config is everything `berth serve` can be told. Each field can come from a flag, from the
// environment variable named in its flag's help, or from the optional YAML file, in that order of
// precedence.
type Config struct {
	Addr          string        `yaml:"addr"`
	ExternalURL   string        `yaml:"external_url"`
	DatabaseURL   string        `yaml:"database_url"`
	DataDir       string        `yaml:"data_dir"`
	AdminPassword string        `yaml:"admin_password"`
	RedisURL      string        `yaml:"redis_url"`
	TLSCert       string        `yaml:"tls_cert"`
	TLSKey        string        `yaml:"tls_key"`
	LogLevel      string        `yaml:"log_level"`
	RunJobs       bool          `yaml:"run_jobs"`
	SessionTTL    time.Duration `yaml:"session_ttl"`
	TokenTTL      time.Duration `yaml:"token_ttl"`
	// ExportTTL is how long an undownloaded CVE export file is kept.
	ExportTTL time.Duration `yaml:"export_ttl"`
	// Storage is a Distribution storage section (driver name → parameters), YAML only: one of
	// filesystem, inmemory, s3 (s3-aws), gcs, azure; see docs/operations.md for an example of each.
	// Empty: filesystem under DataDir/registry.
	Storage map[string]map[string]any `yaml:"storage"`
	// StorageRedirect answers blob GETs with a redirect to a presigned URL of the object store
	// (s3, gcs, azure), so that blob bytes do not pass through Berth. Access, pull policy and
	// accounting are decided before the redirect. Off by default.
	StorageRedirect bool `yaml:"storage_redirect"`
	// StorageMiddleware is Distribution's storage middleware list, YAML only: e.g. the
	// "redirect" middleware (options: baseurl) sends blob GETs to a CDN or another host name.
	StorageMiddleware []registry.StorageMiddleware `yaml:"storage_middleware"`
	// HTTPSecret signs upload state between replicas. Empty: generated once in PostgreSQL.
	HTTPSecret string `yaml:"http_secret"`
	// KeyRefresh is how often each process re-reads the shared token-signing keys: after a
	// rotation, every replica signs with the new key within this long.
	KeyRefresh time.Duration `yaml:"key_refresh_interval"`
	// WebhookRetryBase is the first wait before a failed webhook delivery is retried (doubling
	// each time), YAML only. Zero means 10 seconds.
	WebhookRetryBase time.Duration `yaml:"webhook_retry_base"`
	// GCWindow: blobs pushed, HEADed or referenced this recently are never garbage-collected.
	GCWindow time.Duration `yaml:"gc_window"`
	// QuotaReservationTTL: quota held for an uploaded blob whose manifest has not arrived is
	// released after this (the push is presumed abandoned). Zero means one hour.
	QuotaReservationTTL time.Duration `yaml:"quota_reservation_ttl"`
	// RetentionGrace: tag retention never deletes an artifact pushed or pulled this recently.
	RetentionGrace time.Duration `yaml:"retention_grace"`
	// UploadPurgeAge: half-finished uploads older than this are purged every UploadPurgeInterval
	// (a dry run only reports them when UploadPurgeDryRun).
	UploadPurgeAge      time.Duration `yaml:"upload_purge_age"`
	UploadPurgeInterval time.Duration `yaml:"upload_purge_interval"`
	UploadPurgeDryRun   bool          `yaml:"upload_purge_dry_run"`
	// ProxyCacheTTLDays: artifacts of proxy-cache projects not pulled for this many days are deleted.
	ProxyCacheTTLDays int `yaml:"proxy_cache_ttl_days"`
	// AdvisoryDir holds OSV advisories (JSON files or osv.dev all.zip files) imported at start
	// for the built-in scanner.
	AdvisoryDir string `yaml:"advisory_dir"`
	// ScanAllSchedule is a cron expression on which every artifact is rescanned; empty never.
	ScanAllSchedule string `yaml:"scan_all_schedule"`
	// ScanMaxBytes and ScanMaxFiles bound what one built-in scan unpacks, over all the image's
	// layers: uncompressed bytes read, and tar entries.
	ScanMaxBytes int64 `yaml:"scan_max_bytes"`
	ScanMaxFiles int   `yaml:"scan_max_files"`
	// Cache turns the cache layer (manifest fast path, access decisions) on; off sends every
	// request through the database and Distribution, for comparison and trouble-shooting.
	Cache bool `yaml:"cache"`
	// CacheTTL is how long the Redis tier keeps an entry; CacheMemoryTTL caps the in-process tier
	// (how stale a replica can be if an invalidation never reaches it).
	CacheTTL       time.Duration `yaml:"cache_ttl"`
	CacheMemoryTTL time.Duration `yaml:"cache_memory_ttl"`
	// OutboundAllowCIDRs are address ranges that webhook deliveries and scanner adapters may reach
	// although they are refused by default (loopback, private, link-local, metadata, …), e.g.
	// "10.20.0.0/16" for scanners on an internal network. Empty: only public addresses.
	OutboundAllowCIDRs string `yaml:"outbound_allow_cidrs"`
	// GraphQLMaxBodyBytes caps a GraphQL request body; larger ones are refused with 413.
	GraphQLMaxBodyBytes int64 `yaml:"graphql_max_body_bytes"`
	// LoginAttempts and LoginAddressAttempts are how many failed password logins one account and
	// one client address get per LoginWindow before further attempts are refused (429) until
	// their allowance refills.
	LoginAttempts        int           `yaml:"login_attempts"`
	LoginAddressAttempts int           `yaml:"login_address_attempts"`
	LoginWindow          time.Duration `yaml:"login_window"`
	// AuditSpoolDir is where audit entries wait on local disk while PostgreSQL cannot take them
	// (empty: audit-spool under DataDir; each process takes a numbered slot in it). AuditSpoolSize is how many
	// bytes it holds at most.
	AuditSpoolDir  string `yaml:"audit_spool_dir"`
	AuditSpoolSize int64  `yaml:"audit_spool_size"`
	// JobLease is how long a job run's lease lasts without renewal: a worker that dies mid-run
	// (GC, purge, export, scan) is noticed, its run ended and its claims on blobs voided, within
	// about this long. At least 1s.
	JobLease time.Duration `yaml:"job_lease"`
	// JobStopTimeout is how long running jobs get to finish at shutdown before they are
	// cancelled (each then records its run as stopped).
	JobStopTimeout time.Duration `yaml:"job_stop_timeout"`
	// SecretKey seals registry endpoint credentials at rest (AES-256-GCM): 32 bytes in base64 or
	// hex, or a passphrase of at least 32 characters. Empty: a key generated once in PostgreSQL
	// (imported from an older <data>/keys/secret.key if there is one).
	SecretKey string `yaml:"secret_key"`
	// WorkerMetricsAddr is where `berth worker` serves /metrics (its jobs, its pool); empty: nowhere.
	WorkerMetricsAddr string `yaml:"worker_metrics_addr"`
	// Trace is where OpenTelemetry spans go (a YAML section; BERTH_TRACE_* in the environment).
	// Off unless an exporter is set.
	Trace telemetry.Config `yaml:"trace"`
}

// RegistryHost is the host[:port] clients pull from, for URLs in webhook payloads.
func (c Config) RegistryHost() string {
	if u, err := url.Parse(c.ExternalURL); err == nil && u.Host != "" {
		return u.Host
	}
	return c.Addr
}

// Egress is the policy for Berth's own outgoing requests, from OutboundAllowCIDRs.
func (c Config) Egress() (*egress.Policy, error) {
	allow, err := egress.ParseCIDRs(c.OutboundAllowCIDRs)
	if err != nil {
		return nil, fmt.Errorf("BERTH_OUTBOUND_ALLOW_CIDRS: %w", err)
	}
	return egress.New(allow), nil
}

// Secrets opens the secrets every replica shares (token-signing keys, HTTP secret, sealing key):
// from PostgreSQL, generated there on first start, with the keys of an older data directory
// imported once; the HTTP secret and the sealing key come from settings when set.
func (c Config) Secrets(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (*secrets.Store, error) {
	return secrets.Open(ctx, pool, secrets.Options{ImportDir: filepath.Join(c.DataDir, "keys"),
		HTTPSecret: c.HTTPSecret, SecretKey: c.SecretKey, Verify: c.keyVerifyWindow(), Refresh: c.KeyRefresh, Log: log})
}

// keyVerifyWindow is how long a retired signing key still verifies: the longest a token signed
// with it can live (the token lifetime, or a scanner's pull token), plus the time replicas take to
// stop signing with it, plus a minute of clock skew.
func (c Config) keyVerifyWindow() time.Duration {
	return max(c.TokenTTL, scanTokenTTL) + 2*c.KeyRefresh + time.Minute
}

// sealer is the key that seals registry endpoint credentials.
func sealer(store *secrets.Store) (*endpoint.Sealer, error) {
	return endpoint.LoadSealer(store.SecretKey(), "")
}

// registryConfig is the part of c the registry needs, with the shared HTTP secret.
func (c Config) registryConfig(store *secrets.Store) registry.Config {
	return registry.Config{DataDir: c.DataDir, Storage: c.Storage, Redirect: c.StorageRedirect,
		Middleware: c.StorageMiddleware, HTTPSecret: store.HTTPSecret(), ExternalURL: c.ExternalURL, GCWindow: c.GCWindow}
}

// DefaultDatabaseURL is the local PostgreSQL that `make run` expects.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/berth?sslmode=disable"

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{
		Addr:        "127.0.0.1:8080",
		DatabaseURL: DefaultDatabaseURL,
		DataDir:     "./data",
		LogLevel:    "info",
		RunJobs:     true,
		SessionTTL:  12 * time.Hour,
		TokenTTL:    30 * time.Minute,
		ExportTTL:   24 * time.Hour,
		KeyRefresh:  10 * time.Second,

		GCWindow:            2 * time.Hour,
		RetentionGrace:      time.Hour,
		UploadPurgeAge:      168 * time.Hour,
		UploadPurgeInterval: 24 * time.Hour,
		ProxyCacheTTLDays:   7,

		Cache:          true,
		CacheTTL:       10 * time.Minute,
		CacheMemoryTTL: 30 * time.Second,

		GraphQLMaxBodyBytes:  1 << 20,
		LoginAttempts:        10,
		LoginAddressAttempts: 100,
		LoginWindow:          10 * time.Minute,
		AuditSpoolSize:       audit.DefaultSpoolLimit,
		JobLease:             time.Minute,
		JobStopTimeout:       20 * time.Second,
		ScanMaxBytes:         8 << 30,
		ScanMaxFiles:         1_000_000,
		Trace:                telemetry.Defaults(),
	}
}

// Flags registers the serve flags on fs and returns a function that, after fs.Parse, gives the
// final configuration: defaults, then the YAML file, then environment variables, then flags.
func Flags(fs *flag.FlagSet) func() (Config, error) {
	type setting struct {
		env, usage string
		value      *string
	}
	var (
		file     = fs.String("config", os.Getenv("BERTH_CONFIG"), "optional YAML configuration file (env BERTH_CONFIG)")
		settings = map[string]*setting{}
	)
	add := func(name, env, usage string) {
		s := &setting{env: env, usage: usage}
		s.value = fs.String(name, "", fmt.Sprintf("%s (env %s)", usage, env))
		settings[name] = s
	}
	d := Defaults()
	add("addr", "BERTH_ADDR", "address to listen on; default "+d.Addr)
	add("external-url", "BERTH_EXTERNAL_URL", "the URL clients reach Berth at, e.g. https://registry.example.com; default: taken from each request")
	add("database-url", "DATABASE_URL", "PostgreSQL URL; the database is created if missing; default "+d.DatabaseURL)
	add("data-dir", "BERTH_DATA_DIR", "directory for blobs (filesystem storage) and keys; default "+d.DataDir)
	add("admin-password", "BERTH_ADMIN_PASSWORD", "password of the first admin account, used once at first start; default: a generated password printed once")
	add("redis-url", "REDIS_URL", "optional Redis URL for the shared cache tier, e.g. redis://127.0.0.1:6379/0")
	add("tls-cert", "BERTH_TLS_CERT", "certificate file: serve HTTPS (docker requires it for any host but localhost)")
	add("tls-key", "BERTH_TLS_KEY", "private key file for --tls-cert")
	add("log-level", "BERTH_LOG_LEVEL", "debug, info, warn or error; default "+d.LogLevel)
	add("run-jobs", "BERTH_RUN_JOBS", "true to run background jobs in this process too, false to leave them to berth worker processes; default true")
	add("session-ttl", "BERTH_SESSION_TTL", "how long a dashboard login lasts; default "+d.SessionTTL.String())
	add("token-ttl", "BERTH_TOKEN_TTL", "how long a registry token lasts; default "+d.TokenTTL.String())
	add("export-ttl", "BERTH_EXPORT_TTL", "how long an undownloaded CVE export file is kept; default "+d.ExportTTL.String())
	add("gc-window", "BERTH_GC_WINDOW", "blobs pushed, HEADed or referenced this recently are never garbage-collected; default "+d.GCWindow.String())
	add("quota-reservation-ttl", "BERTH_QUOTA_RESERVATION_TTL", "quota held for an uploaded blob whose manifest has not arrived is released after this; default 1h")
	add("retention-grace", "BERTH_RETENTION_GRACE", "tag retention never deletes an artifact pushed or pulled this recently; default "+d.RetentionGrace.String())
	add("upload-purge-age", "BERTH_UPLOAD_PURGE_AGE", "half-finished uploads older than this are purged; default "+d.UploadPurgeAge.String())
	add("upload-purge-interval", "BERTH_UPLOAD_PURGE_INTERVAL", "how often uploads are purged; default "+d.UploadPurgeInterval.String())
	add("upload-purge-dry-run", "BERTH_UPLOAD_PURGE_DRY_RUN", "true to have scheduled upload purges only report what they would remove; default false")
	add("proxy-cache-ttl-days", "BERTH_PROXY_CACHE_TTL_DAYS", "artifacts of proxy-cache projects not pulled for this many days are deleted; default "+strconv.Itoa(d.ProxyCacheTTLDays))
	add("advisory-dir", "BERTH_ADVISORY_DIR", "directory of OSV advisories (JSON files, or osv.dev all.zip files) imported at start for the built-in scanner")
	add("cache", "BERTH_CACHE", "on or off: answer warm manifest pulls and access decisions from the cache; default on")
	add("cache-ttl", "BERTH_CACHE_TTL", "how long the Redis cache tier keeps an entry; default "+d.CacheTTL.String())
	add("cache-memory-ttl", "BERTH_CACHE_MEMORY_TTL", "the most the in-process cache tier keeps an entry; default "+d.CacheMemoryTTL.String())
	add("outbound-allow-cidrs", "BERTH_OUTBOUND_ALLOW_CIDRS", "comma-separated CIDR ranges that webhooks and scanner adapters may reach although they are private, loopback or link-local, e.g. 10.20.0.0/16; default: none")
	add("graphql-max-body-bytes", "BERTH_GRAPHQL_MAX_BODY_BYTES", "the largest GraphQL request body accepted, in bytes; default 1048576 (1 MiB)")
	add("login-attempts", "BERTH_LOGIN_ATTEMPTS", "failed password logins one account gets per login window before further attempts are refused; default "+strconv.Itoa(d.LoginAttempts))
	add("login-address-attempts", "BERTH_LOGIN_ADDRESS_ATTEMPTS", "failed password logins one client address gets per login window (over all accounts); default "+strconv.Itoa(d.LoginAddressAttempts))
	add("login-window", "BERTH_LOGIN_WINDOW", "how long a used-up login allowance takes to refill; default "+d.LoginWindow.String())
	add("audit-spool-dir", "BERTH_AUDIT_SPOOL_DIR", "directory where audit entries wait on local disk while PostgreSQL is unavailable (each process takes a numbered subdirectory); default audit-spool under the data directory")
	add("audit-spool-size", "BERTH_AUDIT_SPOOL_SIZE", "most bytes the audit spool holds, e.g. 512MiB or 2GiB; default 512MiB")
	add("job-lease", "BERTH_JOB_LEASE", "how long a job run's lease lasts unrenewed: a worker that dies mid-run is noticed and its run ended within about this long (at least 1s); default "+d.JobLease.String())
	add("job-stop-timeout", "BERTH_JOB_STOP_TIMEOUT", "how long running jobs get to finish at shutdown before they are cancelled and their runs recorded as stopped; default "+d.JobStopTimeout.String())
	add("scan-max-bytes", "BERTH_SCAN_MAX_BYTES", "the most uncompressed layer data one built-in scan reads, e.g. 8GiB (bytes, or KiB, MiB, GiB); default 8GiB")
	add("scan-max-files", "BERTH_SCAN_MAX_FILES", fmt.Sprintf("the most tar entries one built-in scan reads, over all layers; default %d", d.ScanMaxFiles))
	add("secret-key", "BERTH_SECRET_KEY", "key that seals registry endpoint credentials at rest: 32 bytes in base64 or hex, or a passphrase of 32+ characters; default: a key generated once in PostgreSQL")
	add("http-secret", "BERTH_HTTP_SECRET", "secret that signs upload state between replicas; default: one generated once in PostgreSQL")
	add("key-refresh-interval", "BERTH_KEY_REFRESH_INTERVAL", "how often each process re-reads the shared token-signing keys (after a rotation every replica signs with the new key within this long); default "+d.KeyRefresh.String())
	add("storage-redirect", "BERTH_STORAGE_REDIRECT", "true to answer blob GETs with a redirect to a presigned URL of the object store (s3, gcs, azure), after access is checked; default false")
	add("worker-metrics-addr", "BERTH_WORKER_METRICS_ADDR", "address on which `berth worker` serves /metrics (its jobs and database pool), e.g. 0.0.0.0:9090; default: none")
	add("trace-exporter", "BERTH_TRACE_EXPORTER", "where traces go: none, otlp-http, otlp-grpc or jaeger (OTLP to Jaeger); default none")
	add("trace-endpoint", "BERTH_TRACE_ENDPOINT", "the trace collector: host:port or URL; default the exporter's own (localhost:4318 for otlp-http, localhost:4317 otherwise)")
	add("trace-insecure", "BERTH_TRACE_INSECURE", "true to send traces without TLS; default false")
	add("trace-headers", "BERTH_TRACE_HEADERS", "headers sent with every trace export, e.g. x-api-key=SECRET,x-tenant=a")
	add("trace-sample-ratio", "BERTH_TRACE_SAMPLE_RATIO", "share of new traces recorded, 0 to 1 (requests that arrive in a sampled trace are always recorded); default 1")
	add("trace-service-name", "BERTH_TRACE_SERVICE_NAME", "service.name of this process's spans; default "+d.Trace.ServiceName)
	add("trace-namespace", "BERTH_TRACE_NAMESPACE", "service.namespace of this process's spans, e.g. the environment; default none")
	add("trace-attributes", "BERTH_TRACE_ATTRIBUTES", "extra resource attributes on every span, e.g. deployment.environment=prod,region=eu")
	add("scan-all-schedule", "BERTH_SCAN_ALL_SCHEDULE", "cron expression (5 fields, UTC) on which every artifact is rescanned, e.g. \"0 3 * * *\"; default: never")

	return func() (Config, error) {
		cfg := Defaults()
		if *file != "" {
			b, err := os.ReadFile(*file)
			if err != nil {
				return cfg, fmt.Errorf("read config file: %w", err)
			}
			dec := yaml.NewDecoder(strings.NewReader(string(b)))
			dec.KnownFields(true)
			if err := dec.Decode(&cfg); err != nil {
				return cfg, fmt.Errorf("config file %s: %w", *file, err)
			}
		}
		var errs []error
		for name, s := range settings {
			v := *s.value
			if v == "" {
				v = os.Getenv(s.env)
			}
			if v == "" {
				continue
			}
			if err := cfg.set(name, v); err != nil {
				errs = append(errs, fmt.Errorf("--%s / %s: %w", name, s.env, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return cfg, err
		}
		return cfg, cfg.validate()
	}
}

func (c *Config) set(name, v string) error {
	var err error
	switch name {
	case "addr":
		c.Addr = v
	case "external-url":
		c.ExternalURL = strings.TrimRight(v, "/")
	case "database-url":
		c.DatabaseURL = v
	case "data-dir":
		c.DataDir = v
	case "admin-password":
		c.AdminPassword = v
	case "redis-url":
		c.RedisURL = v
	case "tls-cert":
		c.TLSCert = v
	case "tls-key":
		c.TLSKey = v
	case "log-level":
		c.LogLevel = v
	case "run-jobs":
		c.RunJobs, err = strconv.ParseBool(v)
	case "session-ttl":
		c.SessionTTL, err = time.ParseDuration(v)
	case "token-ttl":
		c.TokenTTL, err = time.ParseDuration(v)
	case "export-ttl":
		c.ExportTTL, err = time.ParseDuration(v)
	case "gc-window":
		c.GCWindow, err = time.ParseDuration(v)
	case "quota-reservation-ttl":
		c.QuotaReservationTTL, err = time.ParseDuration(v)
	case "retention-grace":
		c.RetentionGrace, err = time.ParseDuration(v)
	case "upload-purge-age":
		c.UploadPurgeAge, err = time.ParseDuration(v)
	case "upload-purge-interval":
		c.UploadPurgeInterval, err = time.ParseDuration(v)
	case "upload-purge-dry-run":
		c.UploadPurgeDryRun, err = strconv.ParseBool(v)
	case "proxy-cache-ttl-days":
		c.ProxyCacheTTLDays, err = strconv.Atoi(v)
	case "advisory-dir":
		c.AdvisoryDir = v
	case "scan-all-schedule":
		c.ScanAllSchedule = v
	case "scan-max-bytes":
		c.ScanMaxBytes, err = parseSize(v)
	case "scan-max-files":
		c.ScanMaxFiles, err = strconv.Atoi(v)
	case "cache":
		switch strings.ToLower(v) {
		case "on", "true", "1":
			c.Cache = true
		case "off", "false", "0":
			c.Cache = false
		default:
			err = fmt.Errorf("%q: use on or off", v)
		}
	case "cache-ttl":
		c.CacheTTL, err = time.ParseDuration(v)
	case "cache-memory-ttl":
		c.CacheMemoryTTL, err = time.ParseDuration(v)
	case "outbound-allow-cidrs":
		c.OutboundAllowCIDRs = v
	case "graphql-max-body-bytes":
		c.GraphQLMaxBodyBytes, err = strconv.ParseInt(v, 10, 64)
	case "login-attempts":
		c.LoginAttempts, err = strconv.Atoi(v)
	case "login-address-attempts":
		c.LoginAddressAttempts, err = strconv.Atoi(v)
	case "login-window":
		c.LoginWindow, err = time.ParseDuration(v)
	case "audit-spool-dir":
		c.AuditSpoolDir = v
	case "audit-spool-size":
		c.AuditSpoolSize, err = parseSize(v)
	case "job-lease":
		c.JobLease, err = time.ParseDuration(v)
	case "job-stop-timeout":
		c.JobStopTimeout, err = time.ParseDuration(v)
	case "secret-key":
		c.SecretKey = v
	case "http-secret":
		c.HTTPSecret = v
	case "key-refresh-interval":
		c.KeyRefresh, err = time.ParseDuration(v)
	case "storage-redirect":
		c.StorageRedirect, err = strconv.ParseBool(v)
	case "worker-metrics-addr":
		c.WorkerMetricsAddr = v
	case "trace-exporter":
		c.Trace.Exporter = v
	case "trace-endpoint":
		c.Trace.Endpoint = v
	case "trace-insecure":
		c.Trace.Insecure, err = strconv.ParseBool(v)
	case "trace-headers":
		c.Trace.Headers, err = telemetry.ParsePairs(v)
	case "trace-sample-ratio":
		c.Trace.SampleRatio, err = strconv.ParseFloat(v, 64)
	case "trace-service-name":
		c.Trace.ServiceName = v
	case "trace-namespace":
		c.Trace.Namespace = v
	case "trace-attributes":
		c.Trace.Attributes, err = telemetry.ParsePairs(v)
	}
	return err
}

func (c *Config) validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("set both BERTH_TLS_CERT and BERTH_TLS_KEY, or neither")
	}
	if c.SessionTTL <= 0 || c.TokenTTL <= 0 || c.ExportTTL <= 0 {
		return errors.New("session, token and export lifetimes must be positive")
	}
	if c.QuotaReservationTTL < 0 || c.RetentionGrace < 0 {
		return errors.New("BERTH_QUOTA_RESERVATION_TTL and BERTH_RETENTION_GRACE must not be negative")
	}
	if c.GCWindow < 0 || c.UploadPurgeAge < time.Hour || c.UploadPurgeInterval < time.Hour {
		return errors.New("the GC window must not be negative; the upload purge age and interval must be at least 1h")
	}
	if c.ProxyCacheTTLDays < 1 {
		return errors.New("the proxy-cache TTL must be at least 1 day")
	}
	if c.JobLease < time.Second || c.JobStopTimeout <= 0 {
		return errors.New("the job lease must be at least 1s and the job stop timeout positive")
	}
	if c.CacheTTL <= 0 || c.CacheMemoryTTL <= 0 || c.CacheMemoryTTL > c.CacheTTL {
		return errors.New("cache lifetimes must be positive, the in-process one no longer than the Redis one")
	}
	if _, err := c.Egress(); err != nil {
		return err
	}
	if c.GraphQLMaxBodyBytes < 1024 {
		return errors.New("BERTH_GRAPHQL_MAX_BODY_BYTES must be at least 1024")
	}
	if c.LoginAttempts < 1 || c.LoginAddressAttempts < c.LoginAttempts || c.LoginWindow < time.Second {
		return errors.New("login throttling: BERTH_LOGIN_ATTEMPTS must be at least 1, BERTH_LOGIN_ADDRESS_ATTEMPTS at least as many, BERTH_LOGIN_WINDOW at least 1s")
	}
	if c.AuditSpoolSize < 1<<20 {
		return fmt.Errorf("audit spool size %d bytes: give at least 1MiB (e.g. 512MiB)", c.AuditSpoolSize)
	}
	if c.KeyRefresh < 100*time.Millisecond || c.KeyRefresh > 10*time.Minute {
		return errors.New("BERTH_KEY_REFRESH_INTERVAL must be between 100ms and 10m")
	}
	if c.HTTPSecret != "" && len(c.HTTPSecret) < 16 {
		return errors.New("BERTH_HTTP_SECRET must be at least 16 characters")
	}
	if err := registry.CheckStorage(c.Storage, c.StorageRedirect); err != nil {
		return err
	}
	if c.ScanMaxBytes <= 0 || c.ScanMaxFiles <= 0 {
		return errors.New("BERTH_SCAN_MAX_BYTES and BERTH_SCAN_MAX_FILES must be positive")
	}
	if err := c.Trace.Validate(); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log level %q: use debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// parseSize reads a size in bytes: a whole number, optionally followed by KiB, MiB or GiB.
func parseSize(v string) (int64, error) {
	num, mult := strings.TrimSpace(v), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q: give a positive number of bytes, optionally with KiB, MiB or GiB (e.g. 512MiB)", v)
	}
	return n * mult, nil
}
