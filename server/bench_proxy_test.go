package server_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/server/servertest"
)

// benchMiB reads a size in MiB from the environment variable key, or def.
func benchMiB(key string, def int) int64 {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil && v > 0 {
		def = v
	}
	return int64(def) << 20
}

// fileLayer is an uncompressed layer whose bytes are a file, so a large image needs no memory.
type fileLayer struct {
	path string
	dgst v1.Hash
	size int64
}

// newFileLayer writes size random bytes to a file in dir and returns them as a layer.
func newFileLayer(t *testing.T, dir string, size int64) *fileLayer {
	t.Helper()
	path := filepath.Join(dir, "layer.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return &fileLayer{path: path, dgst: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}, size: size}
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.dgst, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.dgst, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return types.OCIUncompressedLayer, nil }

// TestBenchReplicationLarge is part of `make bench-replication`: one image with a single layer of
// BERTH_BENCH_LARGE_MIB (default 1024) random bytes, push-replicated by Berth to Distribution's
// registry, against `crane copy` of it to another, in the same run.
func TestBenchReplicationLarge(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "replication" {
		t.Skip("a benchmark: run `make bench-replication`")
	}
	size := benchMiB("BERTH_BENCH_LARGE_MIB", 1024)
	env := servertest.Start(t)
	craneBin := servertest.Tool(t, "crane")
	forBerth, forCrane := newDistribution(t), newDistribution(t)
	layer := newFileLayer(t, t.TempDir(), size)
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(env.Host+"/library/large:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword})); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(layer.path)

	reg := mustCreate(t, env, "/registries", map[string]any{"name": "bench", "type": "docker-registry", "url": forBerth.URL})
	policy := mustCreate(t, env, "/replication/policies", map[string]any{"name": "large", "dest_registry": map[string]any{"id": reg},
		"filters": []map[string]any{{"type": "name", "value": "library/large"}}})
	start := time.Now()
	id := mustCreate(t, env, "/replication/executions", map[string]any{"policy_id": policy})
	var e restExecution
	waitReplication(t, 20*time.Minute, "the large execution to end", func() (bool, string) {
		_, _, out := harborAPI(t, env, http.MethodGet, fmt.Sprintf("/replication/executions/%d", id), nil)
		e = restExecution{}
		_ = json.Unmarshal(out, &e)
		return e.Status != "Pending" && e.Status != "InProgress" && e.Status != "", string(out)
	})
	berth := time.Since(start)
	if e.Status != "Succeed" {
		t.Fatalf("execution = %+v", e)
	}

	vars := []string{"DOCKER_CONFIG=" + t.TempDir()}
	servertest.Run(t, vars, craneBin, "auth", "login", env.Host, "-u", "admin", "-p", servertest.AdminPassword, "--insecure")
	start = time.Now()
	if out, err := servertest.RunErr(vars, craneBin, "copy", env.Host+"/library/large:v1", forCrane.addr+"/library/large:v1", "--insecure"); err != nil {
		t.Fatalf("crane copy: %v %s", err, out)
	}
	crane := time.Since(start)
	t.Logf("one image of %d MiB, push replication to Distribution on loopback:", size>>20)
	t.Logf("  berth replication:  %8s  (%d bytes sent)", berth.Round(time.Millisecond), e.Bytes)
	t.Logf("  crane copy:         %8s  berth/crane = %.2f", crane.Round(time.Millisecond), berth.Seconds()/crane.Seconds())
}

// pullAll pulls ref's manifest, config and layers (4 at a time, as crane does), reading every
// byte, and returns how long it took.
func pullAll(ref string, opts ...remote.Option) (time.Duration, error) {
	start := time.Now()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return 0, err
	}
	img, err := remote.Image(r, opts...)
	if err != nil {
		return 0, err
	}
	if _, err := img.RawConfigFile(); err != nil {
		return 0, err
	}
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	errs := make(chan error, len(layers))
	sem := make(chan struct{}, 4)
	for _, l := range layers {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			rc, err := l.Compressed()
			if err == nil {
				_, err = io.Copy(io.Discard, rc) // go-containerregistry checks the digest at the end
				rc.Close()
			}
			errs <- err
		}()
	}
	for range layers {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// TestBenchProxyCache is part of `make bench-replication`: an image of BERTH_BENCH_PROXY_MIB
// (default 256) in 4 layers on Distribution's registry, pulled (every byte read, 4 layers at a
// time) directly from it against cold through a Berth proxy-cache project (each round a new
// project: nothing cached), and warm through Berth against a local Berth project holding the same
// image, 3 rounds each; then 100 concurrent cold pulls of one image through a fresh project,
// counting at the upstream how often each blob was fetched (must be once).
func TestBenchProxyCache(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "replication" {
		t.Skip("a benchmark: run `make bench-replication`")
	}
	size := benchMiB("BERTH_BENCH_PROXY_MIB", 256)
	dist := newDistribution(t)
	counter, upstream := newCountingProxy(t, dist.URL)
	env := servertest.Start(t)
	dir := t.TempDir()
	var layers []v1.Layer
	for i := range 4 {
		sub := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		layers = append(layers, newFileLayer(t, sub, size/4))
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword})
	for _, target := range []struct {
		ref  string
		opts []remote.Option
	}{{dist.addr + "/library/app:v1", nil}, {env.Host + "/library/app:v1", []remote.Option{admin}}} {
		ref, err := name.ParseReference(target.ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, target.opts...); err != nil {
			t.Fatal(err)
		}
	}
	// The rounds reach upstream as the direct pulls do; the herd through the counting proxy.
	reg := mustCreate(t, env, "/registries", map[string]any{"name": "up", "type": "docker-registry", "url": dist.URL})
	counted := mustCreate(t, env, "/registries", map[string]any{"name": "counted", "type": "docker-registry", "url": upstream})

	var direct, cold, warm, local []time.Duration
	for round := range 3 {
		project := fmt.Sprintf("cold%d", round)
		createProxyProject(t, env, project, reg, "library", 300)
		for _, p := range []struct {
			into *[]time.Duration
			ref  string
		}{
			{&direct, dist.addr + "/library/app:v1"},
			{&cold, env.Host + "/" + project + "/app:v1"},
			{&warm, env.Host + "/" + project + "/app:v1"},
			{&local, env.Host + "/library/app:v1"},
		} {
			d, err := pullAll(p.ref, admin)
			if err != nil {
				t.Fatalf("pull %s: %v", p.ref, err)
			}
			*p.into = append(*p.into, d)
		}
	}

	// 100 concurrent cold pulls of one image.
	createProxyProject(t, env, "herd", counted, "library", 300)
	before := map[string]int{}
	manifest, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	blobs := blobDigests(t, string(manifest))
	for _, b := range blobs {
		before[b] = counter.count("GET /v2/library/app/blobs/" + b)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	start := time.Now()
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := pullAll(env.Host+"/herd/app:v1", admin); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	herd := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var fetches []string
	for _, b := range blobs {
		n := counter.count("GET /v2/library/app/blobs/"+b) - before[b]
		fetches = append(fetches, strconv.Itoa(n))
		if n != 1 {
			t.Errorf("blob %s was fetched upstream %d times by 100 concurrent cold pulls, want once", b, n)
		}
	}

	t.Logf("proxy cache, an image of %d MiB in 4 layers on Distribution on loopback (median of 3; every byte read, 4 layers at a time):", size>>20)
	t.Logf("  direct pull from upstream:  %8s  %v", median(direct).Round(time.Millisecond), direct)
	t.Logf("  cold pull through berth:    %8s  %v  cold/direct = %.2f", median(cold).Round(time.Millisecond), cold, median(cold).Seconds()/median(direct).Seconds())
	t.Logf("  warm pull through berth:    %8s  %v", median(warm).Round(time.Millisecond), warm)
	t.Logf("  pull of a local project:    %8s  %v  warm/local = %.2f", median(local).Round(time.Millisecond), local, median(warm).Seconds()/median(local).Seconds())
	t.Logf("  100 concurrent cold pulls:  %8s  upstream fetches per blob (config, layers): %s", herd.Round(time.Millisecond), strings.Join(fetches, " "))
}
