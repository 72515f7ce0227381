package server_test

import (
	"cmp"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
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
//
// Besides throughput it reports the process's CPU time per pull (server and load driver, from
// getrusage): on a machine shared with other work, throughput moves with the neighbours' load, CPU
// time per request much less, so the cost ratios are given for both.
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

	// Three rounds, each target in a different place in each, and the median round per target:
	// a machine whose load drifts during the run favours no target.
	const rounds = 3
	t.Logf("manifest GET by tag, cache on, %d s per point, median of %d rounds, on %d CPUs shared by server and load driver",
		seconds, rounds, runtime.NumCPU())
	t.Logf("%-20s %6s %10s %9s %9s %7s", "target", "conc", "req/s", "p50", "p99", "errors")
	for _, conc := range []int{50, 200} {
		results := map[string][]roundResult{}
		cpu := map[string][]float64{} // µs of CPU per pull
		for round := range rounds {
			for i := range targets {
				tg := targets[(i+round)%len(targets)]
				before := cpuTime(t)
				r := pullRound(tg.env.URL+path, token, conc, time.Duration(seconds)*time.Second)
				results[tg.name] = append(results[tg.name], r)
				cpu[tg.name] = append(cpu[tg.name], float64((cpuTime(t)-before).Microseconds())/float64(max(r.ok, 1)))
			}
		}
		rps, cpuPer := map[string]float64{}, map[string]float64{}
		for _, tg := range targets {
			rs := results[tg.name]
			slices.SortFunc(rs, func(a, b roundResult) int { return cmp.Compare(a.rps, b.rps) })
			r := rs[len(rs)/2]
			rps[tg.name] = r.rps
			slices.Sort(cpu[tg.name])
			cpuPer[tg.name] = cpu[tg.name][len(cpu[tg.name])/2]
			t.Logf("%-20s %6d %10.0f %9s %9s %7d %8.1f µs CPU/pull", tg.name, conc, r.rps, r.p50.Round(10*time.Microsecond),
				r.p99.Round(10*time.Microsecond), r.errors, cpuPer[tg.name])
		}
		off, offCPU := rps["tracing off"], cpuPer["tracing off"]
		t.Logf("concurrency %d: throughput at ratio 0.1 / off = %.3f×, at ratio 1.0 / off = %.3f×; CPU per pull at ratio 0.1 / off = %.3f×, at 1.0 / off = %.3f×",
			conc, rps["tracing, ratio 0.1"]/off, rps["tracing, ratio 1.0"]/off,
			cpuPer["tracing, ratio 0.1"]/offCPU, cpuPer["tracing, ratio 1.0"]/offCPU)
	}
	t.Logf("OTLP bytes exported: %d", exported.Load())
}

// cpuTime is the CPU time this process has used so far, user and system.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
