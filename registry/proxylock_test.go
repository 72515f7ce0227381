package registry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startRedis runs a private redis-server on a free loopback port until the test ends.
func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed: run `make tools`")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port})
	t.Cleanup(func() { _ = rc.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for rc.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("private redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return rc
}

// A waiter gives up with a clear error when the holder's fetch outlasts the budget, and takes the
// fetch over when the holder's claim goes away without a result.
func TestFetchLocksWaitIsBounded(t *testing.T) {
	ctx := context.Background()
	rc := startRedis(t)
	l := &fetchLocks{rdb: rc, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	never := func(context.Context) bool { return false }
	fetched := 0
	fetch := func(context.Context) error { fetched++; return nil }

	if err := rc.Set(ctx, "berth:proxy:fetch:b:x", "another replica", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := l.run(ctx, "b:x", 300*time.Millisecond, never, fetch)
	if !errors.Is(err, errWaitBudget) || fetched != 0 {
		t.Fatalf("waiting on a claim held past the budget: %v (fetched %d), want errWaitBudget", err, fetched)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the wait took %s for a budget of 300ms", d)
	}

	// The holder dies: its claim expires, and the waiter fetches itself.
	if err := rc.Set(ctx, "berth:proxy:fetch:b:y", "a dying replica", 200*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.run(ctx, "b:y", 10*time.Second, never, fetch); err != nil || fetched != 1 {
		t.Fatalf("after the holder's claim expired: %v, fetched %d times, want once", err, fetched)
	}
	if n, _ := rc.Exists(ctx, "berth:proxy:fetch:b:y").Result(); n != 0 {
		t.Fatal("the claim was not released after the fetch")
	}
}
