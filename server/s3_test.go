package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/s3"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// startOnS3 runs Berth with its registry storage in a SeaweedFS bucket, under a prefix of its own.
func startOnS3(t *testing.T, sw *servertest.Seaweed, modify ...func(*server.Config)) *servertest.Env {
	t.Helper()
	root := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	return servertest.Start(t, append([]func(*server.Config){func(c *server.Config) { c.Storage = sw.Storage(root) }}, modify...)...)
}

// objectsUnder counts the bucket's objects under prefix.
func objectsUnder(t *testing.T, sw *servertest.Seaweed, prefix string) int {
	t.Helper()
	n := 0
	err := sw.Client().ListObjectsV2PagesWithContext(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(sw.Bucket), Prefix: aws.String(prefix)},
		func(p *s3.ListObjectsV2Output, _ bool) bool { n += len(p.Contents); return true })
	if err != nil {
		t.Fatalf("list objects: %v", err)
	}
	return n
}

// On S3: crane pushes and pulls, the blobs are objects in the bucket (not files in the data
// directory), and the OCI conformance suite passes.
func TestS3PushPullAndConformance(t *testing.T) {
	t.Parallel()
	sw := servertest.StartSeaweed(t)
	env := startOnS3(t, sw)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	ref := env.Host + "/library/s3:v1"
	if out, err := crane("append", "-f", randomLayer(t, 256<<10), "-t", ref); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	if out, err := crane("pull", ref, filepath.Join(t.TempDir(), "img.tar")); err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	if n := objectsUnder(t, sw, "tests3pushpullandconformance/docker/registry/v2/blobs/"); n < 3 {
		t.Fatalf("%d blob objects in the bucket, want the layer, config and manifest", n)
	}
	if _, err := filepath.Glob(filepath.Join(env.DataDir, "registry")); err == nil {
		if m, _ := filepath.Glob(filepath.Join(env.DataDir, "registry", "*")); len(m) > 0 {
			t.Fatalf("blobs written to the data directory: %v", m)
		}
	}
	runConformance(t, servertest.Tool(t, "conformance"), env)
}

