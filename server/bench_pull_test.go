package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// TestBenchPull is `make bench-pull`: warm manifest GETs by tag at several concurrencies against
// Berth with its cache, Berth with the cache off (same database and storage), and Distribution's own
// registry binary on the same filesystem storage without authentication. It prints requests/s,
// p50, p99, errors, the ratios to Distribution, and database statements per warm pull; it asserts
// nothing about speed. BERTH_BENCH_PULL_SECONDS sets the length of each point (default 5).
// BERTH_BENCH_PULL_TRACE=1 measures tracing's cost instead (benchPullTracing).
func TestBenchPull(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "pull" {
		t.Skip("a benchmark: run `make bench-pull`")
	}
	seconds := 5
	if v := os.Getenv("BERTH_BENCH_PULL_SECONDS"); v != "" {
		fmt.Sscan(v, &seconds)
	}
	cached := servertest.Start(t)
	benchPush(t, cached)
	token := benchToken(t, cached, "repository:library/bench:pull")
	if os.Getenv("BERTH_BENCH_PULL_TRACE") != "" {
		benchPullTracing(t, cached, token, seconds)
		return
	}
	uncached := servertest.Start(t, func(c *server.Config) {
		c.DatabaseURL, c.DataDir, c.Cache, c.RunJobs = cached.DatabaseURL, cached.DataDir, false, false
	})
	distURL := startDistribution(t, filepath.Join(cached.DataDir, "registry"))

	type target struct {
		name, url, token string
		queries          func() int64
	}
	targets := []target{
		{"berth, cache on", cached.URL, token, cached.Server.QueryCount},
		{"berth, cache off", uncached.URL, token, uncached.Server.QueryCount},
		{"distribution (no auth)", distURL, "", nil},
	}
	const path = "/v2/library/bench/manifests/v1"
	for _, tg := range targets { // warm every cache once
		if r := pullRound(tg.url+path, tg.token, 4, 300*time.Millisecond); r.ok == 0 || r.errors > 0 {
			t.Fatalf("%s: warm-up pulls failed (%d ok, %d errors)", tg.name, r.ok, r.errors)
		}
	}
	time.Sleep(1500 * time.Millisecond) // the pull recorder's batch of the warm-up

	t.Logf("manifest GET by tag, %d s per point, on %d CPUs shared by server and load driver", seconds, runtime.NumCPU())
	t.Logf("%-24s %6s %10s %9s %9s %7s %14s", "target", "conc", "req/s", "p50", "p99", "errors", "queries/pull")
	for _, conc := range []int{50, 200, 1000} {
		results := map[string]roundResult{}
		for _, tg := range targets {
			var before int64
			if tg.queries != nil {
				before = tg.queries()
			}
			r := pullRound(tg.url+path, tg.token, conc, time.Duration(seconds)*time.Second)
			qpp := "-"
			if tg.queries != nil {
				// The pull recorder writes one batch (2 statements) per second per reference:
				// counted here, as part of what a warm pull costs.
				qpp = fmt.Sprintf("%.4f", float64(tg.queries()-before)/float64(max(r.ok, 1)))
			}
			results[tg.name] = r
			t.Logf("%-24s %6d %10.0f %9s %9s %7d %14s", tg.name, conc, r.rps, r.p50.Round(10*time.Microsecond),
				r.p99.Round(10*time.Microsecond), r.errors, qpp)
		}
		d := results["distribution (no auth)"].rps
		t.Logf("concurrency %d: berth cache on / distribution = %.2f×, cache off / distribution = %.2f×, cache on / cache off = %.2f×",
			conc, results["berth, cache on"].rps/d, results["berth, cache off"].rps/d,
			results["berth, cache on"].rps/results["berth, cache off"].rps)
	}
}

type roundResult struct {
	ok, errors int64
	rps        float64
	p50, p99   time.Duration
}

// pullRound runs clients goroutines GETting url for d and returns what they saw.
func pullRound(url, token string, clients int, d time.Duration) roundResult {
	transport := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, IdleConnTimeout: time.Minute}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				lat = append(lat, time.Since(t0))
				ok.Add(1)
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := roundResult{ok: ok.Load(), errors: failed.Load(), rps: float64(ok.Load()) / elapsed.Seconds()}
	if len(all) > 0 {
		slices.Sort(all)
		r.p50 = all[len(all)/2]
		r.p99 = all[min(len(all)-1, len(all)*99/100)]
	}
	return r
}

// startDistribution runs Distribution's registry binary (tools/bin/registry, installed by `make
// tools` at go.mod's version) on root without authentication and returns its URL.
func startDistribution(t *testing.T, root string) string {
	t.Helper()
	bin := servertest.Tool(t, "registry")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	// Distribution's example configuration (in-memory blob descriptor cache), logging at error.
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  cache:
    blobdescriptor: inmemory
http:
  addr: %s
`, root, addr)
	file := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", file)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})
	url := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(url + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("distribution did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return url
}
