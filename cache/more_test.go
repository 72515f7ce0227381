package cache_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/cache"
)

// The in-process tier keeps an entry at most MemoryTTL, however long the Redis TTL is: a replica
// that misses an invalidation is stale for at most that long.
func TestMemoryTierTTLIsCapped(t *testing.T) {
	t.Parallel()
	c, err := cache.New(cache.Config{TTL: time.Hour, MemoryTTL: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var loads atomic.Int64
	load := func(context.Context) ([]byte, error) { return []byte(strconv.FormatInt(loads.Add(1), 10)), nil }
	if v, _ := c.Get(ctx, cache.KindTag, "k", load); string(v) != "1" {
		t.Fatalf("first load gave %q", v)
	}
	time.Sleep(600 * time.Millisecond) // six times the cap
	if v, _ := c.Get(ctx, cache.KindTag, "k", load); string(v) != "2" {
		t.Fatalf("after 6× the in-process TTL got %q, want a second load", v)
	}
}