// On S3: a garbage collection with pushes racing it deletes the unreferenced blobs (as objects)
// and none of the racing pushes'; an upload purge removes a half-finished upload's objects.
func TestS3GCAndUploadPurge(t *testing.T) {
	t.Parallel()
	sw := servertest.StartSeaweed(t)
	const window = 3 * time.Second
	env := startOnS3(t, sw, func(c *server.Config) { c.GCWindow = window })
	g := &gcBundle{env: env, crane: setupCrane(t, env, "admin", servertest.AdminPassword)}
	doomed := make([]string, 5)
	for i := range doomed {
		doomed[i] = randomLayer(t, 4096)
	}
	g.push(t, "library/doomed:v1", doomed...)
	digest, err := g.crane("digest", env.Host+"/library/doomed:v1")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := g.crane("delete", env.Host+"/library/doomed@"+strings.TrimSpace(digest)); err != nil {
		t.Fatalf("delete: %v %s", err, out)
	}
	// The deleted image's blobs age out of the window; the racing pushes' blobs are within it.
	time.Sleep(window + 500*time.Millisecond)
	// Pushes race the collection.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var pushed []string
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ref := fmt.Sprintf("library/racer:v%d", i)
			if out, err := g.crane("append", "-f", randomLayer(t, 2048), "-t", env.Host+"/"+ref); err != nil {
				t.Errorf("racing push %s: %v %s", ref, err, out)
				return
			}
			mu.Lock()
			pushed = append(pushed, ref)
			mu.Unlock()
		}
	}()
	start := time.Now()
	run := g.gc(t, map[string]any{"workers": 4})
	gcTime := time.Since(start)
	close(stop)
	wg.Wait()
	if run.Status != "SUCCESS" || run.BlobsDeleted < 6 || run.Failures != 0 {
		t.Fatalf("gc on S3 = %+v, want success deleting the 5 layers, config and manifest", run)
	}
	t.Logf("gc on S3 deleted %d blobs in %s, %d pushes raced it", run.BlobsDeleted, gcTime, len(pushed))
	for _, ref := range pushed {
		if out, err := g.crane("pull", env.Host+"/"+ref, filepath.Join(t.TempDir(), "img.tar")); err != nil {
			t.Fatalf("pull %s pushed during gc: %v\n%s", ref, err, out)
		}
	}

	// A half-finished upload, then a purge of everything older than nothing.
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/v2/library/racer/blobs/uploads/", nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = env.URL + loc
	}
	patch, _ := http.NewRequest(http.MethodPatch, loc, strings.NewReader(strings.Repeat("x", 10000)))
	patch.SetBasicAuth("admin", servertest.AdminPassword)
	patch.Header.Set("Content-Type", "application/octet-stream")
	if resp, err := http.DefaultClient.Do(patch); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	prefix := "tests3gcanduploadpurge/docker/registry/v2/repositories/library/racer/_uploads/"
	if objectsUnder(t, sw, prefix) == 0 {
		t.Fatal("the upload left no objects to purge")
	}
	// The purge's least age is an hour: age the upload by rewriting its start date in the bucket.
	objs, err := sw.Client().ListObjectsV2WithContext(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(sw.Bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	aged := 0
	for _, o := range objs.Contents {
		if strings.HasSuffix(*o.Key, "/startedat") {
			_, err := sw.Client().PutObjectWithContext(t.Context(), &s3.PutObjectInput{Bucket: aws.String(sw.Bucket), Key: o.Key,
				Body: strings.NewReader(time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339))})
			if err != nil {
				t.Fatal(err)
			}
			aged++
		}
	}
	if aged != 1 {
		t.Fatalf("%d upload start dates found, want 1", aged)
	}
	var out struct{ PurgeUploads gcRunResult }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { purgeUploads(olderThanHours: 1) { id } }`, nil, &out)
	purged := g.wait(t, out.PurgeUploads.ID)
	if purged.Status != "SUCCESS" {
		t.Fatalf("purge = %+v", purged)
	}
	if purged.UploadsPurged < 1 || objectsUnder(t, sw, prefix) != 0 {
		t.Fatalf("purge on S3 = %+v, %d objects left under the upload", purged, objectsUnder(t, sw, prefix))
	}
}

// tokenFrom asks env's token service for a pull token on repo, as admin.
func tokenFrom(t *testing.T, env *servertest.Env, repo string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/service/token?service=berth&scope=repository:"+repo+":pull", nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("token from %s: %s", env.URL, resp.Status)
	}
	return out.Token
}

// pullWith GETs the manifest and every blob of ref's image through env with token; "" is success.
func pullWith(client *http.Client, env *servertest.Env, token, repo, manifestDigest string, blobs []string) string {
	get := func(path, accept string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, env.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := get("/v2/"+repo+"/manifests/"+manifestDigest, "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"); code != http.StatusOK {
		return fmt.Sprintf("manifest: %d %s", code, b)
	}
	for _, d := range blobs {
		if code, b := get("/v2/"+repo+"/blobs/"+d, ""); code != http.StatusOK {
			return fmt.Sprintf("blob %s: %d %.200s", d, code, b)
		}
	}
	return ""
}

// manifestBlobs are the digest of ref's manifest and of the blobs it names.
func manifestBlobs(t *testing.T, crane func(...string) (string, error), ref string) (string, []string) {
	t.Helper()
	dg, err := crane("digest", ref)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := crane("manifest", ref)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	blobs := []string{m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	return strings.TrimSpace(dg), blobs
}

// Two `berth serve` replicas and a `berth worker` on one database, bucket and Redis, each with a
// data directory of its own: a token one issues the other accepts, what one pushes the other
// serves, the worker's GC works on the same bucket, and signing keys rotated (on either replica)
// while pulls go on through both fail no pull.
func TestS3ReplicasShareSecretsAndRotate(t *testing.T) {
	t.Parallel()
	sw := servertest.StartSeaweed(t)
	rs := startRedisServer(t)
	refresh := 300 * time.Millisecond
	a := startOnS3(t, sw, func(c *server.Config) { c.RedisURL, c.RunJobs, c.KeyRefresh = rs.url, false, refresh })
	storage := a.Config.Storage
	b := servertest.Start(t, func(c *server.Config) {
		c.DatabaseURL, c.Storage, c.RedisURL, c.RunJobs, c.KeyRefresh = a.DatabaseURL, storage, rs.url, false, refresh
	})
	// The worker: its own data directory too.
	wcfg := a.Config
	wcfg.DataDir = t.TempDir()
	wctx, wcancel := context.WithCancel(context.Background())
	wdone := make(chan error, 1)
	wready := make(chan struct{})
	go func() {
		wdone <- server.RunWorker(wctx, wcfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func() { close(wready) })
	}()
	t.Cleanup(func() {
		wcancel()
		select {
		case err := <-wdone:
			if err != nil {
				t.Errorf("worker: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("worker did not stop within 40s")
		}
	})
	select {
	case <-wready:
	case err := <-wdone:
		t.Fatalf("worker did not start: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("worker did not start within 2 minutes")
	}

	craneA := setupCrane(t, a, "admin", servertest.AdminPassword)
	craneB := setupCrane(t, b, "admin", servertest.AdminPassword)
	if out, err := craneA("append", "-f", randomLayer(t, 64<<10), "-t", a.Host+"/library/shared:v1"); err != nil {
		t.Fatalf("push to a: %v\n%s", err, out)
	}
	if out, err := craneB("pull", b.Host+"/library/shared:v1", filepath.Join(t.TempDir(), "img.tar")); err != nil {
		t.Fatalf("pull from b what a pushed: %v\n%s", err, out)
	}
	dg, blobs := manifestBlobs(t, craneB, b.Host+"/library/shared:v1")
	client := &http.Client{Timeout: 30 * time.Second}
	if failed := pullWith(client, b, tokenFrom(t, a, "library/shared"), "library/shared", dg, blobs); failed != "" {
		t.Fatalf("a token from replica a on replica b: %s", failed)
	}
	if failed := pullWith(client, a, tokenFrom(t, b, "library/shared"), "library/shared", dg, blobs); failed != "" {
		t.Fatalf("a token from replica b on replica a: %s", failed)
	}

	// Pull traffic through both replicas with tokens from both, while keys rotate.
	envs := []*servertest.Env{a, b}
	var pulls, failures atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				issuer, server := envs[i%2], envs[(i/2)%2]
				req, _ := http.NewRequest(http.MethodGet, issuer.URL+"/service/token?service=berth&scope=repository:library/shared:pull", nil)
				req.SetBasicAuth("admin", servertest.AdminPassword)
				resp, err := client.Do(req)
				var tok struct{ Token string }
				if err == nil {
					_ = json.NewDecoder(resp.Body).Decode(&tok)
					resp.Body.Close()
				}
				failed := ""
				switch {
				case err != nil:
					failed = "token: " + err.Error()
				case resp.StatusCode != http.StatusOK:
					failed = "token: " + resp.Status
				default:
					failed = pullWith(client, server, tok.Token, "library/shared", dg, blobs)
				}
				pulls.Add(1)
				if failed != "" {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("token of %s on %s: %s", issuer.Host, server.Host, failed))
				}
			}
		}()
	}
	kids := map[string]bool{}
	for i := 0; i < 4; i++ {
		time.Sleep(700 * time.Millisecond)
		var out struct{ RotateSigningKey struct{ ID string } }
		envs[i%2].MustGraphQL("admin", servertest.AdminPassword, `mutation { rotateSigningKey { id } }`, nil, &out)
		kids[out.RotateSigningKey.ID] = true
	}
	time.Sleep(2 * refresh)
	close(stop)
	wg.Wait()
	if f := failures.Load(); f != 0 || pulls.Load() < 8 {
		t.Fatalf("%d of %d pulls failed across 4 rotations; first: %v", f, pulls.Load(), firstFailure.Load())
	}
	t.Logf("%d pulls through two replicas across 4 key rotations, none failed", pulls.Load())
	// Both replicas now sign with the newest key.
	var keys struct{ SigningKeys []struct{ ID string } }
	b.MustGraphQL("admin", servertest.AdminPassword, `{ signingKeys { id } }`, nil, &keys)
	if len(kids) != 4 || len(keys.SigningKeys) < 5 || !kids[keys.SigningKeys[0].ID] {
		t.Fatalf("signing keys on b = %+v after rotations %v", keys.SigningKeys, kids)
	}

	// The worker collects garbage in the shared bucket.
	if out, err := craneA("delete", a.Host+"/library/shared@"+dg); err != nil {
		t.Fatalf("delete: %v %s", err, out)
	}
	g := &gcBundle{env: b}
	var started struct{ StartGC struct{ ID string } }
	b.MustGraphQL("admin", servertest.AdminPassword, `mutation { startGC(input: {}) { id } }`, nil, &started)
	if run := g.wait(t, started.StartGC.ID); run.Status != "SUCCESS" {
		t.Fatalf("gc by the worker = %+v", run)
	}
}

// With storage_redirect, a blob GET is answered with a redirect to a presigned URL of the bucket
// after access is checked: the client fetches the bytes from the object store, and crane pulls.
func TestS3RedirectsBlobGets(t *testing.T) {
	t.Parallel()
	sw := servertest.StartSeaweed(t)
	env := startOnS3(t, sw, func(c *server.Config) { c.StorageRedirect = true })
	env.CreateProject("private", false)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	ref := env.Host + "/private/redirect:v1"
	if out, err := crane("append", "-f", randomLayer(t, 64<<10), "-t", ref); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	if out, err := crane("pull", ref, filepath.Join(t.TempDir(), "img.tar")); err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	_, blobs := manifestBlobs(t, crane, ref)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/v2/private/redirect/blobs/"+blobs[1], nil)
	req.Header.Set("Authorization", "Bearer "+tokenFrom(t, env, "private/redirect"))
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(resp.Header.Get("Location"), sw.Endpoint) {
		t.Fatalf("blob GET = %s to %q, want 307 to %s", resp.Status, resp.Header.Get("Location"), sw.Endpoint)
	}
	// Without a token on a private project: no redirect, a challenge.
	anon, _ := http.NewRequest(http.MethodGet, env.URL+"/v2/private/redirect/blobs/"+blobs[1], nil)
	if resp, err := noFollow.Do(anon); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous blob GET = %v %v, want 401", resp, err)
	}
}

// On S3: the built-in scanner reads an image's layers from the bucket, and a CVE export is written
// to the bucket and downloaded from it.
func TestS3ScanAndCVEExport(t *testing.T) {
	t.Parallel()
	sw := servertest.StartSeaweed(t)
	env := startOnS3(t, sw, func(c *server.Config) { c.AdvisoryDir = osvFixtures })
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	pushAlpine(t, crane, env.Host+"/library/alp:3.19")
	id := artifactIDOf(t, env, crane, env.Host+"/library/alp:3.19")
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": id}, nil)
	if o := waitScan(t, env, ref{"library/alp", "3.19"}); o.Status != "SUCCESS" || o.Total != 3 {
		t.Fatalf("scan on S3: %+v, want 3 findings", o)
	}

	proj := env.DB.Project.Query().OnlyIDX(t.Context())
	var started struct{ ExportCVE struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { exportCVE(input: {projects: [$p]}) { id } }`, map[string]any{"p": proj}, &started)
	deadline := time.Now().Add(2 * time.Minute)
	var got struct {
		CveExport struct {
			Status      string
			DownloadURL *string
		}
	}
	for {
		env.MustGraphQL("admin", servertest.AdminPassword, `query($id: ID!) { cveExport(id: $id) { status downloadURL } }`, map[string]any{"id": started.ExportCVE.ID}, &got)
		if got.CveExport.Status != "PENDING" && got.CveExport.Status != "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("export did not end: %+v", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.CveExport.Status != "SUCCESS" || got.CveExport.DownloadURL == nil {
		t.Fatalf("export on S3: %+v", got)
	}
	if n := objectsUnder(t, sw, "tests3scanandcveexport/berth/cve-exports/"); n != 1 {
		t.Fatalf("%d export objects in the bucket, want 1", n)
	}
	req, _ := http.NewRequest(http.MethodGet, env.URL+*got.CveExport.DownloadURL, nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "CVE-2023-42363") {
		t.Fatalf("download = %s:\n%.500s", resp.Status, body)
	}
}
