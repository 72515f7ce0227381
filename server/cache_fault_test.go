package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/berth-registry/berth/cache"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// moveTag points tag at the manifest of digest by PUTting that manifest under the tag, as admin,
// and returns how long the PUT took.
func moveTag(t *testing.T, env *servertest.Env, repo, tag, digest, token string) time.Duration {
	t.Helper()
	p, err := pullManifest(servertest.Client(), http.MethodGet, env.URL, repo, digest, token)
	if err != nil || p.status != http.StatusOK {
		t.Fatalf("read %s@%s: %d %v", repo, digest, p.status, err)
	}
	req, _ := http.NewRequest(http.MethodPut, env.URL+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(p.body))
	req.Header.Set("Content-Type", p.header.Get("Content-Type"))
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := servertest.Client().Do(req)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("move %s:%s to %s: %d %s", repo, tag, digest, resp.StatusCode, body)
	}
	return took
}

// pushToken is a pull-and-push token for repo, as admin.
func pushToken(t *testing.T, env *servertest.Env, repo string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/service/token?service=berth&scope=repository:"+repo+":pull,push", nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_, after, ok := strings.Cut(string(b), `"token":"`)
	token, _, _ := strings.Cut(after, `"`)
	if !ok || token == "" {
		t.Fatalf("push token: %d %s", resp.StatusCode, b)
	}
	return token
}

// A stalled Redis (SIGSTOP: connections accepted, nothing answered) costs a request at most the
// cache's time budget, for manifest pulls and for a tag move, and Redis is used again once it
// answers.
func TestRedisStalled(t *testing.T) {
	t.Parallel()
	rs := startRedisServer(t)
	env := servertest.Start(t, func(c *server.Config) {
		c.RedisURL = rs.url
		c.CacheMemoryTTL = 50 * time.Millisecond // so that pulls keep going to Redis
		c.CacheTTL = 2 * time.Second             // how long a failed delete keeps Redis bypassed
	})
	a := cacheImage(t, env, "library/stall:v1", "stall a")
	b := cacheImage(t, env, "library/stall:other", "stall b")
	token := pushToken(t, env, "library/stall")
	client := servertest.Client()
	baseline := moveTag(t, env, "library/stall", "moved", a, token)

	if err := rs.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	continued := false
	resume := func() {
		if !continued {
			continued = true
			_ = rs.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)

	bound := cache.DefaultRedisTimeout + 100*time.Millisecond
	var slowest time.Duration
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; i < 200 && time.Now().Before(deadline); i++ {
		ref := []string{"v1", a, "other", b}[i%4]
		start := time.Now()
		p, err := pullManifest(client, http.MethodGet, env.URL, "library/stall", ref, token)
		took := time.Since(start)
		slowest = max(slowest, took)
		if err != nil || p.status != http.StatusOK {
			t.Fatalf("pull %s with Redis stalled: %d %v", ref, p.status, err)
		}
		if took > bound {
			t.Errorf("pull %s with Redis stalled took %v; want at most the budget + 100 ms (%v)", ref, took, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The move deletes two keys in Redis, in one call within one budget.
	took := moveTag(t, env, "library/stall", "v1", b, token)
	if took > baseline+bound {
		t.Errorf("tag move with Redis stalled took %v (%v without); want at most %v more", took, baseline, bound)
	}
	if p, _ := pullManifest(client, http.MethodGet, env.URL, "library/stall", "v1", token); p.digest != b {
		t.Errorf("v1 after the move with Redis stalled: %s, want %s", p.digest, b)
	}
	t.Logf("slowest pull %v, tag move %v (%v before the stall), Redis stalled", slowest, took, baseline)

	resume()
	rc := redis.NewClient(&redis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(rs.url, "redis://"), "/0")})
	defer rc.Close()
	ctx := context.Background()
	if err := rc.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// Redis answers again: within the bypass (a failed delete keeps it for the Redis TTL) plus a
	// margin, a pull's value is written to it again.
	deadline = time.Now().Add(15 * time.Second)
	for {
		if p, err := pullManifest(client, http.MethodGet, env.URL, "library/stall", "v1", token); err != nil || p.digest != b {
			t.Fatalf("v1 after Redis came back: %s %v, want %s", p.digest, err, b)
		}
		if n, _ := rc.Exists(ctx, "berth:tag:library/stall:v1").Result(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis was not used again 15 s after it came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A replica whose event stream is cut (its LISTEN connection terminated) misses the notification
// of a tag move, and is not told it again: it must notice the loss and stop serving the tag's old
// digest within a second, without waiting for its cache entries to expire.
func TestReplicaLosingItsEventStream(t *testing.T) {
	t.Parallel()
	one := servertest.Start(t)
	two := servertest.Start(t, func(c *server.Config) {
		c.DatabaseURL, c.DataDir, c.RunJobs = one.DatabaseURL+"&application_name=berth_replica_two", one.DataDir, false
		c.CacheMemoryTTL = time.Minute // longer than the test: only the notice can make it reload
	})
	client := servertest.Client()
	a := cacheImage(t, one, "library/gap:v1", "gap a")
	b := cacheImage(t, one, "library/gap:other", "gap b")
	token := pushToken(t, one, "library/gap")
	for range 2 {
		if p, err := pullManifest(client, http.MethodGet, two.URL, "library/gap", "v1", token); err != nil || p.digest != a {
			t.Fatalf("v1 on the second replica: %s %v, want %s", p.digest, err, a)
		}
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, one.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed bool
	err = conn.QueryRow(ctx, `SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'berth_replica_two' AND query LIKE 'LISTEN berth_events%'`).Scan(&killed)
	if err != nil || !killed {
		t.Fatalf("terminate the second replica's event listener: %v (terminated: %v)", err, killed)
	}
	moveTag(t, one, "library/gap", "v1", b, token)

	deadline := time.Now().Add(time.Second)
	for {
		p, err := pullManifest(client, http.MethodGet, two.URL, "library/gap", "v1", token)
		if err == nil && p.digest == b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica that lost its event stream still serves v1 as %s (%v) a second after the move to %s", p.digest, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}

	resp, err := http.Get(two.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(metrics), `berth_cache_stream_gaps_total{reason="connection_lost"}`) {
		t.Error("the lost event stream is not counted in berth_cache_stream_gaps_total")
	}
}
