package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	entevent "github.com/berth-registry/berth/ent/event"
	"github.com/berth-registry/berth/ent/replicationexecution"
	"github.com/berth-registry/berth/ent/replicationtask"
	entrepository "github.com/berth-registry/berth/ent/repository"
	enttag "github.com/berth-registry/berth/ent/tag"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/replication"
)

// distribution is Distribution's registry binary serving a directory on a loopback address; it
// can be killed and started again on the same address and content.
type distribution struct {
	t         *testing.T
	bin, cfg  string
	addr, URL string
	cmd       *exec.Cmd
	stopped   bool
}

func newDistribution(t *testing.T) *distribution {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n",
		t.TempDir(), addr)
	file := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &distribution{t: t, bin: servertest.Tool(t, "registry"), cfg: file, addr: addr, URL: "http://" + addr}
	d.start()
	t.Cleanup(d.kill)
	return d
}

func (d *distribution) start() {
	d.t.Helper()
	d.cmd = exec.Command(d.bin, "serve", d.cfg)
	d.cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.stopped = false
	waitReplication(d.t, 10*time.Second, "distribution to answer", func() (bool, string) {
		resp, err := http.Get(d.URL + "/v2/")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})
}

func (d *distribution) kill() {
	if d.cmd != nil && !d.stopped {
		_ = d.cmd.Process.Kill()
		_, _ = d.cmd.Process.Wait()
		d.stopped = true
	}
}

// waitReplication polls cond until it holds or the deadline passes, then fails with what it last saw.
func waitReplication(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last saw: %s", within, what, saw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// harborAPI calls Berth's REST API as admin; it returns the status, the Location's last part and the body.
func harborAPI(t *testing.T, env *servertest.Env, method, path string, body any) (int, string, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, env.URL+"/api/v2.0"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", servertest.AdminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	loc := resp.Header.Get("Location")
	return resp.StatusCode, loc[strings.LastIndex(loc, "/")+1:], out
}

func mustCreate(t *testing.T, env *servertest.Env, path string, body any) int {
	t.Helper()
	status, loc, out := harborAPI(t, env, http.MethodPost, path, body)
	if status != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", path, status, out)
	}
	id, err := strconv.Atoi(loc)
	if err != nil {
		t.Fatalf("POST %s: Location %q", path, loc)
	}
	return id
}

type restExecution struct {
	ID                                          int
	Status                                      string
	Total, Failed, Succeed, InProgress, Stopped int
	Skipped                                     int
	Bytes                                       int64
}

type restTask struct {
	ID          int
	SrcResource string `json:"src_resource"`
	DstResource string `json:"dst_resource"`
	Operation   string
	Status      string
	Message     string
	Bytes       int64
}

// runPolicy starts policy id and waits for its execution to end.
func runPolicy(t *testing.T, env *servertest.Env, policyID int) restExecution {
	t.Helper()
	id := mustCreate(t, env, "/replication/executions", map[string]any{"policy_id": policyID})
	return waitExecution(t, env, id)
}

func waitExecution(t *testing.T, env *servertest.Env, id int) restExecution {
	t.Helper()
	var e restExecution
	waitReplication(t, 60*time.Second, fmt.Sprintf("execution %d to end", id), func() (bool, string) {
		_, _, out := harborAPI(t, env, http.MethodGet, fmt.Sprintf("/replication/executions/%d", id), nil)
		e = restExecution{}
		_ = json.Unmarshal(out, &e)
		return e.Status != "Pending" && e.Status != "InProgress" && e.Status != "", string(out)
	})
	return e
}

func tasksOf(t *testing.T, env *servertest.Env, id int) []restTask {
	t.Helper()
	var tasks []restTask
	_, _, out := harborAPI(t, env, http.MethodGet, fmt.Sprintf("/replication/executions/%d/tasks?page_size=100", id), nil)
	if err := json.Unmarshal(out, &tasks); err != nil {
		t.Fatalf("tasks: %s", out)
	}
	return tasks
}

// pushImage pushes a one-layer image with size random bytes and returns its digest.
func pushImage(t *testing.T, crane func(...string) (string, error), ref string, size int) string {
	t.Helper()
	b := make([]byte, size/2)
	_, _ = rand.Read(b)
	if out, err := crane("append", "-f", layerTar(t, "data", hex.EncodeToString(b)), "-t", ref); err != nil {
		t.Fatalf("push %s: %v %s", ref, err, out)
	}
	d, err := crane("digest", ref)
	if err != nil {
		t.Fatalf("digest %s: %v", ref, err)
	}
	return strings.TrimSpace(d)
}

