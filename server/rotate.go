package server

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/secrets"
)

// RotateSigningKey is `berth admin rotate-signing-key`: a new token-signing key signs from now on
// (every replica within BERTH_KEY_REFRESH_INTERVAL), the older ones verify the tokens they signed
// until those expire. It is audited under who.
func RotateSigningKey(ctx context.Context, cfg Config, log *slog.Logger, who string) (secrets.Key, error) {
	pool, _, db, err := Database(ctx, cfg, log)
	if err != nil {
		return secrets.Key{}, err
	}
	defer pool.Close()
	defer db.Close()
	store, err := cfg.Secrets(ctx, pool, log)
	if err != nil {
		return secrets.Key{}, err
	}
	settings, err := audit.LoadSettings(ctx, pool, log)
	if err != nil {
		return secrets.Key{}, err
	}
	spool := cfg.AuditSpoolDir
	if spool == "" {
		spool = filepath.Join(cfg.DataDir, "audit-spool")
	}
	w, err := audit.NewWriter(pool, settings, log, audit.WriterOptions{SpoolDir: spool, SpoolLimit: cfg.AuditSpoolSize})
	if err != nil {
		return secrets.Key{}, err
	}
	defer func() { _ = w.Close(context.WithoutCancel(ctx)) }()
	return secrets.NewService(store, nil, w).RotateSigningKeyAsOperator(ctx, who)
}
