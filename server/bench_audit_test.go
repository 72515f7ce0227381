package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/server/servertest"
)

// TestBenchAudit is `make bench-audit`: it measures, and prints, what the issue asks (it asserts
// nothing about speed). Run it alone: BERTH_BENCH=audit go test -run TestBenchAudit -v ./server/
// Sizes can be lowered for a quick look with BERTH_BENCH_PURGE_ROWS.
func TestBenchAudit(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "audit" {
		t.Skip("a benchmark: run `make bench-audit`")
	}
	env := servertest.Start(t)

	t.Run("pull throughput with and without pull logging", func(t *testing.T) {
		benchPush(t, env)
		token := benchToken(t, env, "repository:library/bench:pull")
		setPulls := func(on bool) {
			env.MustGraphQL("admin", servertest.AdminPassword, fmt.Sprintf(`mutation { updateAuditSettings(input: {logPulls: %v}) { logPulls } }`, on), nil, nil)
		}
		// Interleave short rounds so that drift on a shared machine hits both sides alike.
		var on, off []float64
		for round := 0; round < 6; round++ {
			setPulls(round%2 == 0)
			rps := pullLoad(t, env.URL+"/v2/library/bench/manifests/v1", token, 32, 3*time.Second)
			if round%2 == 0 {
				on = append(on, rps)
			} else {
				off = append(off, rps)
			}
		}
		mOn, mOff := mean(on), mean(off)
		t.Logf("manifest GETs/s (32 clients, 3 rounds of 3 s each): pull logging on %.0f, off %.0f; on/off = %.3f (%.1f%% slower)",
			mOn, mOff, mOn/mOff, 100*(1-mOn/mOff))
	})

	t.Run("sustained ingest", func(t *testing.T) {
		pool, err := pgxpool.New(context.Background(), env.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		settings, err := audit.LoadSettings(context.Background(), pool, log)
		if err != nil {
			t.Fatal(err)
		}
		w, err := audit.NewWriter(pool, settings, log, audit.WriterOptions{SpoolDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		const n = 500000
		start := time.Now()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n / 8 {
					_ = w.Record(context.Background(), audit.Entry{User: "bench", Project: "library", Operation: audit.OpPull,
						ResourceType: "artifact", Resource: fmt.Sprintf("library/bench:%d-%d", g, i), SourceIP: "127.0.0.1"})
				}
			}()
		}
		wg.Wait()
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		if err := w.Close(closeCtx); err != nil { // includes writing the tail of the queue and the spool
			t.Fatal(err)
		}
		cancel()
		elapsed := time.Since(start)
		t.Logf("ingest: %d entries from 8 goroutines in %v = %.0f entries/s (written to PostgreSQL, not just queued)",
			n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	})

	t.Run("purge of 10 million rows", func(t *testing.T) {
		rowsWanted := 10_000_000
		if v := os.Getenv("BERTH_BENCH_PURGE_ROWS"); v != "" {
			fmt.Sscan(v, &rowsWanted)
		}
		ctx := context.Background()
		pool, err := pgxpool.New(ctx, env.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		seedStart := time.Now()
		_, err = pool.Exec(ctx, `
INSERT INTO audit_logs (occurred_at, username, project_name, operation, resource_type, resource, source_ip, result, forwarded)
SELECT now() - interval '30 days' + g * interval '1 millisecond', 'bench', 'library', 'pull', 'artifact',
       'library/bench:' || g, '127.0.0.1', 'SUCCESS', true
FROM generate_series(1, $1) g`, rowsWanted)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pool.Exec(ctx, "ANALYZE audit_logs")
		t.Logf("seeded %d rows in %v", rowsWanted, time.Since(seedStart).Round(time.Second))

		// A concurrent writer inserts one entry at a time, as the audit writer's batches do, and
		// notes its longest wait.
		stop := make(chan struct{})
		var longest atomic.Int64
		var writes atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				_, err := pool.Exec(ctx, `INSERT INTO audit_logs (occurred_at, username, project_name, operation, resource_type, resource, source_ip, result, forwarded)
VALUES (now(), 'writer', 'library', 'create', 'artifact', 'library/live:1', '127.0.0.1', 'SUCCESS', true)`)
				if err == nil {
					writes.Add(1)
				}
				if d := time.Since(t0).Nanoseconds(); d > longest.Load() {
					longest.Store(d)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()

		var run struct{ PurgeAuditLogs purgeRun }
		start := time.Now()
		env.MustGraphQL("admin", servertest.AdminPassword, `mutation { purgeAuditLogs(input: {retentionHours: 24, operations: ["pull"]}) { id } }`, nil, &run)
		deadline := time.Now().Add(50 * time.Minute)
		var final purgeRun
		for {
			var out struct{ PurgeRun purgeRun }
			env.MustGraphQL("admin", servertest.AdminPassword, `query($id: ID!) { purgeRun(id: $id) { id status rowsPurged } }`,
				map[string]any{"id": run.PurgeAuditLogs.ID}, &out)
			if out.PurgeRun.Status != "PENDING" && out.PurgeRun.Status != "RUNNING" {
				final = out.PurgeRun
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("purge still %s after 50 minutes", out.PurgeRun.Status)
			}
			time.Sleep(time.Second)
		}
		elapsed := time.Since(start)
		close(stop)
		<-done
		t.Logf("purge: %s, %d rows in %v = %.0f rows/s; a concurrent writer made %d inserts, longest wait %v",
			final.Status, final.RowsPurged, elapsed.Round(time.Second), float64(final.RowsPurged)/elapsed.Seconds(),
			writes.Load(), time.Duration(longest.Load()).Round(time.Microsecond))
	})
}

// pullLoad drives manifest GETs from clients goroutines for d and returns requests per second.
func pullLoad(t *testing.T, url, token string, clients int, d time.Duration) float64 {
	t.Helper()
	var count, failures atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
					continue
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.Errorf("%d failed requests", failures.Load())
	}
	return float64(count.Load()) / d.Seconds()
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
