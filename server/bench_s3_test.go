package server_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
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

// TestBenchS3 is `make bench-s3`: on SeaweedFS's S3 API, blob push and pull throughput through Berth
// against the same transfers straight to the bucket with a plain S3 client in the same run; garbage
// collection blobs/s on S3; and, with storage_redirect on, the share of blob bytes that still pass
// through Berth. It prints figures and asserts only that transfers succeed.
// BERTH_BENCH_S3_BLOBS and BERTH_BENCH_S3_MIB size the transfers (default 16 blobs of 8 MiB, 4 at once).
func TestBenchS3(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "s3" {
		t.Skip("a benchmark: run `make bench-s3`")
	}
	blobs, mib, conc := 16, 8, 4
	if v := os.Getenv("BERTH_BENCH_S3_BLOBS"); v != "" {
		fmt.Sscan(v, &blobs)
	}
	if v := os.Getenv("BERTH_BENCH_S3_MIB"); v != "" {
		fmt.Sscan(v, &mib)
	}
	sw := servertest.StartSeaweed(t)
	env := startOnS3(t, sw, func(c *server.Config) { c.GCWindow = time.Second })
	redirected := servertest.Start(t, func(c *server.Config) {
		c.DatabaseURL, c.Storage, c.StorageRedirect, c.RunJobs = env.DatabaseURL, env.Config.Storage, true, false
	})
	data := make([][]byte, blobs)
	digests := make([]string, blobs)
	for i := range data {
		data[i] = make([]byte, mib<<20)
		_, _ = rand.Read(data[i])
		sum := sha256.Sum256(data[i])
		digests[i] = "sha256:" + hex.EncodeToString(sum[:])
	}
	total := float64(blobs*mib) / 1 // MiB
	token := benchS3Token(t, env, "repository:library/bench:pull,push")
	client := &http.Client{Timeout: 5 * time.Minute}
	s3c := sw.Client()

	parallel := func(f func(i int) error) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= blobs {
						return
					}
					if err := f(i); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		return time.Since(start)
	}
	rate := func(d time.Duration) float64 { return total / d.Seconds() }

	// Interleaved: direct, Berth, direct, Berth; best of two rounds each.
	var berthPush, directPush, berthPull, directPull time.Duration
	for round := 0; round < 2; round++ {
		prefix := fmt.Sprintf("direct-%d/", round)
		d := parallel(func(i int) error {
			_, err := s3c.PutObject(&s3.PutObjectInput{Bucket: aws.String(sw.Bucket), Key: aws.String(prefix + digests[i]), Body: bytes.NewReader(data[i])})
			return err
		})
		directPush = minNonZero(directPush, d)
		repo := fmt.Sprintf("library/bench%d", round)
		tok := benchS3Token(t, env, "repository:"+repo+":pull,push")
		d = parallel(func(i int) error { return benchUpload(client, env, tok, repo, digests[i], data[i]) })
		berthPush = minNonZero(berthPush, d)
		d = parallel(func(i int) error {
			out, err := s3c.GetObject(&s3.GetObjectInput{Bucket: aws.String(sw.Bucket), Key: aws.String(prefix + digests[i])})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			n, err := io.Copy(io.Discard, out.Body)
			if err == nil && n != int64(len(data[i])) {
				err = fmt.Errorf("direct get: %d bytes", n)
			}
			return err
		})
		directPull = minNonZero(directPull, d)
		d = parallel(func(i int) error {
			n, err := benchGet(client, env.URL+"/v2/"+repo+"/blobs/"+digests[i], tok)
			if err == nil && n != int64(len(data[i])) {
				err = fmt.Errorf("berth get: %d bytes", n)
			}
			return err
		})
		berthPull = minNonZero(berthPull, d)
		token = tok
	}
	t.Logf("blob push, %d × %d MiB, %d at once: berth %.1f MiB/s, S3 direct %.1f MiB/s: berth/direct = %.2f",
		blobs, mib, conc, rate(berthPush), rate(directPush), directPush.Seconds()/berthPush.Seconds())
	t.Logf("blob pull, %d × %d MiB, %d at once: berth %.1f MiB/s, S3 direct %.1f MiB/s: berth/direct = %.2f",
		blobs, mib, conc, rate(berthPull), rate(directPull), directPull.Seconds()/berthPull.Seconds())

	// Redirects: count the body bytes each host sends.
	var fromBerth, fromStore atomic.Int64
	counting := &http.Client{Timeout: 5 * time.Minute, Transport: countingTransport{base: http.DefaultTransport, count: func(host string, n int64) {
		if host == redirected.Host {
			fromBerth.Add(n)
		} else {
			fromStore.Add(n)
		}
	}}}
	d := parallel(func(i int) error {
		n, err := benchGet(counting, redirected.URL+"/v2/library/bench1/blobs/"+digests[i], token)
		if err == nil && n != int64(len(data[i])) {
			err = fmt.Errorf("redirected get: %d bytes", n)
		}
		return err
	})
	t.Logf("blob pull with storage_redirect: %.1f MiB/s; %d bytes from berth, %d from the object store: share through berth %.4f",
		rate(d), fromBerth.Load(), fromStore.Load(), float64(fromBerth.Load())/float64(fromBerth.Load()+fromStore.Load()))

	// GC: the uploaded blobs belong to no manifest; past the window they all go.
	time.Sleep(1500 * time.Millisecond)
	g := &gcBundle{env: env}
	var out struct{ StartGC gcRunResult }
	start := time.Now()
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { startGC(input: {workers: 8, removeOrphans: true}) { id } }`, nil, &out)
	run := g.wait(t, out.StartGC.ID)
	gcd := time.Since(start)
	n := run.BlobsDeleted + run.Orphans
	t.Logf("gc on S3, 8 workers: %d blobs (%d known, %d orphans) in %s: %.1f blobs/s; status %s, %d failures",
		n, run.BlobsDeleted, run.Orphans, gcd.Round(time.Millisecond), float64(n)/gcd.Seconds(), run.Status, run.Failures)
	// A larger GC: many small blobs.
	const small = 500
	tok := benchS3Token(t, env, "repository:library/gcbench:pull,push")
	smallDigests := make([]string, small)
	smallData := make([][]byte, small)
	for i := range smallData {
		smallData[i] = []byte(fmt.Sprintf("blob %d %d", i, time.Now().UnixNano()))
		sum := sha256.Sum256(smallData[i])
		smallDigests[i] = "sha256:" + hex.EncodeToString(sum[:])
	}
	oldBlobs := blobs
	blobs = small
	parallel(func(i int) error {
		return benchUpload(client, env, tok, "library/gcbench", smallDigests[i], smallData[i])
	})
	blobs = oldBlobs
	time.Sleep(1500 * time.Millisecond)
	start = time.Now()
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { startGC(input: {workers: 8, removeOrphans: true}) { id } }`, nil, &out)
	run = g.wait(t, out.StartGC.ID)
	gcd = time.Since(start)
	n = run.BlobsDeleted + run.Orphans
	t.Logf("gc on S3, %d small blobs, 8 workers: %d deleted in %s: %.1f blobs/s; status %s, %d failures",
		small, n, gcd.Round(time.Millisecond), float64(n)/gcd.Seconds(), run.Status, run.Failures)
}

