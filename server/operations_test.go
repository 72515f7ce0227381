package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	for _, c := range []struct{ path, want string }{
		{"/healthz", "ok\n"},
		{"/readyz", "ready\n"},
	} {
		a := send(t, http.MethodGet, env.URL+c.path, "", "", nil, nil)
		if a.status != http.StatusOK || string(a.body) != c.want {
			t.Fatalf("GET %s = %d %q, want 200 %q", c.path, a.status, a.body, c.want)
		}
	}

	// A registry request and a GraphQL one, then both show in the request histogram.
	if a := send(t, http.MethodGet, env.URL+"/v2/", "admin", servertest.AdminPassword, nil, nil); a.status != http.StatusOK {
		t.Fatalf("/v2/: %d %s", a.status, a.body)
	}
	env.MustGraphQL("", "", `{ me { kind } }`, nil, nil)
	a := send(t, http.MethodGet, env.URL+"/metrics", "", "", nil, nil)
	if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d (%s)", a.status, a.header.Get("Content-Type"))
	}
	for _, series := range []string{
		`# TYPE berth_http_request_duration_seconds histogram`,
		`berth_http_request_duration_seconds_count{api="v2",code="OK",method="GET"}`,
		`berth_http_request_duration_seconds_count{api="graphql",code="OK",method="POST"}`,
		`berth_http_request_duration_seconds_bucket{api="v2",code="OK",method="GET",le="+Inf"}`,
	} {
		if !strings.Contains(string(a.body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

// Not parallel: it sets environment variables for the whole process.
func TestDistributionEnvironmentDoesNotConfigureTheRegistry(t *testing.T) {
	elsewhere := t.TempDir()
	// Each of these would move blobs away from the data directory if Distribution read its
	// environment as its own binary does.
	t.Setenv("REGISTRY_STORAGE", "inmemory")
	t.Setenv("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", elsewhere)
	t.Setenv("REGISTRY_STORAGE_DELETE_ENABLED", "false")

	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	ref := env.Host + "/library/envtest:v1"
	if out, err := crane("append", "-f", layerTar(t, "env.txt", "where do I land?"), "-t", ref); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	raw, err := crane("manifest", ref)
	if err != nil {
		t.Fatalf("manifest: %v %s", err, raw)
	}
	var m struct {
		Config struct{ Digest string }   `json:"config"`
		Layers []struct{ Digest string } `json:"layers"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest %s: %v", raw, err)
	}
	manifestSum := sha256.Sum256([]byte(raw))
	blobsDir := filepath.Join(env.DataDir, "registry", "docker", "registry", "v2", "blobs")
	for _, d := range []string{m.Config.Digest, m.Layers[0].Digest, "sha256:" + hex.EncodeToString(manifestSum[:])} {
		hexPart, ok := strings.CutPrefix(d, "sha256:")
		if !ok {
			t.Fatalf("digest %q is not sha256", d)
		}
		data, err := os.ReadFile(filepath.Join(blobsDir, "sha256", hexPart[:2], hexPart, "data"))
		if err != nil {
			t.Fatalf("blob %s is not in the data directory: %v", d, err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hexPart {
			t.Fatalf("blob %s on disk has digest %x", d, sum)
		}
	}
	var stray []string
	_ = filepath.WalkDir(elsewhere, func(p string, d fs.DirEntry, err error) error {
		if p != elsewhere {
			stray = append(stray, p)
		}
		return err
	})
	if len(stray) > 0 {
		t.Fatalf("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY was used: %v", stray)
	}
	// Deletes stay enabled whatever REGISTRY_STORAGE_DELETE_ENABLED says.
	digest, err := crane("digest", ref)
	if err != nil {
		t.Fatalf("digest: %v %s", err, digest)
	}
	if out, err := crane("delete", env.Host+"/library/envtest@"+strings.TrimSpace(digest)); err != nil {
		t.Fatalf("delete (storage deletes must stay enabled): %v\n%s", err, out)
	}
}

// TestGracefulShutdownFinishesInFlightRequests cancels a server while a blob upload is still
// sending its body: the server stops accepting connections, lets the upload finish with 202, and
// only then returns from Serve, with no error.
func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	cfg := server.Defaults()
	cfg.DatabaseURL = servertest.NewDatabase(t)
	cfg.DataDir = t.TempDir()
	cfg.AdminPassword = servertest.AdminPassword
	cfg.LogLevel = "warn"
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		t.Fatalf("start berth: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	a := send(t, http.MethodPost, base+"/v2/library/slow/blobs/uploads/", "admin", servertest.AdminPassword, nil, nil)
	location := a.header.Get("Location")
	if a.status != http.StatusAccepted || location == "" {
		t.Fatalf("start upload: %d %s", a.status, a.body)
	}

	body, feed := io.Pipe()
	req, _ := http.NewRequest(http.MethodPatch, base+location, body)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	req.Header.Set("Content-Type", "application/octet-stream")
	type result struct {
		resp *http.Response
		err  error
	}
	patched := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		patched <- result{resp, err}
	}()

	chunk := strings.Repeat("berth", 20_000) // 100 kB
	const chunks = 5
	if _, err := io.WriteString(feed, chunk); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // let the server start handling the request

	cancel()
	// Shutdown has begun once the listener refuses new connections.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections 10s after cancellation")
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) while a request was still in flight", err)
	case <-time.After(300 * time.Millisecond):
	}

	for i := 1; i < chunks; i++ {
		if _, err := io.WriteString(feed, chunk); err != nil {
			t.Fatalf("chunk %d after shutdown began: %v", i, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	feed.Close()

	var r result
	select {
	case r = <-patched:
	case <-time.After(30 * time.Second):
		t.Fatal("the in-flight upload did not finish")
	}
	if r.err != nil {
		t.Fatalf("in-flight upload: %v", r.err)
	}
	r.resp.Body.Close()
	total := len(chunk) * chunks
	if r.resp.StatusCode != http.StatusAccepted || r.resp.Header.Get("Range") != fmt.Sprintf("0-%d", total-1) {
		t.Fatalf("in-flight upload: %d, Range %q; want 202 and Range 0-%d", r.resp.StatusCode, r.resp.Header.Get("Range"), total-1)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after graceful shutdown: %v, want nil", err)
		}
	case <-time.After(35 * time.Second):
		t.Fatal("Serve did not return after the last request finished")
	}
	// Every byte sent reached storage.
	uploads, _ := filepath.Glob(filepath.Join(cfg.DataDir, "registry", "docker", "registry", "v2", "repositories", "library", "slow", "_uploads", "*", "data"))
	if len(uploads) != 1 {
		t.Fatalf("upload data files: %v, want one", uploads)
	}
	if st, err := os.Stat(uploads[0]); err != nil || st.Size() != int64(total) {
		t.Fatalf("upload data on disk: %v, %v; want %d bytes", st, err, total)
	}
	if resp, err := http.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("after Serve returned, /healthz still answers %d", resp.StatusCode)
	}
}

// testLog sends server logs to the test log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
