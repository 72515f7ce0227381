package gc_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/gcrun"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/gc"
)

// TestBenchGC is `make bench-gc`: mark and sweep of BERTH_BENCH_GC_BLOBS unreferenced blobs
// (default 20,000) on filesystem storage, with 1 and with 8 workers, printing blobs per second and
// database statements per blob. It runs only with BERTH_BENCH=gc.
func TestBenchGC(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "gc" {
		t.Skip("set BERTH_BENCH=gc (make bench-gc)")
	}
	n := 20000
	if v := os.Getenv("BERTH_BENCH_GC_BLOBS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	for _, workers := range []int{1, 8} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			benchGC(t, n, workers)
		})
	}
}

func benchGC(t *testing.T, n, workers int) {
	ctx := context.Background()
	cfg := server.Defaults()
	cfg.DatabaseURL = servertest.NewDatabase(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, sqlDB, _, err := server.Database(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	root := t.TempDir()
	driver, err := filesystem.FromParameters(map[string]any{"rootdirectory": root})
	if err != nil {
		t.Fatal(err)
	}

	// Seed n blobs in storage and in the database, unreferenced and past the window.
	seedStart := time.Now()
	rows := make([][]any, n)
	old := time.Now().Add(-3 * time.Hour)
	var bytes int64
	for i := range n {
		var seed [8]byte
		binary.BigEndian.PutUint64(seed[:], uint64(i))
		d := digest.NewDigestFromBytes(digest.SHA256, func() []byte { s := sha256.Sum256(seed[:]); return s[:] }())
		hex := d.Encoded()
		dir := filepath.Join(root, "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 512+i%512)
		if err := os.WriteFile(filepath.Join(dir, "data"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		bytes += int64(len(data))
		rows[i] = []any{d.String(), "application/vnd.oci.image.layer.v1.tar+gzip", int64(len(data)), "none", int64(0), old, old}
	}
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"blobs"},
		[]string{"digest", "media_type", "size", "status", "version", "created_at", "updated_at"}, pgx.CopyFromRows(rows))
	if err != nil {
		t.Fatal(err)
	}
	var id int
	err = pool.QueryRow(ctx, `INSERT INTO gc_runs (kind, status, trigger, workers, window_seconds, log, operator, created_at)
VALUES ('GC', 'PENDING', 'MANUAL', $1, 7200, '', 'bench', now()) RETURNING id`, workers).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d blobs (%d bytes) in %s", n, bytes, time.Since(seedStart).Round(time.Millisecond))

	statements := new(atomic.Int64)
	db := ent.NewClient(ent.Driver(countingDriver{Driver: entsql.OpenDB(dialect.Postgres, sqlDB), n: statements}))
	w := gc.NewWorker(db, driver, nil, log, nil)
	start := time.Now()
	if err := w.Work(ctx, &river.Job[gc.Args]{JobRow: &rivertype.JobRow{}, Args: gc.Args{RunID: id}}); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	run, err := db.GCRun.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != gcrun.StatusSuccess || run.BlobsDeleted != int64(n) || run.BytesFreed != bytes {
		t.Fatalf("run = %s, %d blobs, %d bytes; want %d blobs, %d bytes\n%s", run.Status, run.BlobsDeleted, run.BytesFreed, n, bytes, run.Log)
	}
	t.Logf("workers=%d: %d blobs in %s = %.0f blobs/s, %.2f statements per blob (%d in all)",
		workers, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
		float64(statements.Load())/float64(n), statements.Load())
}

// countingDriver counts the statements ent sends, GC's raw ones included.
type countingDriver struct {
	dialect.Driver
	n *atomic.Int64
}

func (d countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Query(ctx, query, args, v)
}

func (d countingDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	d.n.Add(1)
	return d.Driver.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}).ExecContext(ctx, query, args...)
}

func (d countingDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	d.n.Add(1)
	return d.Driver.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}).QueryContext(ctx, query, args...)
}
