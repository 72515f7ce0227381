// Package cache is Berth's multi-tier cache: an in-process tier (ristretto) in front of an
// optional shared Redis tier, with loaders that coalesce concurrent misses. It owns keys,
// lifetimes and invalidation (local, and across replicas through PostgreSQL notifications); it
// knows nothing of what the values mean, and it never returns a cache failure to a caller: a tier
// that fails is skipped and the loader answers.
package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	gocache "github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/store"
	redisstore "github.com/eko/gocache/store/redis/v4"
	ristrettostore "github.com/eko/gocache/store/ristretto/v4"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// Kind is a family of keys: it names the metrics and starts the key.
type Kind string

// The kinds Berth caches.
const (
	// KindTag maps repository and tag to the digest the tag points at.
	KindTag Kind = "tag"
	// KindManifest holds a manifest's media type and bytes, by repository and digest.
	KindManifest Kind = "manifest"
	// KindAccess holds an access decision for a credential and repository (in-process only).
	KindAccess Kind = "access"
)

// Config says how to build a Cache.
type Config struct {
	// Redis is the shared tier; nil keeps only the in-process tier.
	Redis *redis.Client
	// Prefix starts every Redis key (default "berth:"), so tests and deployments can share a Redis.
	Prefix string
	// TTL is how long the Redis tier keeps an entry (default 10 minutes).
	TTL time.Duration
	// MemoryTTL caps how long the in-process tier keeps an entry (default 30 seconds): it is how
	// stale a replica can be when an invalidation fails to reach it.
	MemoryTTL time.Duration
	// MaxMemory bounds the in-process tier in bytes (default 256 MiB).
	MaxMemory int64
	// RedisTimeout bounds each Redis call (default 250 ms); a slower Redis counts as failing. Build
	// the client with NewRedis and the same timeout, so the client itself honours the budget.
	RedisTimeout time.Duration
	// Unavailable reports whether a loader's error means its source (the database) could not be
	// reached. For such an error an in-process entry that is no longer fresh, but not older than
	// StaleGrace past its freshness, is served instead: warm reads keep working through an outage.
	// Nil: never.
	Unavailable func(error) bool
	// StaleGrace is how long past its freshness an in-process entry may still be served while its
	// source is unavailable (default 5 minutes).
	StaleGrace time.Duration
	Log        *slog.Logger
}

// Loader produces a value on a miss. An error is returned to the caller and nothing is cached.
type Loader func(ctx context.Context) ([]byte, error)

// Cache is the tiered cache. Its zero value is not usable; call New.
type Cache struct {
	// following counts the events whose invalidations (the first pass and the second a second
	// later) have not all run yet.
	following atomic.Int64

	mem    *gocache.Cache[[]byte]
	shared *gocache.Cache[string] // nil without Redis
	redis  *redis.Client
	cfg    Config
	log    *slog.Logger
	group  singleflight.Group

	// epoch counts invalidations. A loader stores its value only if no invalidation happened
	// while it ran, so a value read before a write can never be cached after that write's
	// invalidation. mu makes "check the epoch, then store in memory" atomic against Invalidate.
	mu    sync.RWMutex
	epoch uint64

	// redisSkipUntil (unix nanoseconds) is when the Redis tier is used again after a failure:
	// a second after a failed read or write (so a hung Redis costs one timeout a second, not one
	// per miss), a whole TTL after a failed delete (Redis may then hold a stale entry, so it is
	// not used until its entries have expired).
	redisSkipUntil atomic.Int64

	// pending are Redis deletes that failed, retried until Redis answers (retrying: one is
	// scheduled).
	pendingMu sync.Mutex
	pending   map[string]struct{}
	retrying  bool
	// droppedUntil: deletes were dropped, so Redis may hold stale entries until then.
	droppedUntil time.Time

	// generation is part of every access-decision key; bumping it forgets every decision.
	generation atomic.Uint64

	// staleGen is stamped on every in-process entry; MarkStale moves it, which makes every entry
	// stored before stale: never served while its loader answers, served only when the loader
	// cannot reach its source (Config.Unavailable).
	staleGen atomic.Uint64

	// sourceDownUntil (unix nanoseconds): until then stale entries are served without a load.
	sourceDownUntil atomic.Int64
}

