package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// settingsKey is the row of the settings table that holds Config.
const settingsKey = "audit"

// Config is the audit log's run-time configuration, changed through GraphQL.
type Config struct {
	// ForwardEndpoint is host:port of a syslog receiver; empty means no forwarding.
	ForwardEndpoint string `json:"forward_endpoint"`
	// ForwardProtocol is tcp, udp or tls.
	ForwardProtocol string `json:"forward_protocol"`
	// SkipDatabase keeps entries in PostgreSQL only until they are forwarded.
	SkipDatabase bool `json:"skip_database"`
	// LogPulls records every manifest pull (the busiest operation by far).
	LogPulls bool `json:"log_pulls"`
}

// Forwarding reports whether entries go to a syslog endpoint.
func (c Config) Forwarding() bool { return c.ForwardEndpoint != "" }

// DefaultConfig is the configuration of a new installation: no forwarding, pulls logged.
var DefaultConfig = Config{ForwardProtocol: "tcp", LogPulls: true}

// Settings holds the current Config of this replica, refreshed from the database every two
// seconds so that a change made on any replica takes effect on all of them.
type Settings struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	cur  atomic.Pointer[Config]
}

// LoadSettings reads the configuration.
func LoadSettings(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (*Settings, error) {
	s := &Settings{pool: pool, log: log}
	c, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	s.cur.Store(&c)
	return s, nil
}

// Current is the configuration in force.
func (s *Settings) Current() Config { return *s.cur.Load() }

func (s *Settings) load(ctx context.Context) (Config, error) {
	c := DefaultConfig
	return c, LoadSetting(ctx, s.pool, settingsKey, &c)
}

// Save stores c and applies it on this replica at once (the others within two seconds).
func (s *Settings) Save(ctx context.Context, c Config) error {
	if err := SaveSetting(ctx, s.pool, settingsKey, c); err != nil {
		return err
	}
	s.cur.Store(&c)
	return nil
}

// Run refreshes the configuration until ctx ends.
func (s *Settings) Run(ctx context.Context) {
	ticker := time.NewTicker(2 * time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			c, err := s.load(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("audit: refresh settings", "err", err)
				}
				continue
			}
			s.cur.Store(&c)
		}
	}
}

// LoadSetting decodes the JSON setting under key into v; a missing row leaves v as it is.
func LoadSetting(ctx context.Context, pool *pgxpool.Pool, key string, v any) error {
	var raw string
	err := pool.QueryRow(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read setting %s: %w", key, err)
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return fmt.Errorf("decode setting %s: %w", key, err)
	}
	return nil
}

// SaveSetting stores v as JSON under key.
func SaveSetting(ctx context.Context, pool *pgxpool.Pool, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = pool.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, now())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, key, string(raw))
	if err != nil {
		return fmt.Errorf("save setting %s: %w", key, err)
	}
	return nil
}