func minNonZero(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

func benchS3Token(t *testing.T, env *servertest.Env, scope string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/service/token?service=berth&scope="+url.QueryEscape(scope), nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_, rest, _ := strings.Cut(string(b), `"token":"`)
	tok, _, _ := strings.Cut(rest, `"`)
	if resp.StatusCode != http.StatusOK || tok == "" {
		t.Fatalf("token: %s %s", resp.Status, b)
	}
	return tok
}

// benchUpload pushes one blob: POST an upload, PUT its bytes with the digest (monolithic).
func benchUpload(client *http.Client, env *servertest.Env, token, repo, dgst string, data []byte) error {
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/v2/"+repo+"/blobs/uploads/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = env.URL + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	put, _ := http.NewRequest(http.MethodPut, loc+sep+"digest="+url.QueryEscape(dgst), bytes.NewReader(data))
	put.Header.Set("Authorization", "Bearer "+token)
	put.Header.Set("Content-Type", "application/octet-stream")
	put.ContentLength = int64(len(data))
	resp, err = client.Do(put)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("finish upload: %s %.300s", resp.Status, b)
	}
	return nil
}

func benchGet(client *http.Client, u, token string) (int64, error) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return io.Copy(io.Discard, resp.Body)
}

// countingTransport reports the body bytes each host sends. Go's client drops the Authorization
// header on a redirect to another host, as a presigned URL wants.
type countingTransport struct {
	base  http.RoundTripper
	count func(host string, n int64)
}

func (c countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, done: func(n int64) { c.count(req.URL.Host, n) }}
	return resp, nil
}

type countingBody struct {
	io.ReadCloser
	n    int64
	done func(int64)
	once sync.Once
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error {
	b.once.Do(func() { b.done(b.n) })
	return b.ReadCloser.Close()
}
