package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/ent/user"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// manifestAccept is what crane and docker send: every manifest type they understand.
const manifestAccept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, " +
	"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json"

// cacheImage pushes a one-layer image whose content is unique to text and returns its digest.
func cacheImage(t *testing.T, env *servertest.Env, ref, text string) string {
	t.Helper()
	crane := servertest.Tool(t, "crane")
	dir := t.TempDir()
	vars := []string{"DOCKER_CONFIG=" + dir}
	servertest.Run(t, vars, crane, "auth", "login", env.Host, "-u", "admin", "-p", servertest.AdminPassword, "--insecure")
	servertest.Run(t, vars, "sh", "-c", "echo '"+text+"' > "+dir+"/f && tar -C "+dir+" -cf "+dir+"/l.tar f")
	servertest.Run(t, vars, crane, "append", "--insecure", "-f", dir+"/l.tar", "-t", env.Host+"/"+ref)
	return strings.TrimSpace(servertest.Run(t, vars, crane, "digest", "--insecure", env.Host+"/"+ref))
}

// registryToken is a pull token for repo from env's token service, as user.
func registryToken(t *testing.T, env *servertest.Env, user, password, repo string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/service/token?service=berth&scope=repository:"+repo+":pull", nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("token for %s on %s: %v (status %d)", user, repo, err, resp.StatusCode)
	}
	return out.Token
}

type pulled struct {
	status int
	digest string // Docker-Content-Digest
	body   []byte
	header http.Header
}