// New returns a cache built from cfg.
func New(cfg Config) (*Cache, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "berth:"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.MemoryTTL <= 0 {
		cfg.MemoryTTL = 30 * time.Second
	}
	if cfg.MemoryTTL > cfg.TTL {
		cfg.MemoryTTL = cfg.TTL
	}
	if cfg.MaxMemory <= 0 {
		cfg.MaxMemory = 256 << 20
	}
	if cfg.RedisTimeout <= 0 {
		cfg.RedisTimeout = DefaultRedisTimeout
	}
	if cfg.StaleGrace <= 0 {
		cfg.StaleGrace = 5 * time.Minute
	}
	if cfg.Unavailable == nil {
		cfg.Unavailable = func(error) bool { return false }
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	rc, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters: 1e6, MaxCost: cfg.MaxMemory, BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("in-process cache: %w", err)
	}
	c := &Cache{mem: gocache.New[[]byte](ristrettostore.NewRistretto[string, []byte](rc)), redis: cfg.Redis, cfg: cfg, log: cfg.Log}
	if cfg.Redis != nil {
		c.shared = gocache.New[string](redisstore.NewRedis(cfg.Redis))
	}
	return c, nil
}

// Shared reports whether the Redis tier is configured.
func (c *Cache) Shared() bool { return c.shared != nil }

func (c *Cache) key(kind Kind, key string) string { return string(kind) + ":" + key }

// Get returns the value of key: from the in-process tier, else from Redis, else from load, whose
// result both tiers keep (Redis for TTL, memory for at most MemoryTTL). Concurrent misses of one
// key share one load.
func (c *Cache) Get(ctx context.Context, kind Kind, key string, load Loader) ([]byte, error) {
	return c.get(ctx, kind, c.key(kind, key), c.cfg.MemoryTTL, true, load)
}

// GetLocal is Get on the in-process tier alone, with entries kept at most ttl (and MemoryTTL).
// It is for values that must not outlive a replica's view of permissions.
func (c *Cache) GetLocal(ctx context.Context, kind Kind, key string, ttl time.Duration, load Loader) ([]byte, error) {
	return c.get(ctx, kind, c.key(kind, key), min(ttl, c.cfg.MemoryTTL), false, load)
}

func (c *Cache) get(ctx context.Context, kind Kind, k string, memTTL time.Duration, shared bool, load Loader) ([]byte, error) {
	var stale []byte
	if e, err := c.mem.Get(ctx, k); err == nil {
		v, fresh := c.unpack(e)
		if fresh {
			lookups.WithLabelValues("memory", string(kind), "hit").Inc()
			return v, nil
		}
		stale = v
	}
	if stale != nil && time.Now().UnixNano() < c.sourceDownUntil.Load() {
		// The source was unreachable moments ago: do not make this caller wait for it again.
		lookups.WithLabelValues("memory", string(kind), "stale").Inc()
		return stale, nil
	}
	lookups.WithLabelValues("memory", string(kind), "miss").Inc()
	start := time.Now()
	c.mu.RLock()
	epoch := c.epoch
	c.mu.RUnlock()
	gen := c.staleGen.Load()
	// The epoch is part of the flight's name: a caller that arrives after an invalidation never
	// joins a load that started before it.
	v, err, _ := c.group.Do(k+"#"+strconv.FormatUint(epoch, 10), func() (any, error) {
		// Callers share this load: one caller giving up must not fail the others.
		ctx := context.WithoutCancel(ctx)
		if shared {
			if v, ok := c.redisGet(ctx, kind, k); ok {
				c.storeMemory(epoch, gen, k, v, memTTL)
				return v, nil
			}
		}
		v, err := load(ctx)
		if err != nil {
			return nil, err
		}
		c.storeMemory(epoch, gen, k, v, memTTL)
		if shared {
			c.redisSet(ctx, epoch, k, v)
		}
		return v, nil
	})
	loaderWait.WithLabelValues(string(kind)).Observe(time.Since(start).Seconds())
	if err != nil {
		if c.cfg.Unavailable(err) {
			c.sourceDownUntil.Store(time.Now().Add(sourceRetry).UnixNano())
		}
		if stale != nil && c.cfg.Unavailable(err) {
			// The source is down and this replica still holds what it last knew: better a value
			// that was right moments ago than an outage for a read the cache can answer.
			lookups.WithLabelValues("memory", string(kind), "stale").Inc()
			return stale, nil
		}
		return nil, err
	}
	return v.([]byte), nil
}

