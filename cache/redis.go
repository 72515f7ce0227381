package cache

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisTimeout is the time budget of one Redis call when Config.RedisTimeout is not set.
const DefaultRedisTimeout = 250 * time.Millisecond

// NewRedis returns a client for the Redis at url whose every call honours timeout (0: the
// default): go-redis's own defaults (3 s socket timeouts that ignore the caller's context, three
// retries) would let a stalled Redis hold a request for seconds per call, so the client obeys
// context deadlines, its socket, dial and pool waits are bounded by the budget, and a timed-out
// call is not retried (the cache skips Redis for a while instead).
func NewRedis(url string, timeout time.Duration) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	opts.ContextTimeoutEnabled = true
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.PoolTimeout = timeout
	opts.MaxRetries = -1 // no retries: a retry would spend a second budget
	return redis.NewClient(opts), nil
}
