package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berth-registry/berth/cache"
)

var errDown = errors.New("database unreachable")

func staleSetup(t *testing.T, memoryTTL time.Duration) *cache.Cache {
	t.Helper()
	c, err := cache.New(cache.Config{TTL: time.Hour, MemoryTTL: memoryTTL, Unavailable: func(err error) bool { return errors.Is(err, errDown) }})
	if err != nil {
		t.Fatal(err)
	}
	// Load "v1" and wait until the in-process tier holds it (ristretto applies sets asynchronously).
	deadline := time.Now().Add(5 * time.Second)
	for {
		loaded := false
		v, err := c.Get(context.Background(), cache.KindTag, "k", func(context.Context) ([]byte, error) {
			loaded = true
			return []byte("v1"), nil
		})
		if err != nil || string(v) != "v1" {
			t.Fatalf("first load: %q %v", v, err)
		}
		if !loaded {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal("the in-process tier never kept the value")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func get(c *cache.Cache, v string, err error) (string, error) {
	b, err := c.Get(context.Background(), cache.KindTag, "k", func(context.Context) ([]byte, error) {
		if err != nil {
			return nil, err
		}
		return []byte(v), nil
	})
	return string(b), err
}

// An entry past its freshness is served only while its source cannot be reached.
func TestStaleEntryServedOnlyWhileSourceUnavailable(t *testing.T) {
	t.Parallel()
	c := staleSetup(t, 50*time.Millisecond)
	time.Sleep(150 * time.Millisecond) // past the entry's freshness, well within its stale grace
	if v, err := get(c, "", errors.New("not found")); err == nil {
		t.Errorf("stale entry served (%q) for an error that is not an outage", v)
	}
	if v, err := get(c, "", errDown); err != nil || v != "v1" {
		t.Errorf("with the source down: %q %v, want the stale v1", v, err)
	}
	waitReload(t, c)
}

// waitReload waits until the source, back, is asked again (within the second the cache stops
// asking an unreachable source) and its new value served.
func waitReload(t *testing.T, c *cache.Cache) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := get(c, "v2", nil)
		if err == nil && v == "v2" {
			return
		}
		if err != nil || v != "v1" || time.Now().After(deadline) {
			t.Fatalf("with the source back: %q %v, want v1 (stale, for up to a second) then v2", v, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// MarkStale (a lost event stream) makes a fresh entry reload at once, yet keeps it for an outage.
func TestMarkStale(t *testing.T) {
	t.Parallel()
	c := staleSetup(t, time.Minute)
	if v, err := get(c, "", errors.New("must not load")); err != nil || v != "v1" {
		t.Fatalf("fresh entry: %q %v", v, err)
	}
	c.MarkStale()
	if v, err := get(c, "", errors.New("not found")); err == nil {
		t.Errorf("entry made stale still served (%q) while its loader answers", v)
	}
	if v, err := get(c, "", errDown); err != nil || v != "v1" {
		t.Errorf("entry made stale, source down: %q %v, want v1", v, err)
	}
	waitReload(t, c)
}