// sourceRetry is how long after a loader found its source unreachable stale entries are served
// without asking the source again: one caller a second finds out whether it is back, the others
// never wait on it (a connect to an unreachable host can take seconds).
const sourceRetry = time.Second

// entryHeader is the size of what the in-process tier stores before a value: when it stops being
// fresh (unix nanoseconds) and the staleGen it was loaded under.
const entryHeader = 16

func (c *Cache) storeMemory(epoch, gen uint64, k string, v []byte, ttl time.Duration) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.epoch != epoch {
		return
	}
	e := make([]byte, entryHeader, entryHeader+len(v))
	binary.BigEndian.PutUint64(e[0:8], uint64(time.Now().Add(ttl).UnixNano()))
	binary.BigEndian.PutUint64(e[8:16], gen)
	e = append(e, v...)
	// The entry outlives its freshness by StaleGrace, for outages only (see get).
	// ristretto may refuse an entry (admission policy); the next miss simply loads again.
	_ = c.mem.Set(context.Background(), k, e, store.WithExpiration(ttl+c.cfg.StaleGrace), store.WithCost(int64(len(e)+len(k))))
}

// unpack splits an in-process entry into its value and whether it is still fresh.
func (c *Cache) unpack(e []byte) ([]byte, bool) {
	if len(e) < entryHeader {
		return nil, false
	}
	until := int64(binary.BigEndian.Uint64(e[0:8]))
	gen := binary.BigEndian.Uint64(e[8:16])
	return e[entryHeader:], time.Now().UnixNano() < until && gen == c.staleGen.Load()
}

// MarkStale makes every in-process entry stale at once: none is served again while its loader
// answers. It is for a replica that may have missed invalidations (its event stream was lost or
// lagged): unlike ClearLocal it keeps the entries for an outage of their source (Config.Unavailable).
func (c *Cache) MarkStale() {
	c.mu.Lock()
	c.epoch++ // a load under way may have read before the missed change: do not store it
	c.staleGen.Add(1)
	c.mu.Unlock()
}

func (c *Cache) redisUsable() bool {
	return c.shared != nil && time.Now().UnixNano() >= c.redisSkipUntil.Load()
}

func (c *Cache) redisGet(ctx context.Context, kind Kind, k string) ([]byte, bool) {
	if !c.redisUsable() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	s, err := c.shared.Get(ctx, c.cfg.Prefix+k)
	switch {
	case err == nil:
		lookups.WithLabelValues("redis", string(kind), "hit").Inc()
		return []byte(s), true
	case errors.Is(err, store.NotFound{}):
		lookups.WithLabelValues("redis", string(kind), "miss").Inc()
	default:
		lookups.WithLabelValues("redis", string(kind), "error").Inc()
		c.skipRedis(redisRetry)
		c.log.Debug("cache: redis get failed, loading instead", "key", k, "err", err)
	}
	return nil, false
}

func (c *Cache) redisSet(ctx context.Context, epoch uint64, k string, v []byte) {
	if !c.redisUsable() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	if err := c.shared.Set(ctx, c.cfg.Prefix+k, string(v), store.WithExpiration(c.cfg.TTL)); err != nil {
		c.skipRedis(redisRetry)
		c.log.Debug("cache: redis set failed", "key", k, "err", err)
		return
	}
	// An invalidation that ran while the value travelled may have deleted the key before this
	// set reached Redis: delete it again rather than leave a stale value for other replicas.
	c.mu.RLock()
	changed := c.epoch != epoch
	c.mu.RUnlock()
	if changed {
		c.redisDelete(ctx, k)
	}
}

func (c *Cache) redisDelete(ctx context.Context, keys ...string) {
	if c.redis == nil || len(keys) == 0 {
		return
	}
	if !c.redisUsable() {
		// Redis is failing: do not spend the caller's budget on it again. The deletes wait and
		// are retried until Redis answers (this replica does not read Redis meanwhile).
		c.deleteLater(keys)
		return
	}
	// Other replicas may be reading Redis, and a stale entry left there would be served to them.
	// Every key goes in one call, so a change costs one time budget however many keys it makes
	// stale.
	if err := c.redisDel(ctx, keys); err != nil {
		// The entries may survive in Redis: stop reading Redis until the deletes have landed.
		c.skipRedis(c.cfg.TTL)
		c.log.Warn("cache: redis delete failed; the redis tier is bypassed until it can be retried", "keys", keys, "err", err)
		c.deleteLater(keys)
	}
}