// pullManifest GETs (or HEADs) a manifest with a bearer token.
func pullManifest(client *http.Client, method, baseURL, repo, reference, token string, extra ...string) (pulled, error) {
	req, err := http.NewRequest(method, baseURL+"/v2/"+repo+"/manifests/"+reference, nil)
	if err != nil {
		return pulled{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", manifestAccept)
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return pulled{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return pulled{}, err
	}
	return pulled{status: resp.StatusCode, digest: resp.Header.Get("Docker-Content-Digest"), body: body, header: resp.Header}, nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// The fast path answers as Distribution does: same headers, 304 on a matching If-None-Match, HEAD
// without a body; and a warm pull costs no database statement.
func TestCachedManifestHeadersMatchDistribution(t *testing.T) {
	t.Parallel()
	cached := servertest.Start(t)
	dgst := cacheImage(t, cached, "library/hdr:v1", "headers")
	token := registryToken(t, cached, "admin", servertest.AdminPassword, "library/hdr")
	// The same storage and database without the cache: what Distribution itself answers.
	plain := servertest.Start(t, func(c *server.Config) {
		c.DatabaseURL, c.DataDir, c.Cache, c.RunJobs = cached.DatabaseURL, cached.DataDir, false, false
	})
	client := servertest.Client()
	for _, ref := range []string{"v1", dgst} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			want, err := pullManifest(client, method, plain.URL, "library/hdr", ref, token)
			if err != nil || want.status != http.StatusOK {
				t.Fatalf("%s %s without cache: %d, %v", method, ref, want.status, err)
			}
			for range 2 { // the first fills the cache, the second is answered from it
				got, err := pullManifest(client, method, cached.URL, "library/hdr", ref, token)
				if err != nil || got.status != http.StatusOK {
					t.Fatalf("%s %s: %d, %v", method, ref, got.status, err)
				}
				for _, h := range []string{"Content-Type", "Docker-Content-Digest", "Content-Length", "Etag"} {
					if got.header.Get(h) != want.header.Get(h) {
						t.Errorf("%s %s: %s = %q, Distribution says %q", method, ref, h, got.header.Get(h), want.header.Get(h))
					}
				}
				if string(got.body) != string(want.body) {
					t.Errorf("%s %s: body differs from Distribution's", method, ref)
				}
			}
		}
		nm, err := pullManifest(client, http.MethodGet, cached.URL, "library/hdr", ref, token, "If-None-Match", `"`+dgst+`"`)
		if err != nil || nm.status != http.StatusNotModified || len(nm.body) != 0 {
			t.Fatalf("If-None-Match on %s: %d (%d bytes), %v; want 304 without a body", ref, nm.status, len(nm.body), err)
		}
	}
	// Warm pulls: no statement at all. The only statements in the window are the pull recorder's
	// batches, written off the path: two per pulled reference per flush, and it flushes at most
	// once a second, so the bound depends on how long the window lasted, never on where a tick fell.
	// A statement per pull would exceed it by far.
	before, start := cached.Server.QueryCount(), time.Now()
	for range 50 {
		if p, err := pullManifest(client, http.MethodGet, cached.URL, "library/hdr", "v1", token); err != nil || p.status != http.StatusOK {
			t.Fatalf("warm pull: %d, %v", p.status, err)
		}
	}
	n, flushes := cached.Server.QueryCount()-before, int64(time.Since(start)/time.Second)+2
	// The references pulled before the window (v1 and the digest) may be flushed in it too.
	if limit := 2 * 2 * flushes; n > limit {
		t.Errorf("50 warm pulls sent %d statements; want at most the pull recorder's batches (%d)", n, limit)
	}
}

// 100 clients pull a tag while it is moved back and forth: every answer's body matches its digest,
// the digest is one the tag pointed at, and after the last move the new digest is served at once.
func TestPullsDuringTagMovesNeverMismatch(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	a := cacheImage(t, env, "library/move:a", "image a")
	b := cacheImage(t, env, "library/move:b", "image b")
	crane := servertest.Tool(t, "crane")
	dir := t.TempDir()
	vars := []string{"DOCKER_CONFIG=" + dir}
	servertest.Run(t, vars, crane, "auth", "login", env.Host, "-u", "admin", "-p", servertest.AdminPassword, "--insecure")
	servertest.Run(t, vars, crane, "tag", "--insecure", env.Host+"/library/move@"+a, "latest")
	token := registryToken(t, env, "admin", servertest.AdminPassword, "library/move")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pulls atomic.Int64
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := servertest.Client()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p, err := pullManifest(client, http.MethodGet, env.URL, "library/move", "latest", token)
				switch {
				case err != nil:
					errs <- err
					return
				case p.status != http.StatusOK:
					errs <- fmt.Errorf("status %d", p.status)
					return
				case sha(p.body) != p.digest:
					errs <- fmt.Errorf("body hashes to %s, header says %s", sha(p.body), p.digest)
					return
				case p.digest != a && p.digest != b:
					errs <- fmt.Errorf("digest %s was never tagged latest", p.digest)
					return
				}
				pulls.Add(1)
			}
		}()
	}
	last := a
	for i := range 10 {
		last = []string{b, a}[i%2]
		servertest.Run(t, vars, crane, "tag", "--insecure", env.Host+"/library/move@"+last, "latest")
		// The replica that moved the tag serves the new digest as soon as the push is answered.
		if p, err := pullManifest(servertest.Client(), http.MethodGet, env.URL, "library/move", "latest", token); err != nil || p.digest != last {
			t.Errorf("move %d: right after the push latest is %s (%v), want %s", i, p.digest, err, last)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d pulls during 10 tag moves", pulls.Load())
}

// Two replicas on one database, storage and Redis: a deleted artifact is 404 on the replica that
// deleted it at once and on the other within a second; a removed member loses pull on both.
func TestCacheReplicasStayConsistent(t *testing.T) {
	t.Parallel()
	rs := startRedisServer(t)
	one := servertest.Start(t, func(c *server.Config) { c.RedisURL = rs.url })
	two := servertest.Start(t, func(c *server.Config) {
		c.DatabaseURL, c.DataDir, c.RedisURL, c.RunJobs = one.DatabaseURL, one.DataDir, rs.url, false
	})
	client := servertest.Client()
	dgst := cacheImage(t, one, "library/del:v1", "to delete")
	token := registryToken(t, one, "admin", servertest.AdminPassword, "library/del")
	for _, env := range []*servertest.Env{one, two} {
		for _, ref := range []string{"v1", dgst, "v1", dgst} { // twice: warm
			if p, err := pullManifest(client, http.MethodGet, env.URL, "library/del", ref, token); err != nil || p.status != http.StatusOK {
				t.Fatalf("before delete %s on %s: %d, %v", ref, env.URL, p.status, err)
			}
		}
	}

	t.Run("deleted artifact", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodDelete, one.URL+"/v2/library/del/manifests/"+dgst, nil)
		req.SetBasicAuth("admin", servertest.AdminPassword)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("delete: %v %v", resp.Status, err)
		}
		resp.Body.Close()
		for _, ref := range []string{"v1", dgst} {
			if p, _ := pullManifest(client, http.MethodGet, one.URL, "library/del", ref, token); p.status != http.StatusNotFound {
				t.Errorf("%s on the deleting replica right after the delete: %d, want 404", ref, p.status)
			}
			waitStatus(t, client, two.URL, "library/del", ref, token, http.StatusNotFound)
		}
	})

	t.Run("revoked membership", func(t *testing.T) {
		pid := one.CreateProject("private", false)
		one.CreateUser("bob", "bob-password-1")
		one.AddMember(pid, "bob", "developer")
		cacheImage(t, one, "private/img:v1", "private image")
		bob := registryToken(t, one, "bob", "bob-password-1", "private/img")
		for _, env := range []*servertest.Env{one, two} {
			for range 2 {
				if p, err := pullManifest(client, http.MethodGet, env.URL, "private/img", "v1", bob); err != nil || p.status != http.StatusOK {
					t.Fatalf("bob's pull on %s before removal: %d, %v", env.URL, p.status, err)
				}
			}
		}
		mid, err := one.DB.Member.Query().Where(member.ProjectID(pid), member.HasUserWith(user.Username("bob"))).OnlyID(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		one.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": mid}, nil)
		for _, env := range []*servertest.Env{one, two} {
			waitNotStatus(t, client, env.URL, "private/img", "v1", bob, http.StatusOK)
		}
	})
}

