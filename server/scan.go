package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/berth-registry/berth/advisory"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entscanner "github.com/berth-registry/berth/ent/scanner"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/secrets"
	"github.com/berth-registry/berth/worker"
	"github.com/berth-registry/berth/worker/scan"
	"github.com/berth-registry/berth/worker/scan/layer"
)

// addScanDeps gives deps what scan jobs need: the registry's storage to read images from, the
// advisory database, the adapter client (with pull tokens signed by the data directory's key) and
// the scan-all schedule.
func addScanDeps(ctx context.Context, cfg Config, reg *registry.Registry, store *secrets.Store, deps *worker.Deps) error {
	content, err := registry.NewContent(ctx, reg.Driver())
	if err != nil {
		return err
	}
	content.FetchMissingWith(reg.PullBlobThrough) // layers of proxy-cache artifacts not pulled yet
	tokens := auth.NewTokensWith(store, "berth", scanTokenTTL)
	deps.Content = content
	deps.Advisories = advisory.NewStore(deps.Pool)
	deps.ScanUnpack = scan.Unpack{Dir: filepath.Join(cfg.DataDir, "scanner"),
		Limits: layer.Limits{MaxBytes: cfg.ScanMaxBytes, MaxEntries: cfg.ScanMaxFiles}}
	deps.Adapter = &scan.AdapterClient{RegistryURL: registryURL(cfg), PullToken: pullToken(tokens), Egress: deps.Egress}
	if cfg.ScanAllSchedule != "" {
		sched, err := cron.ParseStandard(cfg.ScanAllSchedule)
		if err != nil {
			return fmt.Errorf("BERTH_SCAN_ALL_SCHEDULE %q: %w", cfg.ScanAllSchedule, err)
		}
		deps.ScanAll = river.PeriodicSchedule(sched)
	}
	return nil
}

// scanTokenTTL is how long a scanner adapter's pull token lasts.
const scanTokenTTL = 10 * time.Minute

// registryURL is where scanner adapters pull from.
func registryURL(cfg Config) string {
	if cfg.ExternalURL != "" {
		return cfg.ExternalURL
	}
	scheme := "http://"
	if cfg.TLSCert != "" {
		scheme = "https://"
	}
	host := cfg.Addr
	if strings.HasPrefix(host, ":") {
		host = "127.0.0.1" + host
	}
	return scheme + host
}

// pullToken issues the adapter a scanner's token (auth.KindScanner) that may pull one artifact,
// its manifest and the blobs it stands on, and nothing else, for ten minutes. It names no user:
// a scanner adapter, or anyone who reads its scan request, gets that artifact and no more.
func pullToken(tokens *auth.Tokens) func(ctx context.Context, repo, digest string) (string, error) {
	return func(_ context.Context, repo, digest string) (string, error) {
		return tokens.IssueScanner(repo, digest, time.Now())
	}
}

// bootstrapScanning registers the built-in scanner at first start (the default if no scanner is)
// and imports the advisory directory, if one is configured.
func bootstrapScanning(ctx context.Context, db *ent.Client, advisories *advisory.Store, dir string, log *slog.Logger) error {
	exists, err := db.Scanner.Query().Where(entscanner.Builtin(true)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap scanner: %w", err)
	}
	if !exists {
		hasDefault, err := db.Scanner.Query().Where(entscanner.IsDefault(true)).Exist(ctx)
		if err != nil {
			return fmt.Errorf("bootstrap scanner: %w", err)
		}
		err = db.Scanner.Create().SetName(scan.BuiltinName).SetBuiltin(true).SetIsDefault(!hasDefault).
			SetVendor("Berth").SetVersion("1").
			SetDescription("The built-in offline scanner: OS packages (dpkg, apk, rpm) against the local OSV advisory database.").
			OnConflictColumns(entscanner.FieldName).DoNothing().Exec(ctx)
		if err != nil && !strings.Contains(err.Error(), "no rows in result set") {
			return fmt.Errorf("bootstrap scanner: %w", err)
		}
	}
	if dir == "" {
		return nil
	}
	start := time.Now()
	st, err := advisories.Import(ctx, dir)
	if err != nil {
		return fmt.Errorf("BERTH_ADVISORY_DIR: %w", err)
	}
	log.Info("advisories imported", "dir", dir, "files", st.Files, "advisories", st.Advisories, "packages", st.Packages,
		"skipped", st.Skipped, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