// pushCosignSignature pushes a cosign-style signature of subject (tagged sha256-<hex>.sig, its
// layer a simple-signing payload), as cosign sign would, and returns its digest.
func pushCosignSignature(t *testing.T, env *servertest.Env, repo, subject string) string {
	t.Helper()
	r, err := name.NewRepository(env.Host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword})}
	payload := static.NewLayer([]byte(`{"critical":{"image":{"docker-manifest-digest":"`+subject+`"}}}`), "application/vnd.dev.cosign.simplesigning.v1+json")
	config := static.NewLayer([]byte(`{}`), types.OCIConfigJSON)
	if err := remote.WriteLayer(r, payload, opts...); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteLayer(r, config, opts...); err != nil {
		t.Fatal(err)
	}
	pd, _ := payload.Digest()
	cd, _ := config.Digest()
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},`+
		`"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"%s","size":%d,`+
		`"annotations":{"dev.cosignproject.cosign/signature":"MEUCIQ"}}]}`, cd, pd, len(`{"critical":{"image":{"docker-manifest-digest":"`+subject+`"}}}`))
	tag := strings.Replace(subject, ":", "-", 1) + ".sig"
	if err := remote.Put(r.Tag(tag), rawTaggable{types.OCIManifestSchema1, []byte(manifest)}, opts...); err != nil {
		t.Fatal(err)
	}
	return digest.FromString(manifest).String()
}

// rawTaggable puts manifest bytes as they are.
type rawTaggable struct {
	mediaType types.MediaType
	body      []byte
}