// Redis killed while clients pull: no pull fails, and a tag moved after the kill is served right.
func TestRedisKilledDuringPulls(t *testing.T) {
	t.Parallel()
	rs := startRedisServer(t)
	env := servertest.Start(t, func(c *server.Config) {
		c.RedisURL = rs.url
		c.CacheMemoryTTL = 20 * time.Millisecond // so that pulls keep going to Redis
	})
	a := cacheImage(t, env, "library/red:v1", "redis a")
	b := cacheImage(t, env, "library/red:other", "redis b")
	token := registryToken(t, env, "admin", servertest.AdminPassword, "library/red")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := servertest.Client()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p, err := pullManifest(client, http.MethodGet, env.URL, "library/red", "v1", token)
				if err != nil || p.status != http.StatusOK || sha(p.body) != p.digest {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	rs.kill()
	time.Sleep(time.Second)
	// A write with Redis gone: its stale Redis entry cannot be deleted, and must not be served.
	crane := servertest.Tool(t, "crane")
	dir := t.TempDir()
	vars := []string{"DOCKER_CONFIG=" + dir}
	servertest.Run(t, vars, crane, "auth", "login", env.Host, "-u", "admin", "-p", servertest.AdminPassword, "--insecure")
	servertest.Run(t, vars, crane, "tag", "--insecure", env.Host+"/library/red@"+b, "v1")
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || ok.Load() == 0 {
		t.Fatalf("%d pulls failed, %d succeeded, with Redis killed mid-test", failed.Load(), ok.Load())
	}
	if p, err := pullManifest(servertest.Client(), http.MethodGet, env.URL, "library/red", "v1", token); err != nil || p.digest != b {
		t.Fatalf("after moving v1 with Redis down: %s (%v), want %s (was %s)", p.digest, err, b, a)
	}
}

// waitStatus polls for at most one second (the consistency the cache promises across replicas).
func waitStatus(t *testing.T, client *http.Client, baseURL, repo, ref, token string, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		p, err := pullManifest(client, http.MethodGet, baseURL, repo, ref, token)
		if err == nil && p.status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s %s@%s: still %d (%v) a second later, want %d", baseURL, repo, ref, p.status, err, want)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitNotStatus(t *testing.T, client *http.Client, baseURL, repo, ref, token string, unwanted int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		p, err := pullManifest(client, http.MethodGet, baseURL, repo, ref, token)
		if err == nil && p.status != unwanted {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s %s@%s: still %d (%v) a second later", baseURL, repo, ref, p.status, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type redisServer struct {
	url  string
	cmd  *exec.Cmd
	once sync.Once
}

func (r *redisServer) kill() {
	r.once.Do(func() {
		_ = r.cmd.Process.Kill()
		_, _ = r.cmd.Process.Wait()
	})
}

// startRedisServer runs a private redis-server on a free loopback port (skipping if it is not
// installed), so that tests can kill it and never share keys.
func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		servertest.Missing(t, "redis-server is not installed: run `make tools` (make test does)")
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
	r := &redisServer{url: "redis://127.0.0.1:" + port + "/0", cmd: cmd}
	t.Cleanup(r.kill)
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port})
	defer rc.Close()
	for i := 0; rc.Ping(context.Background()).Err() != nil; i++ {
		if i > 100 {
			t.Fatal("private redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}
