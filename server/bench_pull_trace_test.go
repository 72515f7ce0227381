package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/telemetry"
)

// benchPullTracing is `make bench-pull-trace`: the warm manifest GETs of TestBenchPull against
// Berth with tracing off, sampling 10 % and sampling everything, each exporting OTLP over HTTP to
// a receiver in this process that reads and discards what it is sent (the cost measured is
// Berth's: making, batching, encoding and sending spans). The three servers share one database and
// storage; the one with tracing off is cached, already warm.
func benchPullTracing(t *testing.T, off *servertest.Env, token string, seconds int) {
	var exported atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		exported.Add(n)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(sink.Close)
	sampled := func(ratio float64) *servertest.Env {
		return servertest.Start(t, func(c *server.Config) {
			c.DatabaseURL, c.DataDir, c.RunJobs = off.DatabaseURL, off.DataDir, false
			c.Trace = telemetry.Config{Exporter: telemetry.ExporterOTLPHTTP, Endpoint: sink.URL + "/v1/traces",
				SampleRatio: ratio, ServiceName: "berth-bench"}
		})
	}
	targets := []struct {
		name string
		env  *servertest.Env
	}{{"tracing off", off}, {"tracing, ratio 0.1", sampled(0.1)}, {"tracing, ratio 1.0", sampled(1)}}
	const path = "/v2/library/bench/manifests/v1"
	for _, tg := range targets {
		if r := pullRound(tg.env.URL+path, token, 4, 300*time.Millisecond); r.ok == 0 || r.errors > 0 {
			t.Fatalf("%s: warm-up pulls failed (%d ok, %d errors)", tg.name, r.ok, r.errors)
		}
	}
	time.Sleep(1500 * time.Millisecond) // the pull recorder's batch of the warm-up

	t.Logf("manifest GET by tag, cache on, %d s per point, on %d CPUs shared by server and load driver", seconds, runtime.NumCPU())
	t.Logf("%-20s %6s %10s %9s %9s %7s", "target", "conc", "req/s", "p50", "p99", "errors")
	for _, conc := range []int{50, 200} {
		rps := map[string]float64{}
		for _, tg := range targets {
			r := pullRound(tg.env.URL+path, token, conc, time.Duration(seconds)*time.Second)
			rps[tg.name] = r.rps
			t.Logf("%-20s %6d %10.0f %9s %9s %7d", tg.name, conc, r.rps, r.p50.Round(10*time.Microsecond),
				r.p99.Round(10*time.Microsecond), r.errors)
		}
		off := rps["tracing off"]
		t.Logf("concurrency %d: throughput at ratio 0.1 / off = %.3f×, at ratio 1.0 / off = %.3f×",
			conc, rps["tracing, ratio 0.1"]/off, rps["tracing, ratio 1.0"]/off)
	}
	t.Logf("OTLP bytes exported: %d", exported.Load())
}
