package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"

	"github.com/berth-registry/berth/server"
)

// helperEnv, when set in a re-executed test binary, makes it a `berth worker` process instead of
// running tests: tests that must kill a worker for real (SIGKILL) start one this way.
const helperEnv = "BERTH_TEST_WORKER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		if err := runHelperWorker(spec); err != nil {
			fmt.Fprintln(os.Stderr, "helper worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperSpec is what a helper worker is told, as JSON in helperEnv.
type helperSpec struct {
	DatabaseURL string
	DataDir     string
	JobLease    time.Duration
	// BlockAfter is how many blob deletes go through before every further one blocks for good
	// (and "BLOCKED" is printed); negative never blocks.
	BlockAfter int64
	// BlockPath is the part of a storage path whose deletes BlockAfter counts ("/blobs/" if empty;
	// "/_manifests/revisions/" blocks artifact deletes).
	BlockPath string
	// DeleteDelay slows every blob delete; StopTimeout is the job stop timeout (zero: default).
	DeleteDelay time.Duration
	StopTimeout time.Duration
}

// runHelperWorker is `berth worker` over the spec's database and data directory, with the
// gcblock storage driver, until SIGTERM (or SIGKILL).
func runHelperWorker(raw string) error {
	var spec helperSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg := server.Defaults()
	cfg.DatabaseURL, cfg.DataDir, cfg.JobLease = spec.DatabaseURL, spec.DataDir, spec.JobLease
	// As servertest's servers: the registries and receivers tests start listen on loopback.
	cfg.OutboundAllowCIDRs = "127.0.0.0/8,::1/128"
	if spec.StopTimeout > 0 {
		cfg.JobStopTimeout = spec.StopTimeout
	}
	cfg.Storage = map[string]map[string]any{"gcblock": {
		"rootdirectory": spec.DataDir + "/registry", "blockafter": spec.BlockAfter, "delay": spec.DeleteDelay, "blockpath": spec.BlockPath}}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return server.RunWorker(ctx, cfg, log, func() { fmt.Println("READY") })
}

// gcBlockDriver is the filesystem driver whose blob deletes block for good after a number of
// them: a garbage collection in a helper worker then stops mid-sweep, holding claims, until the
// test kills the process.
type gcBlockDriver struct {
	storagedriver.StorageDriver
	left  *atomic.Int64
	delay time.Duration
	path  string
}

func (d gcBlockDriver) Delete(ctx context.Context, path string) error {
	if strings.Contains(path, d.path) {
		time.Sleep(d.delay)
		if left := d.left.Add(-1); left < 0 {
			if left == -1 {
				fmt.Println("BLOCKED")
			}
			select {} // until the process is killed
		}
	}
	return d.StorageDriver.Delete(ctx, path)
}

type gcBlockDriverFactory struct{}

func (gcBlockDriverFactory) Create(_ context.Context, params map[string]any) (storagedriver.StorageDriver, error) {
	fsd, err := filesystem.FromParameters(map[string]any{"rootdirectory": params["rootdirectory"]})
	if err != nil {
		return nil, err
	}
	left := new(atomic.Int64)
	n, _ := params["blockafter"].(int64)
	if n < 0 {
		n = 1 << 62
	}
	left.Store(n)
	delay, _ := params["delay"].(time.Duration)
	path, _ := params["blockpath"].(string)
	if path == "" {
		path = "/blobs/"
	}
	return gcBlockDriver{StorageDriver: fsd, left: left, delay: delay, path: path}, nil
}

func init() { factory.Register("gcblock", gcBlockDriverFactory{}) }
