package quota

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
)

// settingsKey is the row of the settings table that holds Config.
const settingsKey = "quota"

// Config is the system's quota configuration, changed by administrators.
type Config struct {
	// DefaultLimit is the storage limit in bytes a new project gets; -1 is unlimited.
	DefaultLimit int64 `json:"default_limit"`
	// WarningPercent is the share of its limit at which a project's QUOTA_WARNING is sent; 0 sends none.
	WarningPercent int `json:"warning_percent"`
}

// DefaultConfig is the configuration of a new installation: unlimited, warnings at 85 %.
var DefaultConfig = Config{DefaultLimit: -1, WarningPercent: 85}

// Settings holds the Config, read from the database at most every two seconds so that a change on
// any replica takes effect on all of them.
type Settings struct {
	pool *pgxpool.Pool

	mu     sync.Mutex
	cur    Config
	loaded time.Time
}

// NewSettings returns the settings over pool.
func NewSettings(pool *pgxpool.Pool) *Settings { return &Settings{pool: pool, cur: DefaultConfig} }

// Current is the configuration in force (the last one read, if the database cannot be reached).
func (s *Settings) Current() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.loaded) > 2*time.Second {
		c := DefaultConfig
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := audit.LoadSetting(ctx, s.pool, settingsKey, &c); err == nil {
			s.cur, s.loaded = c, time.Now()
		}
	}
	return s.cur
}

// save stores c and applies it on this replica at once.
func (s *Settings) save(ctx context.Context, c Config) error {
	if err := audit.SaveSetting(ctx, s.pool, settingsKey, c); err != nil {
		return err
	}
	s.mu.Lock()
	s.cur, s.loaded = c, time.Now()
	s.mu.Unlock()
	return nil
}

func operator(ctx context.Context) string { return auth.PrincipalFrom(ctx).Name }
