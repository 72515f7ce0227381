package cache_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/berth-registry/berth/cache"
)

// redisURL is the Redis the tests use; each test keeps to its own key prefix.
const redisURL = "redis://127.0.0.1:6379/0"

type bundle struct {
	cache  *cache.Cache
	redis  *redis.Client
	prefix string
}

func setup(t *testing.T, withRedis bool) bundle {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	bd := bundle{prefix: "berth-test-" + hex.EncodeToString(b) + ":"}
	cfg := cache.Config{Prefix: bd.prefix, TTL: time.Minute, MemoryTTL: 10 * time.Second}
	if withRedis {
		opts, err := redis.ParseURL(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		bd.redis = redis.NewClient(opts)
		if err := bd.redis.Ping(context.Background()).Err(); err != nil {
			// `make test` starts Redis and sets BERTH_REQUIRE_TOOLS: there, a missing Redis is a failure,
			// so that a green run never hides an untested Redis tier.
			if os.Getenv("BERTH_REQUIRE_TOOLS") != "" {
				t.Fatalf("no Redis at %s: %v (make test starts it with scripts/services.sh --redis)", redisURL, err)
			}
			t.Skipf("no Redis at %s: %v", redisURL, err)
		}
		t.Cleanup(func() {
			ctx := context.Background()
			keys, _ := bd.redis.Keys(ctx, bd.prefix+"*").Result()
			if len(keys) > 0 {
				bd.redis.Del(ctx, keys...)
			}
			_ = bd.redis.Close()
		})
		cfg.Redis = bd.redis
	}
	c, err := cache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bd.cache = c
	return bd
}

func TestConcurrentMissesShareOneLoad(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	var loads atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) ([]byte, error) {
		loads.Add(1)
		<-release
		return []byte("sha256:abc"), nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := b.cache.Get(context.Background(), cache.KindTag, "p/r:v1", load)
			if err == nil && string(v) != "sha256:abc" {
				err = errors.New("wrong value " + string(v))
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	// Let the goroutines pile up on the one load before it finishes.
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for 1000 concurrent misses, want 1", n)
	}
	// The value reached Redis under the test's prefix.
	if got, err := b.redis.Get(context.Background(), b.prefix+"tag:p/r:v1").Result(); err != nil || got != "sha256:abc" {
		t.Fatalf("redis holds %q, %v", got, err)
	}
}

func TestRedisTierServesAnotherProcess(t *testing.T) {
	t.Parallel()
	a := setup(t, true)
	// A second cache on the same Redis and prefix stands for another replica.
	other, err := cache.New(cache.Config{Redis: a.redis, Prefix: a.prefix, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.cache.Get(ctx, cache.KindManifest, "p/r@sha256:1", func(context.Context) ([]byte, error) { return []byte("m1"), nil }); err != nil {
		t.Fatal(err)
	}
	v, err := other.Get(ctx, cache.KindManifest, "p/r@sha256:1", func(context.Context) ([]byte, error) {
		return nil, errors.New("loader called although Redis has the value")
	})
	if err != nil || string(v) != "m1" {
		t.Fatalf("got %q, %v", v, err)
	}
	// Invalidation by the writer removes it from Redis, so the other replica's next miss loads.
	a.cache.Invalidate(ctx, cache.KindManifest, "p/r@sha256:1")
	other.InvalidateLocal(ctx, cache.KindManifest, "p/r@sha256:1")
	v, err = other.Get(ctx, cache.KindManifest, "p/r@sha256:1", func(context.Context) ([]byte, error) { return []byte("m2"), nil })
	if err != nil || string(v) != "m2" {
		t.Fatalf("after invalidation got %q, %v", v, err)
	}
}

func TestLoadRacingInvalidationIsNotCached(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	ctx := context.Background()
	// The load reads the old value, then the write commits and invalidates, then the load ends:
	// the old value must not be kept.
	_, err := b.cache.Get(ctx, cache.KindTag, "p/r:v1", func(context.Context) ([]byte, error) {
		b.cache.Invalidate(ctx, cache.KindTag, "p/r:v1")
		return []byte("old"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := b.cache.Get(ctx, cache.KindTag, "p/r:v1", func(context.Context) ([]byte, error) { return []byte("new"), nil })
	if err != nil || string(v) != "new" {
		t.Fatalf("got %q, %v; want the value loaded after the invalidation", v, err)
	}
	if n, _ := b.redis.Exists(ctx, b.prefix+"tag:p/r:v1").Result(); n != 1 {
		t.Fatal("the fresh value is not in Redis")
	}
}

func TestLoaderErrorsAreNotCached(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	boom := errors.New("boom")
	if _, err := b.cache.Get(ctx, cache.KindTag, "k", func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the loader's error", err)
	}
	v, err := b.cache.Get(ctx, cache.KindTag, "k", func(context.Context) ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(v) != "ok" {
		t.Fatalf("got %q, %v", v, err)
	}
}

func TestUnreachableRedisDegradesToTheLoader(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: every Redis call fails.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { _ = dead.Close() })
	c, err := cache.New(cache.Config{Redis: dead, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		v, err := c.Get(ctx, cache.KindTag, "k", func(context.Context) ([]byte, error) { return []byte("v"), nil })
		if err != nil || string(v) != "v" {
			t.Fatalf("get %d: %q, %v", i, v, err)
		}
		c.Invalidate(ctx, cache.KindTag, "k")
	}
}

func TestGetLocalNeverReachesRedis(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	ctx := context.Background()
	gen := b.cache.Generation()
	if _, err := b.cache.GetLocal(ctx, cache.KindAccess, "d", time.Second, func(context.Context) ([]byte, error) { return []byte("yes"), nil }); err != nil {
		t.Fatal(err)
	}
	if keys, _ := b.redis.Keys(ctx, b.prefix+"*").Result(); len(keys) != 0 {
		t.Fatalf("access decisions reached Redis: %v", keys)
	}
	b.cache.BumpGeneration()
	if b.cache.Generation() == gen {
		t.Fatal("generation did not change")
	}
}

// failDeletes is a go-redis hook that makes DEL fail while on is set: Redis reachable for reads
// and writes, but not for an invalidation.
type failDeletes struct{ on atomic.Bool }

func (f *failDeletes) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failDeletes) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f.on.Load() && cmd.Name() == "del" {
			err := errors.New("injected: delete failed")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (f *failDeletes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func TestFailedRedisDeleteNeverServesTheStaleEntry(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	hook := &failDeletes{}
	b.redis.AddHook(hook)
	ctx := context.Background()
	if _, err := b.cache.Get(ctx, cache.KindTag, "p/r:v1", func(context.Context) ([]byte, error) { return []byte("old"), nil }); err != nil {
		t.Fatal(err)
	}
	hook.on.Store(true)
	b.cache.Invalidate(ctx, cache.KindTag, "p/r:v1")
	hook.on.Store(false)
	// Redis still holds "old"; the cache must not read it back.
	if got, _ := b.redis.Get(ctx, b.prefix+"tag:p/r:v1").Result(); got != "old" {
		t.Fatalf("setup: redis holds %q, want the stale entry", got)
	}
	v, err := b.cache.Get(ctx, cache.KindTag, "p/r:v1", func(context.Context) ([]byte, error) { return []byte("new"), nil })
	if err != nil || string(v) != "new" {
		t.Fatalf("after a failed delete got %q, %v; want the loader's new value", v, err)
	}
}

// A replica that missed a permission notification still forgets its decisions: the writer moves
// the shared generation in Redis, which every replica polls.
func TestSharedGenerationReachesAReplicaWithoutNotifications(t *testing.T) {
	t.Parallel()
	writer := setup(t, true)
	reader, err := cache.New(cache.Config{Redis: writer.redis, Prefix: writer.prefix, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := reader.Generation()
	go reader.WatchSharedGeneration(ctx)
	// The watcher's first read only learns the current value, so change until it has seen one.
	deadline := time.Now().Add(10 * time.Second)
	for reader.Generation() == before {
		if time.Now().After(deadline) {
			t.Fatal("the reader's access generation never moved after the writer's changes")
		}
		writer.cache.AccessChanged(ctx)
		time.Sleep(100 * time.Millisecond)
	}
}
