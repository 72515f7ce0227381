package server_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/server/servertest"
)

// TestBenchPullSigned is `make bench-pull-signed`: warm manifest GETs by tag, the harness of
// `make bench-pull`, of the same image in two projects of one server: one without enforcement
// and one where only verified images may be pulled (the image VERIFIED), alternated in the same
// run, twice. It prints requests/s, p50 and p99 of each and the enforced one's added latency.
// BERTH_BENCH_PULL_SECONDS sets the length of each point (default 5).
func TestBenchPullSigned(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "pull" {
		t.Skip("a benchmark: run `make bench-pull-signed`")
	}
	seconds := 5
	if v := os.Getenv("BERTH_BENCH_PULL_SECONDS"); v != "" {
		fmt.Sscan(v, &seconds)
	}
	env := servertest.Start(t)
	enforcedID := env.CreateProject("enforced", false)
	env.CreateProject("plain", false)
	d := pushRandomImage(t, env, "enforced/app:v1")
	pushRandomImage(t, env, "plain/app:v1")
	// The image as a verified signature leaves it (verification itself: BenchmarkVerifyCosign).
	if err := env.DB.Artifact.Update().Where(artifact.Digest(d)).SetSignatureStatus(artifact.SignatureStatusVerified).
		SetSignatureKey("bench").Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	setRequireVerified(t, env, enforcedID, true)
	env.Server.ForgetAccessDecisions()
	targets := []struct{ name, url, token string }{
		{"not enforced", env.URL + "/v2/plain/app/manifests/v1", benchToken(t, env, "repository:plain/app:pull")},
		{"enforced, VERIFIED", env.URL + "/v2/enforced/app/manifests/v1", benchToken(t, env, "repository:enforced/app:pull")},
	}
	for _, tg := range targets {
		if r := pullRound(tg.url, tg.token, 4, 300*time.Millisecond); r.ok == 0 || r.errors > 0 {
			t.Fatalf("%s: warm-up pulls failed (%d ok, %d errors)", tg.name, r.ok, r.errors)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	t.Logf("manifest GET by tag, %d s per point, on %d CPUs shared by server and load driver", seconds, runtime.NumCPU())
	t.Logf("%-20s %6s %5s %10s %9s %9s %7s %14s", "target", "conc", "pass", "req/s", "p50", "p99", "errors", "queries/pull")
	for _, conc := range []int{50, 200} {
		sum := map[string]roundResult{}
		for pass := 1; pass <= 2; pass++ {
			for _, tg := range targets {
				before := env.Server.QueryCount()
				r := pullRound(tg.url, tg.token, conc, time.Duration(seconds)*time.Second)
				// Statements per pull: ~0 on the fast path (the pull recorder's batches aside).
				qpp := float64(env.Server.QueryCount()-before) / float64(max(r.ok, 1))
				t.Logf("%-20s %6d %5d %10.0f %9s %9s %7d %14.4f", tg.name, conc, pass, r.rps, r.p50.Round(10*time.Microsecond),
					r.p99.Round(10*time.Microsecond), r.errors, qpp)
				s := sum[tg.name]
				s.rps += r.rps / 2
				s.p50 += r.p50 / 2
				s.p99 += r.p99 / 2
				sum[tg.name] = s
			}
		}
		plain, enforced := sum["not enforced"], sum["enforced, VERIFIED"]
		t.Logf("concurrency %d (mean of 2 passes): enforced/not enforced req/s = %.3f×, p50 %s vs %s (%+.1f%%)", conc,
			enforced.rps/plain.rps, enforced.p50.Round(10*time.Microsecond), plain.p50.Round(10*time.Microsecond),
			100*(float64(enforced.p50)/float64(plain.p50)-1))
	}
}
