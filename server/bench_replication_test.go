package server_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/replication"
)

// TestBenchReplication is `make bench-replication`: N small images (default 200, each a shared
// 1 MiB base layer and its own 16 KiB layer) push-replicated by Berth to one Distribution registry,
// against `crane copy` of the same set to another, one image after the other and with as many at
// once as Berth's task workers, in the same run. It prints the times, the ratios and the bytes
// Berth sent; it asserts nothing about speed. BERTH_BENCH_REPLICATION_IMAGES sets N.
func TestBenchReplication(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "replication" {
		t.Skip("a benchmark: run `make bench-replication`")
	}
	n := 200
	if v := os.Getenv("BERTH_BENCH_REPLICATION_IMAGES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	env := servertest.Start(t)
	craneBin := servertest.Tool(t, "crane")
	forBerth, forCrane, forCraneParallel := newDistribution(t), newDistribution(t), newDistribution(t)

	// The set: one base layer shared by every image, and a layer of its own each.
	base, err := random.Layer(1<<20, "application/vnd.oci.image.layer.v1.tar")
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword})
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var pushErr error
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			own, err := random.Layer(16<<10, "application/vnd.oci.image.layer.v1.tar")
			var img v1.Image
			if err == nil {
				img, err = mutate.AppendLayers(empty.Image, base, own)
			}
			var ref name.Reference
			if err == nil {
				ref, err = name.ParseReference(fmt.Sprintf("%s/library/bench-%03d:v1", env.Host, i), name.Insecure)
			}
			if err == nil {
				err = remote.Write(ref, img, auth)
			}
			if err != nil {
				mu.Lock()
				pushErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if pushErr != nil {
		t.Fatal(pushErr)
	}

	// Berth: one execution, from the start request to its end.
	reg := mustCreate(t, env, "/registries", map[string]any{"name": "bench", "type": "docker-registry", "url": forBerth.URL})
	policy := mustCreate(t, env, "/replication/policies", map[string]any{"name": "bench", "dest_registry": map[string]any{"id": reg},
		"filters": []map[string]any{{"type": "name", "value": "library/bench-*"}}})
	start := time.Now()
	e := runPolicy(t, env, policy)
	berth := time.Since(start)
	if e.Status != "Succeed" || e.Succeed != n {
		t.Fatalf("execution = %+v", e)
	}

	// crane copy of the same set: one after the other, then TaskWorkers at once.
	vars := []string{"DOCKER_CONFIG=" + t.TempDir()}
	servertest.Run(t, vars, craneBin, "auth", "login", env.Host, "-u", "admin", "-p", servertest.AdminPassword, "--insecure")
	copyAll := func(dst string, parallel int) time.Duration {
		start := time.Now()
		sem := make(chan struct{}, parallel)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				src := fmt.Sprintf("%s/library/bench-%03d:v1", env.Host, i)
				if out, err := servertest.RunErr(vars, craneBin, "copy", src, fmt.Sprintf("%s/library/bench-%03d:v1", dst, i), "--insecure"); err != nil {
					t.Errorf("crane copy %s: %v %s", src, err, out)
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	serial := copyAll(forCrane.addr, 1)
	parallel := copyAll(forCraneParallel.addr, replication.TaskWorkers)
	resp, err := http.Get(forBerth.URL + "/v2/library/bench-000/manifests/v1")
	if err == nil {
		resp.Body.Close()
	}
	t.Logf("%d images (1 MiB shared base + 16 KiB own each), push replication to Distribution on loopback:", n)
	t.Logf("  berth replication:          %8s  (%d tasks, %d bytes sent)", berth.Round(time.Millisecond), e.Total, e.Bytes)
	t.Logf("  crane copy, one at a time:  %8s  berth/crane = %.2f", serial.Round(time.Millisecond), berth.Seconds()/serial.Seconds())
	t.Logf("  crane copy, %d at a time:    %8s  berth/crane = %.2f", replication.TaskWorkers, parallel.Round(time.Millisecond), berth.Seconds()/parallel.Seconds())
}
