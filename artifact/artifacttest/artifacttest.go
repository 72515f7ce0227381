// Package artifacttest builds the artifact service over a real embedded registry for the tests of
// the services built on it, and pushes small images into it the way a client does.
package artifacttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/berth-registry/berth/artifact"
	"github.com/berth-registry/berth/ent"
	entartifact "github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/project/projecttest"
	"github.com/berth-registry/berth/registry"
)

// Env is the artifact service, the registry under it, and the project Env under both.
type Env struct {
	*projecttest.Env
	Registry  *registry.Registry
	Artifacts *artifact.Service
	url       string // where the registry serves /v2/
}

// Setup builds an Env on a fresh database and a registry storing under a temporary directory.
func Setup(t testing.TB) *Env {
	t.Helper()
	env := projecttest.Setup(t)
	reg, err := registry.New(context.Background(), registry.Config{DataDir: t.TempDir()}, env.DB, env.Auth,
		registry.NewIndexer(env.DB, env.Dispatcher, env.Log), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return &Env{Env: env, Registry: reg, Artifacts: artifact.New(env.DB, env.Projects, reg, env.Publisher), url: srv.URL}
}

// Push pushes a one-layer image to repo:tag as the admin, through /v2/ as a client does, and
// returns the artifact the registry indexed. Each content makes a different image.
func (e *Env) Push(t testing.TB, repo, tag, content string) *ent.Artifact {
	t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := []byte(content)
	e.blob(t, repo, config)
	e.blob(t, repo, layer)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digestOf(config), "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digestOf(layer), "size": len(layer)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.send(t, http.MethodPut, e.url+"/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", manifest, http.StatusCreated)
	a, err := e.DB.Artifact.Query().Where(entartifact.Digest(digestOf(manifest))).Only(context.Background())
	if err != nil {
		t.Fatalf("artifact pushed to %s:%s is not indexed: %v", repo, tag, err)
	}
	return a
}

// blob uploads b to repo (a POST, then one PUT).
func (e *Env) blob(t testing.TB, repo string, b []byte) {
	t.Helper()
	resp := e.send(t, http.MethodPost, e.url+"/v2/"+repo+"/blobs/uploads/", "", nil, http.StatusAccepted)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	loc = (&url.URL{Scheme: "http", Host: e.url[len("http://"):]}).ResolveReference(loc)
	q := loc.Query()
	q.Set("digest", digestOf(b))
	loc.RawQuery = q.Encode()
	e.send(t, http.MethodPut, loc.String(), "application/octet-stream", b, http.StatusCreated)
}

func (e *Env) send(t testing.TB, method, target, contentType string, body []byte, want int) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", projecttest.Password)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var msg bytes.Buffer
	_, _ = msg.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s; want %d", method, target, resp.StatusCode, msg.String(), want)
	}
	return resp
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("sha256:%s", hex.EncodeToString(sum[:]))
}
