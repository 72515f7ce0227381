package auth

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/berth-registry/berth/ent/apitoken"
	"github.com/berth-registry/berth/ent/robot"
)

// UsageFlushInterval is how often the "last used" times of robots and API tokens are written.
// Requests only note the use in memory: a busy robot costs one UPDATE per interval, not one per
// request, and no request waits for it.
const UsageFlushInterval = 5 * time.Second

// usage collects the robots and API tokens used since the last flush.
type usage struct {
	mu     sync.Mutex
	robots map[int]time.Time
	tokens map[int]time.Time
}

func (u *usage) robot(id int) {
	u.mu.Lock()
	if u.robots == nil {
		u.robots = map[int]time.Time{}
	}
	u.robots[id] = time.Now()
	u.mu.Unlock()
}

func (u *usage) token(id int) {
	u.mu.Lock()
	if u.tokens == nil {
		u.tokens = map[int]time.Time{}
	}
	u.tokens[id] = time.Now()
	u.mu.Unlock()
}

func (u *usage) take() (robots, tokens map[int]time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	robots, tokens = u.robots, u.tokens
	u.robots, u.tokens = nil, nil
	return robots, tokens
}

// RecordUse writes the "last used" times noted by requests every UsageFlushInterval until ctx
// ends, then once more.
func (s *Service) RecordUse(ctx context.Context, log *slog.Logger) {
	tick := time.NewTicker(UsageFlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := s.FlushUse(ctx); err != nil {
				log.Error("auth: record last use", "err", err)
			}
		case <-ctx.Done():
			done, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.FlushUse(done); err != nil {
				log.Error("auth: record last use", "err", err)
			}
			cancel()
			return
		}
	}
}

// FlushUse writes the "last used" times noted since the last flush: one statement per kind of
// credential, each row stamped with the flush's time (within UsageFlushInterval of the real use).
func (s *Service) FlushUse(ctx context.Context) error {
	robots, tokens := s.usage.take()
	now := time.Now()
	if len(robots) > 0 {
		ids := slices.Sorted(maps.Keys(robots))
		if err := s.db.Robot.Update().Where(robot.IDIn(ids...)).SetLastUsedAt(now).Exec(ctx); err != nil {
			return fmt.Errorf("robots %v: %w", ids, err)
		}
	}
	if len(tokens) > 0 {
		ids := slices.Sorted(maps.Keys(tokens))
		if err := s.db.APIToken.Update().Where(apitoken.IDIn(ids...)).SetLastUsedAt(now).Exec(ctx); err != nil {
			return fmt.Errorf("API tokens %v: %w", ids, err)
		}
	}
	return nil
}