func (c *Cache) redisDel(ctx context.Context, keys []string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = c.cfg.Prefix + k
	}
	return c.redis.Del(ctx, full...).Err()
}

// maxPendingDeletes bounds the deletes kept for a Redis that does not answer; beyond it the rest
// are dropped (Redis stays bypassed by this replica until its entries expire, as before).
const maxPendingDeletes = 10000

// deleteLater keeps keys to delete from Redis once it answers again, and schedules a retry.
func (c *Cache) deleteLater(keys []string) {
	c.pendingMu.Lock()
	defer c.pendingMu.Unlock()
	if c.pending == nil {
		c.pending = map[string]struct{}{}
	}
	for _, k := range keys {
		if len(c.pending) >= maxPendingDeletes {
			c.skipRedis(c.cfg.TTL)
			c.droppedUntil = time.Now().Add(c.cfg.TTL)
			c.log.Warn("cache: too many redis deletes waiting; the redis tier is bypassed until its entries expire")
			break
		}
		c.pending[k] = struct{}{}
	}
	if !c.retrying {
		c.retrying = true
		time.AfterFunc(redisRetry, c.retryDeletes)
	}
}

// retryDeletes sends the waiting deletes; once they have landed, Redis holds nothing stale and this
// replica uses it again at once, rather than when its entries would have expired.
func (c *Cache) retryDeletes() {
	c.pendingMu.Lock()
	keys := make([]string, 0, len(c.pending))
	for k := range c.pending {
		keys = append(keys, k)
	}
	c.pendingMu.Unlock()
	err := c.redisDel(context.Background(), keys)
	c.pendingMu.Lock()
	defer c.pendingMu.Unlock()
	if errors.Is(err, redis.ErrClosed) {
		c.retrying = false // shut down: nothing will read Redis through this client again
		return
	}
	if err != nil {
		time.AfterFunc(redisRetry, c.retryDeletes)
		return
	}
	for _, k := range keys {
		delete(c.pending, k)
	}
	if len(c.pending) > 0 {
		time.AfterFunc(0, c.retryDeletes)
		return
	}
	c.retrying = false
	if time.Now().Before(c.droppedUntil) {
		return // some deletes were dropped: Redis stays bypassed until their entries expire
	}
	c.redisSkipUntil.Store(0)
	c.log.Info("cache: redis answers again; waiting deletes done, redis tier in use")
}

// redisRetry is how long the Redis tier is skipped after a failed read or write.
const redisRetry = time.Second

// skipRedis stops using Redis for d from now, unless it is already skipped for longer.
func (c *Cache) skipRedis(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.redisSkipUntil.Load()
		if cur >= until || c.redisSkipUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// Invalidate forgets key in both tiers. Call it after the change it reports has committed.
func (c *Cache) Invalidate(ctx context.Context, kind Kind, key string) {
	c.invalidate(ctx, c.key(kind, key))
}

// invalidate forgets full keys (kind included) in both tiers, with one Redis call for them all.
func (c *Cache) invalidate(ctx context.Context, keys ...string) {
	c.mu.Lock()
	c.epoch++
	for _, k := range keys {
		_ = c.mem.Delete(ctx, k)
	}
	c.mu.Unlock()
	c.redisDelete(ctx, keys...)
}

// InvalidateLocal forgets key in the in-process tier only: for replicas told of a change whose
// Redis entries the writing replica has already deleted.
func (c *Cache) InvalidateLocal(ctx context.Context, kind Kind, key string) {
	k := c.key(kind, key)
	c.mu.Lock()
	c.epoch++
	_ = c.mem.Delete(ctx, k)
	c.mu.Unlock()
}

// ClearLocal empties the in-process tier, for changes whose keys cannot be named (a deleted
// repository's tags on another replica).
func (c *Cache) ClearLocal(ctx context.Context) {
	c.mu.Lock()
	c.epoch++
	_ = c.mem.Clear(ctx)
	c.mu.Unlock()
}

// Generation is the current access generation, to be made part of access-decision keys.
func (c *Cache) Generation() uint64 { return c.generation.Load() }

// InvalidationsPending is how many events heard on the bus still have an invalidation pass to
// run: while it is not 0, entries this replica holds may yet be forgotten.
func (c *Cache) InvalidationsPending() int64 { return c.following.Load() }

// BumpGeneration forgets every access decision of this replica.
func (c *Cache) BumpGeneration() {
	c.generation.Add(1)
	generationBumps.Inc()
}
