package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	entartifact "github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker"
)

// countingProxy stands in front of an upstream registry and counts the requests it passes on, by
// method and path.
type countingProxy struct {
	mu      sync.Mutex
	seen    map[string]int
	corrupt map[string]bool // paths whose answers have their first byte changed
}

func newCountingProxy(t *testing.T, upstream string) (*countingProxy, string) {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	c := &countingProxy{seen: map[string]int{}, corrupt: map[string]bool{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		c.mu.Lock()
		bad := c.corrupt[resp.Request.URL.Path]
		c.mu.Unlock()
		if bad && resp.StatusCode == http.StatusOK {
			resp.Body = &flipFirst{ReadCloser: resp.Body}
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.seen[r.Method+" "+r.URL.Path]++
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// flipFirst changes the first byte it reads.
type flipFirst struct {
	io.ReadCloser
	done bool
}

func (f *flipFirst) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if n > 0 && !f.done {
		p[0] ^= 0xff
		f.done = true
	}
	return n, err
}

func (c *countingProxy) setCorrupt(path string, bad bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corrupt[path] = bad
}

func (c *countingProxy) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[key]
}

// createProxyProject creates a public proxy-cache project of endpoint reg through GraphQL, with an
// upstream namespace and a freshness interval, and returns its id.
func createProxyProject(t *testing.T, env *servertest.Env, name string, reg int, namespace string, freshness int) {
	t.Helper()
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($n: String!, $r: ID!, $ns: String, $f: Int) {
		createProject(input: {name: $n, public: true, proxyRegistryID: $r, proxyNamespace: $ns, proxyFreshnessSeconds: $f}) { id proxyRegistryID } }`,
		map[string]any{"n": name, "r": reg, "ns": namespace, "f": freshness}, nil)
}

// A proxy-cache project pulls through on a miss (by tag and by digest), refuses pushes, follows a
// tag that moved upstream once its freshness interval has passed, and serves its cached copy when
// upstream is gone.
func TestProxyCachePullThrough(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	plain := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")
	v1 := pushImage(t, plain, dist.addr+"/library/app:v1", 4096)

	reg := mustCreate(t, env, "/registries", map[string]any{"name": "dist", "type": "docker-registry", "url": dist.URL})
	// Harbor's REST shape: registry_id makes a proxy-cache project; the repository's path is used as
	// it is upstream.
	mustCreate(t, env, "/projects", map[string]any{"project_name": "hub", "registry_id": reg, "metadata": map[string]string{"public": "true"}})
	createProxyProject(t, env, "fresh", reg, "library", 0)

	if got, err := crane("digest", env.Host+"/hub/library/app:v1"); err != nil || strings.TrimSpace(got) != v1 {
		t.Fatalf("pull through hub/library/app:v1 = %q %v, want %s", got, err, v1)
	}
	if out, err := crane("pull", env.Host+"/hub/library/app:v1", t.TempDir()+"/app.tar"); err != nil {
		t.Fatalf("pull hub/library/app:v1: %v %s", err, out)
	}
	if out, err := crane("pull", env.Host+"/fresh/app@"+v1, t.TempDir()+"/app.tar"); err != nil {
		t.Fatalf("pull fresh/app@%s by digest: %v %s", v1, err, out)
	}
	status, _, body := harborAPI(t, env, http.MethodGet, "/projects/hub/repositories/library%252Fapp/artifacts", nil)
	if status != http.StatusOK || !strings.Contains(string(body), v1) {
		t.Fatalf("the pulled artifact is not indexed: %d %s", status, body)
	}

	// Pushes and tags into a proxy-cache project are refused.
	if out, err := crane("append", "-f", layerTar(t, "x", "x"), "-t", env.Host+"/hub/library/app:mine"); err == nil || !strings.Contains(out+err.Error(), "can not push artifact to a proxy project") {
		t.Fatalf("push into a proxy-cache project: %v %s, want refused", err, out)
	}
	if out, err := crane("tag", env.Host+"/hub/library/app:v1", "other"); err == nil || !strings.Contains(out+err.Error(), "can not push artifact to a proxy project") {
		t.Fatalf("tag in a proxy-cache project: %v %s, want refused", err, out)
	}

	// Through GraphQL too, the services refuse tags and deletes.
	var hubArtifact int
	for _, a := range env.DB.Artifact.Query().Where(entartifact.Digest(v1)).WithRepository().AllX(context.Background()) {
		if a.Edges.Repository.Name == "hub/library/app" {
			hubArtifact = a.ID
		}
	}
	for _, m := range []string{`mutation($a: ID!) { createTag(artifactID: $a, name: "mine") { id } }`, `mutation($a: ID!) { deleteArtifact(id: $a) }`} {
		res := env.GraphQL("admin", servertest.AdminPassword, m, map[string]any{"a": hubArtifact})
		if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Message, "can not push artifact to a proxy project") {
			t.Fatalf("%s in a proxy-cache project: %+v, want refused", m, res.Errors)
		}
	}

	// The tag moves upstream: with no freshness interval the next pull by tag follows it.
	if got, err := crane("digest", env.Host+"/fresh/app:v1"); err != nil || strings.TrimSpace(got) != v1 {
		t.Fatalf("fresh/app:v1 = %q %v, want %s", got, err, v1)
	}
	v2 := pushImage(t, plain, dist.addr+"/library/app:v1", 4096)
	if got, err := crane("digest", env.Host+"/fresh/app:v1"); err != nil || strings.TrimSpace(got) != v2 {
		t.Fatalf("fresh/app:v1 after the tag moved upstream = %q %v, want %s", got, err, v2)
	}
	// A manifest miss stores the manifest (and its config) only: the layers come when asked for.
	if out, err := crane("pull", env.Host+"/fresh/app:v1", t.TempDir()+"/app.tar"); err != nil {
		t.Fatalf("pull fresh/app:v1 after the tag moved: %v %s", err, out)
	}
	// hub's interval (the default) has not passed: it serves what it has without asking.
	if got, err := crane("digest", env.Host+"/hub/library/app:v1"); err != nil || strings.TrimSpace(got) != v1 {
		t.Fatalf("hub/library/app:v1 within its freshness interval = %q %v, want the cached %s", got, err, v1)
	}

	// A blob hub has not fetched yet is streamed to the client while it is stored.
	v2Manifest, err := crane("manifest", env.Host+"/fresh/app@"+v2)
	if err != nil {
		t.Fatal(err)
	}
	layer := blobDigests(t, v2Manifest)[1]
	want, err := plain("blob", dist.addr+"/library/app@"+layer)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := crane("blob", env.Host+"/hub/library/app@"+layer); err != nil || got != want {
		t.Fatalf("blob %s through hub: %d bytes, %v; want the %d bytes upstream has", layer, len(got), err, len(want))
	}

	// Upstream is gone: the cached copy is served (stale-if-error).
	dist.kill()
	if got, err := crane("blob", env.Host+"/hub/library/app@"+layer); err != nil || got != want {
		t.Fatalf("blob %s through hub with upstream down: %d bytes, %v; want it from storage", layer, len(got), err)
	}
	if out, err := crane("pull", env.Host+"/fresh/app:v1", t.TempDir()+"/app.tar"); err != nil {
		t.Fatalf("pull fresh/app:v1 with upstream down: %v %s", err, out)
	}
	if !strings.Contains(env.Logs(), "serving the cached copy") {
		t.Fatal("no log line says the cached copy was served stale")
	}
	// Nothing cached and upstream gone: a clear error, not a hang.
	if _, err := crane("digest", env.Host+"/fresh/other:v1"); err == nil {
		t.Fatal("a miss with upstream down succeeded")
	}
}

// Many clients missing the same image at once cause one upstream fetch of each blob.
func TestProxyCacheCoalescesMisses(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	counter, upstream := newCountingProxy(t, dist.URL)
	env := servertest.Start(t)
	plain := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")
	dgst := pushImage(t, plain, dist.addr+"/library/app:v1", 1<<20)
	manifest, err := plain("manifest", dist.addr+"/library/app:v1")
	if err != nil {
		t.Fatal(err)
	}

	reg := mustCreate(t, env, "/registries", map[string]any{"name": "counted", "type": "docker-registry", "url": upstream})
	createProxyProject(t, env, "cold", reg, "library", 300)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := crane("pull", env.Host+"/cold/app:v1", fmt.Sprintf("%s/%d.tar", t.TempDir(), i)); err != nil {
				errs <- fmt.Errorf("pull %d: %v %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	blobs := blobDigests(t, manifest)
	if len(blobs) < 2 {
		t.Fatalf("manifest %s names %d blobs", dgst, len(blobs))
	}
	for _, b := range blobs {
		if n := counter.count("GET /v2/library/app/blobs/" + b); n != 1 {
			t.Errorf("blob %s was fetched upstream %d times, want once", b, n)
		}
	}
	if n := counter.count("GET /v2/library/app/manifests/v1"); n != 1 {
		t.Errorf("the manifest was fetched upstream %d times, want once", n)
	}
}

// blobDigests are the config and layer digests of an image manifest.
func blobDigests(t *testing.T, manifest string) []string {
	t.Helper()
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal([]byte(manifest), &m); err != nil {
		t.Fatalf("manifest %q: %v", manifest, err)
	}
	out := []string{m.Config.Digest}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// The eviction job deletes what a proxy-cache project fetched and nobody pulled for the TTL, and
// keeps the rest.
func TestProxyCacheEviction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dist := newDistribution(t)
	env := servertest.Start(t)
	plain := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")
	old := pushImage(t, plain, dist.addr+"/library/app:old", 1024)
	recent := pushImage(t, plain, dist.addr+"/library/app:recent", 1024)
	reg := mustCreate(t, env, "/registries", map[string]any{"name": "dist", "type": "docker-registry", "url": dist.URL})
	createProxyProject(t, env, "cached", reg, "library", 300)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	for _, tag := range []string{"old", "recent"} {
		if out, err := crane("pull", env.Host+"/cached/app:"+tag, t.TempDir()+"/app.tar"); err != nil {
			t.Fatalf("pull cached/app:%s: %v %s", tag, err, out)
		}
	}
	// The pulls are recorded off the request path: wait for them, then age the old one.
	waitReplication(t, 30*time.Second, "both pulls to be recorded", func() (bool, string) {
		n, err := env.DB.Artifact.Query().Where(entartifact.PullTimeNotNil()).Count(ctx)
		return err == nil && n == 2, fmt.Sprint(n, err)
	})
	long := time.Now().Add(-30 * 24 * time.Hour)
	if err := env.DB.Artifact.Update().Where(entartifact.Digest(old)).SetPullTime(long).SetPushTime(long).Exec(ctx); err != nil {
		t.Fatal(err)
	}

	env.InsertJob(worker.ProxyEvictArgs{})
	waitReplication(t, 30*time.Second, "the old artifact to be evicted", func() (bool, string) {
		n, err := env.DB.Artifact.Query().Where(entartifact.Digest(old)).Count(ctx)
		return err == nil && n == 0, fmt.Sprint(n, err)
	})
	if n, err := env.DB.Artifact.Query().Where(entartifact.Digest(recent)).Count(ctx); err != nil || n != 1 {
		t.Fatalf("the recently pulled artifact: %d %v, want kept", n, err)
	}
	if _, err := crane("manifest", env.Host+"/cached/app@"+recent); err != nil {
		t.Fatalf("the recently pulled artifact is not served: %v", err)
	}
}

// A blob whose bytes upstream are not its digest is never stored, and the client streaming it
// gets a broken connection, not a wrong blob; once upstream is right again the blob is fetched
// anew. A manifest miss fetches the manifest and its config, not the layers.
func TestProxyCacheDiscardsCorruptBlob(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	counter, upstream := newCountingProxy(t, dist.URL)
	env := servertest.Start(t)
	plain := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")
	pushImage(t, plain, dist.addr+"/library/app:v1", 1<<20)
	manifest, err := plain("manifest", dist.addr+"/library/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	blobs := blobDigests(t, manifest)
	layer := blobs[len(blobs)-1]
	reg := mustCreate(t, env, "/registries", map[string]any{"name": "bad", "type": "docker-registry", "url": upstream})
	createProxyProject(t, env, "bad", reg, "library", 300)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)

	if _, err := crane("manifest", env.Host+"/bad/app:v1"); err != nil {
		t.Fatal(err)
	}
	if n := counter.count("GET /v2/library/app/blobs/" + blobs[0]); n != 1 {
		t.Errorf("the config was fetched %d times on a manifest miss, want once", n)
	}
	if n := counter.count("GET /v2/library/app/blobs/" + layer); n != 0 {
		t.Errorf("the layer was fetched %d times on a manifest miss, want not yet", n)
	}

	path := "/v2/library/app/blobs/" + layer
	counter.setCorrupt(path, true)
	token := registryToken(t, env, "admin", servertest.AdminPassword, "bad/app")
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/v2/bad/app/blobs/"+layer, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("a corrupt upstream blob was served whole: %d, %d bytes", resp.StatusCode, len(b))
		}
	}
	counter.setCorrupt(path, false)
	want, err := plain("blob", dist.addr+"/library/app@"+layer)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := crane("blob", env.Host+"/bad/app@"+layer); err != nil || got != want {
		t.Fatalf("blob after upstream is right again: %d bytes, %v; want the %d bytes upstream has", len(got), err, len(want))
	}
	if n := counter.count("GET " + path); n != 2 {
		t.Errorf("the layer was fetched upstream %d times, want twice (the corrupt copy was not kept)", n)
	}
	if !strings.Contains(env.Logs(), "not "+layer) {
		t.Error("no log line says the upstream bytes did not match")
	}
}

// Two replicas sharing PostgreSQL, storage and Redis: clients on both missing the same image at
// once cause one upstream fetch of the manifest and of each blob, and a tag one replica checked
// is fresh for the other (no HEAD upstream).
func TestProxyCacheCoalescesAcrossReplicas(t *testing.T) {
	t.Parallel()
	rs := startRedisServer(t)
	dist := newDistribution(t)
	counter, upstream := newCountingProxy(t, dist.URL)
	one := servertest.Start(t, func(c *server.Config) { c.RedisURL = rs.url })
	two := servertest.Start(t, func(c *server.Config) {
		c.DatabaseURL, c.DataDir, c.RedisURL, c.RunJobs = one.DatabaseURL, one.DataDir, rs.url, false
	})
	plain := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")
	pushImage(t, plain, dist.addr+"/library/app:v1", 4<<20)
	manifest, err := plain("manifest", dist.addr+"/library/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	reg := mustCreate(t, one, "/registries", map[string]any{"name": "counted", "type": "docker-registry", "url": upstream})
	createProxyProject(t, one, "cold", reg, "library", 300)
	cranes := []func(...string) (string, error){
		setupCrane(t, one, "admin", servertest.AdminPassword), setupCrane(t, two, "admin", servertest.AdminPassword)}
	hosts := []string{one.Host, two.Host}

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := cranes[i%2]("pull", hosts[i%2]+"/cold/app:v1", fmt.Sprintf("%s/%d.tar", t.TempDir(), i)); err != nil {
				errs <- fmt.Errorf("pull %d from replica %d: %v %s", i, i%2+1, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, b := range blobDigests(t, manifest) {
		if n := counter.count("GET /v2/library/app/blobs/" + b); n != 1 {
			t.Errorf("blob %s was fetched upstream %d times by two replicas, want once", b, n)
		}
	}
	if n := counter.count("GET /v2/library/app/manifests/v1"); n != 1 {
		t.Errorf("the manifest was fetched upstream %d times by two replicas, want once", n)
	}
	// Within the freshness interval neither replica asks upstream about the tag again.
	for i := range 2 {
		if _, err := cranes[i]("digest", hosts[i]+"/cold/app:v1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.count("HEAD /v2/library/app/manifests/v1"); n != 0 {
		t.Errorf("upstream was asked about a fresh tag %d times, want never", n)
	}
}