func (m rawTaggable) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawTaggable) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// A push-based policy to a plain Distribution registry copies what its filters pass, flattened
// into the destination namespace, with the cosign signature and the oras-attached SBOM of each
// image; a second run sends nothing again; override off leaves a changed tag alone.
func TestReplicationPushToDistribution(t *testing.T) {
	t.Parallel()
	oras := servertest.Tool(t, "oras")
	dist := newDistribution(t)
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	plain := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")

	v1 := pushImage(t, crane, env.Host+"/library/app:v1", 4096)
	pushImage(t, crane, env.Host+"/library/app:v2-dev", 4096)
	pushImage(t, crane, env.Host+"/library/other:v1", 4096)
	sig := pushCosignSignature(t, env, "library/app", v1)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "sbom.json"), []byte(`{"spdxVersion":"SPDX-2.3"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := []string{"HOME=" + t.TempDir()}
	regCfg := filepath.Join(t.TempDir(), "auth.json")
	runIn(t, work, vars, oras, "login", env.Host, "-u", "admin", "-p", servertest.AdminPassword, "--plain-http", "--registry-config", regCfg)
	var attached struct{ Digest string }
	out := runIn(t, work, vars, oras, "attach", env.Host+"/library/app:v1", "--artifact-type", "application/spdx+json",
		"--format", "json", "--plain-http", "--registry-config", regCfg, "sbom.json:application/spdx+json")
	if err := json.Unmarshal([]byte(out), &attached); err != nil || attached.Digest == "" {
		t.Fatalf("oras attach: %s %v", out, err)
	}

	reg := mustCreate(t, env, "/registries", map[string]any{"name": "dist", "type": "docker-registry", "url": dist.URL})
	policy := mustCreate(t, env, "/replication/policies", map[string]any{
		"name": "to-dist", "dest_registry": map[string]any{"id": reg}, "dest_namespace": "mirror", "dest_namespace_replace_count": 1,
		"filters": []map[string]any{{"type": "name", "value": "library/app"}, {"type": "tag", "value": "*-dev", "decoration": "excludes"}},
		"trigger": map[string]any{"type": "manual"}, "override": true, "enabled": true,
	})
	e := runPolicy(t, env, policy)
	if e.Status != "Succeed" || e.Total != 1 || e.Succeed != 1 || e.Bytes == 0 {
		t.Fatalf("execution = %+v, tasks %+v; want one task copied", e, tasksOf(t, env, e.ID))
	}
	if got, err := plain("digest", dist.addr+"/mirror/app:v1"); err != nil || strings.TrimSpace(got) != v1 {
		t.Fatalf("mirror/app:v1 on the destination = %q %v, want %s", got, err, v1)
	}
	tags, _ := plain("ls", dist.addr+"/mirror/app")
	if strings.Contains(tags, "v2-dev") {
		t.Fatalf("the excluded tag was copied: %s", tags)
	}
	if got, err := plain("digest", dist.addr+"/mirror/app:"+strings.Replace(v1, ":", "-", 1)+".sig"); err != nil || strings.TrimSpace(got) != sig {
		t.Fatalf("cosign signature on the destination = %q %v, want %s (tags %s)", got, err, sig, tags)
	}
	if _, err := plain("manifest", dist.addr+"/mirror/app@"+attached.Digest); err != nil {
		t.Fatalf("the SBOM %s did not travel with its subject: %v (tags %s)", attached.Digest, err, tags)
	}
	// Distribution has no referrers API: the SBOM is found through the referrers tag schema.
	refs := runIn(t, work, vars, oras, "discover", dist.addr+"/mirror/app:v1", "--format", "json", "--plain-http", "--registry-config", regCfg)
	if !strings.Contains(refs, attached.Digest) {
		t.Fatalf("oras discover on the destination: %s, want %s", refs, attached.Digest)
	}
	if _, err := plain("manifest", dist.addr+"/mirror/other:v1"); err == nil {
		t.Fatal("a repository the name filter leaves out was copied")
	}

	// Again: everything is there, nothing is sent.
	again := runPolicy(t, env, policy)
	if again.Status != "Succeed" || again.Bytes != 0 {
		t.Fatalf("second execution = %+v, want success with 0 bytes sent", again)
	}

	// Override off: a tag that moved locally is left alone on the destination, and said so.
	status, _, body := harborAPI(t, env, http.MethodPut, fmt.Sprintf("/replication/policies/%d", policy), map[string]any{"override": false})
	if status != http.StatusOK {
		t.Fatalf("update policy: %d %s", status, body)
	}
	moved := pushImage(t, crane, env.Host+"/library/app:v1", 4096)
	kept := runPolicy(t, env, policy)
	tasks := tasksOf(t, env, kept.ID)
	if kept.Status != "Succeed" || len(tasks) != 1 || tasks[0].Status != "Skipped" || !strings.Contains(tasks[0].Message, "override is off") {
		t.Fatalf("override off: execution %+v tasks %+v, want the task skipped because override is off", kept, tasks)
	}
	if got, _ := plain("digest", dist.addr+"/mirror/app:v1"); strings.TrimSpace(got) != v1 || moved == v1 {
		t.Fatalf("override off: destination tag = %q, want still %s", got, v1)
	}
}

// A pull-based policy copies from a second Berth; test connection says what failed in plain
// words; a push into a remote proxy-cache project, and from a local one, is skipped with the reason.
func TestReplicationBetweenBerths(t *testing.T) {
	t.Parallel()
	remoteEnv := servertest.Start(t)
	env := servertest.Start(t)
	remoteCrane := setupCrane(t, remoteEnv, "admin", servertest.AdminPassword)
	v1 := pushImage(t, remoteCrane, remoteEnv.Host+"/library/src:v1", 2048)
	pushImage(t, remoteCrane, remoteEnv.Host+"/library/src:v2", 2048)
	// Its signature (cosign's tag scheme) and an SBOM (a referrer, found through Berth's referrers API).
	sig := pushCosignSignature(t, remoteEnv, "library/src", v1)
	oras := servertest.Tool(t, "oras")
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "sbom.json"), []byte(`{"spdxVersion":"SPDX-2.3"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	orasVars := []string{"HOME=" + t.TempDir()}
	regCfg := filepath.Join(t.TempDir(), "auth.json")
	for _, host := range []string{remoteEnv.Host, env.Host} {
		runIn(t, work, orasVars, oras, "login", host, "-u", "admin", "-p", servertest.AdminPassword, "--plain-http", "--registry-config", regCfg)
	}
	var sbom struct{ Digest string }
	out := runIn(t, work, orasVars, oras, "attach", remoteEnv.Host+"/library/src:v1", "--artifact-type", "application/spdx+json",
		"--format", "json", "--plain-http", "--registry-config", regCfg, "sbom.json:application/spdx+json")
	if err := json.Unmarshal([]byte(out), &sbom); err != nil || sbom.Digest == "" {
		t.Fatalf("oras attach: %s %v", out, err)
	}

	// Test connection.
	good := map[string]any{"type": "berth", "url": remoteEnv.URL,
		"credential": map[string]any{"type": "basic", "access_key": "admin", "access_secret": servertest.AdminPassword}}
	if status, _, body := harborAPI(t, env, http.MethodPost, "/registries/ping", good); status != http.StatusOK {
		t.Fatalf("ping with good credentials: %d %s", status, body)
	}
	// Anonymous: Berth's token service grants anonymous tokens (public projects), so it connects.
	if status, _, body := harborAPI(t, env, http.MethodPost, "/registries/ping", map[string]any{"type": "berth", "url": remoteEnv.URL}); status != http.StatusOK {
		t.Fatalf("anonymous ping: %d %s", status, body)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String()
	_ = closed.Close()
	for _, tc := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"type": "berth", "url": remoteEnv.URL, "credential": map[string]any{"type": "basic", "access_key": "admin", "access_secret": "wrong"}}, "authentication failed"},
		{map[string]any{"type": "berth", "url": remoteEnv.URL, "credential": map[string]any{"type": "oauth", "access_secret": "not-a-token"}}, "authentication failed"},
		{map[string]any{"type": "docker-registry", "url": closedURL}, "connection refused"},
		{map[string]any{"type": "docker-registry", "url": "http://no-such-host.invalid"}, "DNS"},
		{map[string]any{"type": "docker-registry", "url": remoteEnv.URL + "/api"}, "nothing after the host"},
	} {
		status, _, body := harborAPI(t, env, http.MethodPost, "/registries/ping", tc.body)
		if status != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
			t.Errorf("ping %v: %d %s, want 400 saying %q", tc.body["url"], status, body, tc.want)
		}
	}
	reg := mustCreate(t, env, "/registries", map[string]any{"name": "other-berth", "type": "berth", "url": remoteEnv.URL,
		"credential": map[string]any{"type": "basic", "access_key": "admin", "access_secret": servertest.AdminPassword}})
	// The secret is never returned, and is sealed at rest.
	_, _, body := harborAPI(t, env, http.MethodGet, fmt.Sprintf("/registries/%d", reg), nil)
	if strings.Contains(string(body), servertest.AdminPassword) {
		t.Fatalf("the registry API returned the secret: %s", body)
	}
	stored, err := env.DB.RegistryEndpoint.Get(t.Context(), reg)
	if err != nil || bytes.Contains(stored.AccessSecretSealed, []byte(servertest.AdminPassword)) || len(stored.AccessSecretSealed) == 0 {
		t.Fatalf("the secret is not sealed at rest: %v", err)
	}

	// Pull-based, tag filter.
	pull := mustCreate(t, env, "/replication/policies", map[string]any{
		"name": "from-berth", "src_registry": map[string]any{"id": reg},
		"filters": []map[string]any{{"type": "name", "value": "library/**"}, {"type": "tag", "value": "v1"}},
	})
	e := runPolicy(t, env, pull)
	if e.Status != "Succeed" || e.Total != 1 {
		t.Fatalf("pull execution = %+v, tasks %+v", e, tasksOf(t, env, e.ID))
	}
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	if got, err := crane("digest", env.Host+"/library/src:v1"); err != nil || strings.TrimSpace(got) != v1 {
		t.Fatalf("pulled library/src:v1 = %q %v, want %s", got, err, v1)
	}
	if _, err := crane("digest", env.Host+"/library/src:v2"); err == nil {
		t.Fatal("a tag the filter leaves out was pulled")
	}
	if got, err := crane("digest", env.Host+"/library/src:"+strings.Replace(v1, ":", "-", 1)+".sig"); err != nil || strings.TrimSpace(got) != sig {
		t.Fatalf("the signature did not travel with its subject: %q %v", got, err)
	}
	refs := runIn(t, work, orasVars, oras, "discover", env.Host+"/library/src:v1", "--format", "json", "--plain-http", "--registry-config", regCfg)
	if !strings.Contains(refs, sbom.Digest) {
		t.Fatalf("the SBOM did not travel with its subject: oras discover says %s", refs)
	}
	// What replication wrote is indexed like a push: the image, its signature and its SBOM.
	if n, err := env.DB.Artifact.Query().Count(t.Context()); err != nil || n != 3 {
		t.Fatalf("indexed artifacts after the pull = %d %v, want 3", n, err)
	}

	// Push-based into a remote project that is a proxy cache: skipped, with the reason.
	upstream, err := remoteEnv.DB.RegistryEndpoint.Create().SetName("hub").SetType("docker-hub").SetURL("https://registry-1.docker.io").Save(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cacheID := remoteEnv.CreateProject("cache", false)
	if err := remoteEnv.DB.Project.UpdateOneID(cacheID).SetProxyRegistryID(upstream.ID).Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	push := mustCreate(t, env, "/replication/policies", map[string]any{
		"name": "into-cache", "dest_registry": map[string]any{"id": reg}, "dest_namespace": "cache", "dest_namespace_replace_count": 1,
		"filters": []map[string]any{{"type": "name", "value": "library/**"}},
	})
	e = runPolicy(t, env, push)
	tasks := tasksOf(t, env, e.ID)
	if e.Status != "Succeed" || len(tasks) != 1 || tasks[0].Status != "Skipped" || !strings.Contains(tasks[0].Message, "proxy cache") {
		t.Fatalf("push into a proxy-cache project: %+v tasks %+v, want one task skipped naming the proxy cache", e, tasks)
	}
	if _, err := remoteCrane("digest", remoteEnv.Host+"/cache/src:v1"); err == nil {
		t.Fatal("replication pushed into a proxy-cache project")
	}

	// From a local proxy-cache project: skipped unless the policy includes them.
	localUp, err := env.DB.RegistryEndpoint.Query().First(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	proxied := env.CreateProject("proxied", false)
	pushImage(t, crane, env.Host+"/proxied/img:v1", 1024)
	if err := env.DB.Project.UpdateOneID(proxied).SetProxyRegistryID(localUp.ID).Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	fromProxy := mustCreate(t, env, "/replication/policies", map[string]any{
		"name": "from-proxy", "dest_registry": map[string]any{"id": reg}, "dest_namespace": "library", "dest_namespace_replace_count": 1,
		"filters": []map[string]any{{"type": "name", "value": "proxied/**"}},
	})
	e = runPolicy(t, env, fromProxy)
	tasks = tasksOf(t, env, e.ID)
	if len(tasks) != 1 || tasks[0].Status != "Skipped" || !strings.Contains(tasks[0].Message, "proxy cache") {
		t.Fatalf("push from a local proxy-cache project: %+v tasks %+v, want it skipped", e, tasks)
	}
}

// An event-based policy replicates a push exactly once though two replicas dispatch events, and
// propagates the delete of the artifact.
func TestReplicationEventTriggerOnceAndDeletes(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	a := servertest.Start(t)
	b := servertest.Start(t, func(c *server.Config) { c.DatabaseURL, c.DataDir = a.DatabaseURL, a.DataDir })
	plain := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")
	reg := mustCreate(t, a, "/registries", map[string]any{"name": "dist", "type": "docker-registry", "url": dist.URL})
	mustCreate(t, b, "/replication/policies", map[string]any{
		"name": "on-push", "dest_registry": map[string]any{"id": reg}, "trigger": map[string]any{"type": "event_based"},
		"replicate_deletion": true, "filters": []map[string]any{{"type": "name", "value": "library/**"}, {"type": "tag", "value": "v*"}},
	})
	crane := setupCrane(t, a, "admin", servertest.AdminPassword)
	d := pushImage(t, crane, a.Host+"/library/evt:v1", 2048)
	pushImage(t, crane, a.Host+"/library/evt:dev", 2048) // the tag filter leaves it out: no execution
	waitReplication(t, 30*time.Second, "the push on the destination", func() (bool, string) {
		got, err := plain("digest", dist.addr+"/library/evt:v1")
		return err == nil && strings.TrimSpace(got) == d, got
	})
	// Signed after the push: the signature follows its subject, though its tag is not v*.
	sig := pushCosignSignature(t, a, "library/evt", d)
	waitReplication(t, 30*time.Second, "the signature on the destination", func() (bool, string) {
		got, err := plain("digest", dist.addr+"/library/evt:"+strings.Replace(d, ":", "-", 1)+".sig")
		return err == nil && strings.TrimSpace(got) == sig, got
	})
	// Every event dispatched (by either replica) and every execution ended: exactly one for the push.
	waitReplication(t, 30*time.Second, "all events dispatched and executions ended", func() (bool, string) {
		pending, _ := a.DB.Event.Query().Where(entevent.DispatchedAtIsNil()).Count(t.Context())
		running, _ := a.DB.ReplicationExecution.Query().Where(replicationexecution.StatusIn(replicationexecution.StatusPending, replicationexecution.StatusRunning)).Count(t.Context())
		return pending == 0 && running == 0, fmt.Sprintf("%d events pending, %d executions running", pending, running)
	})
	pushed, err := a.DB.Event.Query().Where(entevent.Type("ARTIFACT_PUSHED"), entevent.Repository("library/evt"), entevent.Tag("v1")).Only(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.DB.ReplicationExecution.Query().Where(replicationexecution.EventID(int64(pushed.ID))).Count(t.Context()); err != nil || n != 1 {
		t.Fatalf("executions for the push event = %d %v, want exactly 1", n, err)
	}
	// One for the image, one for its signature; none for the dev tag.
	if n, err := a.DB.ReplicationExecution.Query().Count(t.Context()); err != nil || n != 2 {
		t.Fatalf("executions = %d %v, want 2 (the image and its signature)", n, err)
	}
	if _, err := plain("digest", dist.addr+"/library/evt:dev"); err == nil {
		t.Fatal("a tag the filter leaves out was replicated")
	}

	// Delete propagation: a deleted tag goes, the artifact stays.
	if out, err := crane("tag", a.Host+"/library/evt:v1", "v9"); err != nil {
		t.Fatalf("tag v9: %v %s", err, out)
	}
	waitReplication(t, 30*time.Second, "the new tag on the destination", func() (bool, string) {
		got, err := plain("digest", dist.addr+"/library/evt:v9")
		return err == nil && strings.TrimSpace(got) == d, got
	})
	v9, err := a.DB.Tag.Query().Where(enttag.Name("v9"), enttag.HasRepositoryWith(entrepository.Name("library/evt"))).Only(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	a.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { deleteTag(id: $id) }`, map[string]any{"id": v9.ID}, nil)
	waitReplication(t, 30*time.Second, "the tag deleted on the destination", func() (bool, string) {
		_, err := plain("digest", dist.addr+"/library/evt:v9")
		return err != nil, "still there"
	})
	if got, err := plain("digest", dist.addr+"/library/evt:v1"); err != nil || strings.TrimSpace(got) != d {
		t.Fatalf("after the tag delete, v1 on the destination = %q %v, want %s kept", got, err, d)
	}
	tagDeleted, err := a.DB.Event.Query().Where(entevent.Type("TAG_DELETED"), entevent.Repository("library/evt"), entevent.Tag("v9")).Only(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	waitReplication(t, 30*time.Second, "one execution for the tag delete", func() (bool, string) {
		n, err := a.DB.ReplicationExecution.Query().Where(replicationexecution.EventID(int64(tagDeleted.ID))).Count(t.Context())
		return err == nil && n == 1, fmt.Sprint(n, err)
	})

	// Artifact delete propagation.
	if out, err := crane("delete", a.Host+"/library/evt@"+d); err != nil {
		t.Fatalf("delete: %v %s", err, out)
	}
	waitReplication(t, 30*time.Second, "the delete on the destination", func() (bool, string) {
		_, err := plain("manifest", dist.addr+"/library/evt@"+d)
		return err != nil, "still there"
	})
	waitReplication(t, 30*time.Second, "the deletion tasks to be recorded", func() (bool, string) {
		dels, err := a.DB.ReplicationTask.Query().Where(replicationtask.OperationEQ(replicationtask.OperationDeletion)).All(t.Context())
		done := err == nil && len(dels) > 0
		for _, del := range dels {
			done = done && del.Status == replicationtask.StatusSuccess
		}
		return done, fmt.Sprintf("%v %v", dels, err)
	})
}

// slowPolicy pushes images images of 64 KiB named library/<prefix><n>:v1 to env and makes a policy
// that copies them to dist at speedKB KB/s, so that an execution lasts long enough to be watched,
// stopped or broken; it returns the policy's id.
func slowPolicy(t *testing.T, env *servertest.Env, dist *distribution, prefix string, images, speedKB int) int {
	t.Helper()
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	for i := range images {
		pushImage(t, crane, fmt.Sprintf("%s/library/%s%d:v1", env.Host, prefix, i), 64<<10)
	}
	reg := mustCreate(t, env, "/registries", map[string]any{"name": "dist", "type": "docker-registry", "url": dist.URL})
	return mustCreate(t, env, "/replication/policies", map[string]any{
		"name": prefix, "dest_registry": map[string]any{"id": reg}, "speed": speedKB,
		"filters": []map[string]any{{"type": "name", "value": "library/**"}},
	})
}

// waitFirstTask waits until one task of env's executions has succeeded.
func waitFirstTask(t *testing.T, env *servertest.Env) {
	t.Helper()
	waitReplication(t, 60*time.Second, "a first task to succeed", func() (bool, string) {
		n, _ := env.DB.ReplicationTask.Query().Where(replicationtask.StatusEQ(replicationtask.StatusSuccess)).Count(t.Context())
		return n > 0, fmt.Sprintf("%d succeeded", n)
	})
}

// A remote that dies mid-execution fails the tasks not yet done, cleanly; a retry of the
// execution, once the remote is back, copies them and only them.
func TestReplicationRemoteDiesThenRetry(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	env := servertest.Start(t)
	const images = 8
	// 64 KB/s: each image takes about a second, so the remote dies with tasks left.
	policy := slowPolicy(t, env, dist, "img", images, 64)
	id := mustCreate(t, env, "/replication/executions", map[string]any{"policy_id": policy})
	waitFirstTask(t, env)
	dist.kill()
	e := waitExecution(t, env, id)
	if e.Status != "Failed" || e.Failed == 0 || e.Succeed+e.Failed != images || e.InProgress != 0 {
		t.Fatalf("execution after the remote died = %+v, want failed tasks and none left running", e)
	}
	for _, task := range tasksOf(t, env, id) {
		if task.Status == "Failed" && task.Message == "" {
			t.Fatalf("a failed task without a reason: %+v", task)
		}
	}
	dist.start()
	if status, _, body := harborAPI(t, env, http.MethodPost, fmt.Sprintf("/replication/executions/%d/retry", id), nil); status != http.StatusOK {
		t.Fatalf("retry: %d %s", status, body)
	}
	e = waitExecution(t, env, id)
	if e.Status != "Succeed" || e.Succeed != images || e.Failed != 0 {
		t.Fatalf("execution after the retry = %+v, tasks %+v", e, tasksOf(t, env, id))
	}
	plain := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	for i := range images {
		want, _ := crane("digest", fmt.Sprintf("%s/library/img%d:v1", env.Host, i))
		got, err := plain("digest", fmt.Sprintf("%s/library/img%d:v1", dist.addr, i))
		if err != nil || got != want {
			t.Fatalf("img%d on the destination = %q %v, want %q", i, got, err, want)
		}
	}
}

// GraphQL offers the same endpoints, policies and executions, to system admins only.
func TestReplicationGraphQL(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	env := servertest.Start(t)
	env.CreateUser("dev", "Dev-password-1")
	var created struct {
		CreateRegistryEndpoint struct {
			ID        int  `json:"id,string"`
			HasSecret bool `json:"hasSecret"`
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($in: RegistryEndpointInput!) { createRegistryEndpoint(input: $in) { id hasSecret } }`,
		map[string]any{"in": map[string]any{"name": "dist", "type": "docker-registry", "url": dist.URL, "credentialType": "basic", "accessKey": "u", "accessSecret": "s3cret"}}, &created)
	if !created.CreateRegistryEndpoint.HasSecret {
		t.Fatal("hasSecret false after a secret was given")
	}
	var tested struct {
		TestRegistryEndpoint struct {
			Ok      bool
			Message string
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($in: RegistryEndpointInput) { testRegistryEndpoint(input: $in) { ok message } }`,
		map[string]any{"in": map[string]any{"name": "x", "type": "docker-registry", "url": "http://no-such-host.invalid"}}, &tested)
	if tested.TestRegistryEndpoint.Ok || !strings.Contains(tested.TestRegistryEndpoint.Message, "DNS") {
		t.Fatalf("test of an unknown host = %+v", tested)
	}
	if r := env.GraphQL("dev", "Dev-password-1", `{ registryEndpoints { total } }`, nil); r.Code() != "FORBIDDEN" {
		t.Fatalf("a user lists registry endpoints: %+v", r.Errors)
	}
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	pushImage(t, crane, env.Host+"/library/g:v1", 1024)
	var policy struct {
		CreateReplicationPolicy struct {
			ID int `json:"id,string"`
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($in: ReplicationPolicyInput!) { createReplicationPolicy(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": "g", "direction": "PUSH", "registryID": created.CreateRegistryEndpoint.ID,
			"filter": map[string]any{"repository": "library/*"}}}, &policy)
	if r := env.GraphQL("admin", servertest.AdminPassword, `mutation($in: ReplicationPolicyInput!) { createReplicationPolicy(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": "bad", "direction": "PULL", "registryID": created.CreateRegistryEndpoint.ID,
			"trigger": "EVENT_BASED"}}); r.Code() != "BAD_USER_INPUT" && r.Code() != "BAD_INPUT" {
		t.Fatalf("an event-based pull policy: %+v, want a bad-input error", r.Errors)
	}
	var started struct {
		StartReplication struct {
			ID int `json:"id,string"`
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { startReplication(policyID: $id) { id } }`,
		map[string]any{"id": policy.CreateReplicationPolicy.ID}, &started)
	e := waitExecution(t, env, started.StartReplication.ID)
	if e.Status != "Succeed" {
		t.Fatalf("execution = %+v", e)
	}
	var got struct {
		ReplicationPolicies struct {
			Total int
			Items []struct {
				Registry      struct{ Name string }
				LastExecution struct {
					Status    string
					Succeeded int
					Tasks     struct {
						Items []struct{ Status, DstResource string }
					}
				}
			}
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `{ replicationPolicies { total items { registry { name }
		lastExecution { status succeeded tasks { items { status dstResource } } } } } }`, nil, &got)
	p := got.ReplicationPolicies
	if p.Total != 1 || p.Items[0].Registry.Name != "dist" || p.Items[0].LastExecution.Status != "SUCCESS" ||
		len(p.Items[0].LastExecution.Tasks.Items) != 1 || p.Items[0].LastExecution.Tasks.Items[0].DstResource != "library/g:v1" {
		t.Fatalf("policies = %+v", got)
	}
}

// replicationProgress follows an execution while it runs; stopping it ends it STOPPED with the
// tasks not done recorded as stopped, and the subscription says so and completes.
func TestReplicationProgressAndStop(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	env := servertest.Start(t)
	const images = 12
	// 16 KB/s: the execution runs long enough to be watched and stopped.
	policy := slowPolicy(t, env, dist, "slow", images, 16)
	id := mustCreate(t, env, "/replication/executions", map[string]any{"policy_id": policy})
	ws := dialGraphQLWS(t, env, "admin", servertest.AdminPassword)
	ws.subscribe(env, "1", `subscription($id: ID!) { replicationProgress(id: $id) { status total succeeded stopped } }`, map[string]any{"id": strconv.Itoa(id)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got []string
	stopped := false
	for {
		m := ws.next(ctx)
		if m["id"] != "1" {
			continue
		}
		if m["type"] == "complete" {
			break
		}
		b, _ := json.Marshal(m["payload"])
		got = append(got, string(b))
		if !stopped && strings.Contains(string(b), `"status":"RUNNING"`) && strings.Contains(string(b), fmt.Sprintf(`"total":%d`, images)) {
			stopped = true
			if status, _, body := harborAPI(t, env, http.MethodPut, fmt.Sprintf("/replication/executions/%d", id), nil); status != http.StatusOK {
				t.Fatalf("stop: %d %s", status, body)
			}
		}
	}
	if !stopped || !strings.Contains(got[len(got)-1], `"status":"STOPPED"`) {
		t.Fatalf("replicationProgress sent %v, want RUNNING with all tasks listed, then STOPPED", got)
	}
	e := waitExecution(t, env, id)
	if e.Status != "Stopped" || e.Stopped == 0 || e.InProgress != 0 {
		t.Fatalf("stopped execution = %+v", e)
	}
}

// A registry endpoint on an inside address is refused when saved or tested unless allowed, as a
// webhook's is; the refusal names the address and the setting.
func TestRegistryEndpointRefusedInside(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.OutboundAllowCIDRs = "" })
	for _, path := range []string{"/registries", "/registries/ping"} {
		status, _, body := harborAPI(t, env, http.MethodPost, path, map[string]any{"name": "inside", "type": "docker-registry", "url": "http://127.0.0.1:5000"})
		if status != http.StatusBadRequest || !strings.Contains(string(body), "loopback") || !strings.Contains(string(body), "BERTH_OUTBOUND_ALLOW_CIDRS") {
			t.Errorf("POST %s to a loopback registry: %d %s", path, status, body)
		}
	}
	if n, err := env.DB.RegistryEndpoint.Query().Count(t.Context()); err != nil || n != 0 {
		t.Fatalf("endpoints saved: %d %v", n, err)
	}
}

// A worker killed mid-execution (SIGKILL) loses its lease; the next worker retries the job,
// which resumes the tasks not done, and the execution ends with every image copied.
func TestReplicationSurvivesKilledWorker(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	env := servertest.Start(t, func(c *server.Config) {
		c.RunJobs = false // executions run in helper worker processes only
		c.JobLease = helperLease
	})
	const images = 8
	policy := slowPolicy(t, env, dist, "crash", images, 32)
	first := startHelperWorker(t, env, -1)
	id := mustCreate(t, env, "/replication/executions", map[string]any{"policy_id": policy})
	waitFirstTask(t, env)
	first.kill(t)
	startHelperWorker(t, env, -1)
	e := waitExecution(t, env, id)
	if e.Status != "Succeed" || e.Succeed != images || e.Failed != 0 {
		t.Fatalf("execution after the worker was killed = %+v, tasks %+v", e, tasksOf(t, env, id))
	}
	stored, err := env.DB.ReplicationExecution.Get(t.Context(), id)
	if err != nil || !strings.Contains(stored.Log, "attempt 2") {
		t.Fatalf("execution log does not show the resumed attempt: %q %v", stored.Log, err)
	}
}

// A scheduled policy runs when its cron expression comes due, once however often the scheduler
// looks.
func TestReplicationSchedule(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	d := pushImage(t, crane, env.Host+"/library/cron:v1", 1024)
	reg := mustCreate(t, env, "/registries", map[string]any{"name": "dist", "type": "docker-registry", "url": dist.URL})
	policy := mustCreate(t, env, "/replication/policies", map[string]any{"name": "nightly", "dest_registry": map[string]any{"id": reg},
		"trigger": map[string]any{"type": "scheduled", "trigger_settings": map[string]any{"cron": "* * * * *"}}})
	if status, _, body := harborAPI(t, env, http.MethodPost, "/replication/policies", map[string]any{"name": "bad-cron",
		"dest_registry": map[string]any{"id": reg}, "trigger": map[string]any{"type": "scheduled", "trigger_settings": map[string]any{"cron": "sometimes"}}}); status != http.StatusBadRequest || !strings.Contains(string(body), "cron") {
		t.Fatalf("a bad cron expression: %d %s", status, body)
	}
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, env.DatabaseURL+"&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The policy was saved two minutes ago: a minute-by-minute schedule is due.
	if _, err := pool.Exec(ctx, `UPDATE replication_policies SET updated_at = now() - interval '2 minutes' WHERE id = $1`, policy); err != nil {
		t.Fatal(err)
	}
	scheduler := rivertest.NewWorker(t, riverpgxv5.New(pool), &river.Config{}, replication.NewScheduler(pool))
	for range 2 { // the second look finds the turn taken
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := scheduler.Work(ctx, t, tx, replication.SchedulerArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		_ = tx.Rollback(ctx)
	}
	var list []restExecution
	waitReplication(t, 30*time.Second, "the scheduled execution to end", func() (bool, string) {
		_, _, body := harborAPI(t, env, http.MethodGet, fmt.Sprintf("/replication/executions?policy_id=%d", policy), nil)
		list = nil
		err := json.Unmarshal(body, &list)
		return err == nil && len(list) > 0 && list[0].Status == "Succeed", string(body)
	})
	if len(list) != 1 {
		t.Fatalf("scheduled executions = %d, want 1", len(list))
	}
	if got, err := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")("digest", dist.addr+"/library/cron:v1"); err != nil || strings.TrimSpace(got) != d {
		t.Fatalf("library/cron:v1 on the destination = %q %v", got, err)
	}
}

// copy_by_chunk: a blob larger than the chunk size goes to Distribution's registry in several
// PATCH requests, and lands whole.
func TestReplicationCopyByChunk(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	counter, url := newCountingProxy(t, dist.URL)
	env := servertest.Start(t)
	layer, err := random.Layer(replication.ChunkSize+replication.ChunkSize/4, types.OCIUncompressedLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(env.Host+"/library/big:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword})); err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	reg := mustCreate(t, env, "/registries", map[string]any{"name": "dist", "type": "docker-registry", "url": url})
	policy := mustCreate(t, env, "/replication/policies", map[string]any{"name": "chunks", "dest_registry": map[string]any{"id": reg},
		"copy_by_chunk": true, "filters": []map[string]any{{"type": "name", "value": "library/big"}}})
	if e := runPolicy(t, env, policy); e.Status != "Succeed" || e.Succeed != 1 {
		t.Fatalf("execution = %+v", e)
	}
	plain := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")
	if got, err := plain("digest", dist.addr+"/library/big:v1"); err != nil || strings.TrimSpace(got) != want.String() {
		t.Fatalf("on the destination: %q %v, want %s", got, err, want)
	}
	if out, err := plain("pull", dist.addr+"/library/big:v1", t.TempDir()+"/big.tar"); err != nil {
		t.Fatalf("pull from the destination: %v %s", err, out)
	}
	patches := 0
	counter.mu.Lock()
	for k, n := range counter.seen {
		if strings.HasPrefix(k, "PATCH /v2/library/big/blobs/uploads/") {
			patches += n
		}
	}
	counter.mu.Unlock()
	if patches < 2 {
		t.Fatalf("%d PATCH requests for a blob of 1.25 chunks, want at least 2", patches)
	}
}
