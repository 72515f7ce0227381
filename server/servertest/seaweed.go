package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/s3"
)

// Seaweed is a SeaweedFS server with its S3 gateway, started by a test on loopback: the object
// store the storage tests run Berth on.
type Seaweed struct {
	Endpoint  string // http://127.0.0.1:port of the S3 API
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string // created at start
	Dir       string

	logs *bytes.Buffer
	mu   *sync.Mutex
}

// seaweedStartTimeout bounds how long SeaweedFS may take to answer S3 requests on a loaded machine.
const seaweedStartTimeout = 90 * time.Second

// StartSeaweed runs `weed server -s3` (tools/bin/weed, built by scripts/tools.sh) until the test
// ends, with one S3 identity and one empty bucket. Without weed the test skips (fails under
// BERTH_REQUIRE_TOOLS). Ports are chosen free, below 55535 (SeaweedFS's own defaults add 10000 for
// gRPC; here every gRPC port is set explicitly too); a start that loses a port to another process
// is retried on others.
func StartSeaweed(t testing.TB) *Seaweed {
	t.Helper()
	bin := Tool(t, "weed")
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		sw, err := startSeaweed(t, bin)
		if err == nil {
			return sw
		}
		lastErr = err
		t.Logf("seaweedfs: start attempt %d: %v", attempt+1, err)
	}
	t.Fatalf("seaweedfs did not start: %v", lastErr)
	return nil
}

func startSeaweed(t testing.TB, bin string) (*Seaweed, error) {
	dir, err := os.MkdirTemp("", "berth-seaweed-")
	if err != nil {
		return nil, err
	}
	sw := &Seaweed{AccessKey: "berth-test", SecretKey: "berth-test-secret-key", Region: "us-east-1", Bucket: "berth",
		Dir: dir, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	identities := map[string]any{"identities": []map[string]any{{
		"name":        "berth",
		"credentials": []map[string]string{{"accessKey": sw.AccessKey, "secretKey": sw.SecretKey}},
		"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}}
	b, _ := json.Marshal(identities)
	s3cfg := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(s3cfg, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(9)
	if err != nil {
		return nil, err
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	args := []string{"server", "-s3", "-dir", filepath.Join(dir, "data"), "-ip", "127.0.0.1", "-ip.bind", "127.0.0.1",
		"-master.port", p(0), "-master.port.grpc", p(1), "-volume.port", p(2), "-volume.port.grpc", p(3),
		"-filer.port", p(4), "-filer.port.grpc", p(5), "-s3.port", p(6), "-s3.port.grpc", p(7),
		"-s3.port.iceberg", "0", "-s3.port.lance", "0", "-metricsPort", p(8),
		"-s3.config", s3cfg, "-master.volumeSizeLimitMB", "256", "-volume.max", "64", "-volume.preStopSeconds", "0"}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = (*lockedWriter)(sw), (*lockedWriter)(sw)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		os.RemoveAll(dir)
	}
	sw.Endpoint = "http://127.0.0.1:" + p(6)
	client := sw.Client()
	deadline := time.Now().Add(seaweedStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = client.CreateBucketWithContext(ctx, &s3.CreateBucketInput{Bucket: aws.String(sw.Bucket)})
		cancel()
		var aerr awserr.Error
		if err == nil || (errors.As(err, &aerr) && (aerr.Code() == s3.ErrCodeBucketAlreadyOwnedByYou || aerr.Code() == s3.ErrCodeBucketAlreadyExists)) {
			break
		}
		select {
		case werr := <-exited:
			exited <- werr
			stop()
			return nil, fmt.Errorf("weed exited (%v); its output:\n%s", werr, sw.Logs())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("S3 API not ready within %s (last: %v); weed's output:\n%s", seaweedStartTimeout, err, sw.Logs())
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Cleanup(stop)
	return sw, nil
}

// Client is a plain S3 client on the server, with the test identity.
func (sw *Seaweed) Client() *s3.S3 {
	sess := session.Must(session.NewSession(&aws.Config{
		Endpoint:         aws.String(sw.Endpoint),
		Region:           aws.String(sw.Region),
		Credentials:      credentials.NewStaticCredentials(sw.AccessKey, sw.SecretKey, ""),
		S3ForcePathStyle: aws.Bool(true),
		DisableSSL:       aws.Bool(true),
		MaxRetries:       aws.Int(2),
	}))
	return s3.New(sess)
}

// Storage is Berth's storage setting for the bucket (the s3 driver), under prefix root (each
// test's own, so that tests may share a bucket).
func (sw *Seaweed) Storage(root string) map[string]map[string]any {
	return map[string]map[string]any{"s3": {
		"bucket": sw.Bucket, "region": sw.Region, "regionendpoint": sw.Endpoint,
		"accesskey": sw.AccessKey, "secretkey": sw.SecretKey, "forcepathstyle": true, "secure": false,
		"rootdirectory": "/" + root,
	}}
}

// Logs is what weed has printed so far.
func (sw *Seaweed) Logs() string {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.logs.String()
}

type lockedWriter Seaweed

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.logs.Len() < 1<<20 {
		w.logs.Write(b)
	}
	return len(b), nil
}

// freePorts finds n distinct ports in 20000–45000 that are free now (another process may take one
// before weed does: the caller retries).
func freePorts(n int) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for tries := 0; len(out) < n && tries < 1000; tries++ {
		port := 20000 + rand.IntN(25000)
		if seen[port] {
			continue
		}
		seen[port] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		out = append(out, port)
	}
	if len(out) < n {
		return nil, errors.New("no free ports")
	}
	return out, nil
}
