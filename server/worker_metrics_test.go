package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// A `berth worker` with BERTH_WORKER_METRICS_ADDR serves the metrics of the jobs it works.
func TestWorkerServesJobMetrics(t *testing.T) {
	t.Parallel()
	cfg := server.Defaults()
	cfg.DatabaseURL, cfg.DataDir = servertest.NewDatabase(t), t.TempDir()
	cfg.WorkerMetricsAddr = freePorts(t, 1)[0]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- server.RunWorker(ctx, cfg, log, func() { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("worker did not start: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("worker did not start within a minute")
	}
	// The hourly session purge runs once at start, on whichever client River makes leader: here
	// the only one.
	want := []string{`berth_jobs_worked_total{kind="session_purge",outcome="ok",queue="default"} 1`,
		`berth_db_pool_connections{state="idle"}`, `berth_job_duration_seconds_count{kind="session_purge",queue="default"} 1`}
	waitFor(t, "the worker's job and pool metrics", func() bool {
		resp, err := http.Get("http://" + cfg.WorkerMetricsAddr + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Logf("not yet: %s", w)
				return false
			}
		}
		return true
	})
}
