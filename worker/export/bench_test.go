package export_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/ent/cveexport"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/export"
)

// TestBenchExport is `make bench-export`: 2,000 artifacts × 500 findings = 1,000,000 CSV rows,
// exported by the real job into the registry's (filesystem) storage, timed against PostgreSQL's
// own COPY (<the same query>) TO STDOUT WITH CSV into a file on the same disk, in the same run.
// It prints the ratio and the export's peak heap growth; it asserts nothing about speed.
func TestBenchExport(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "export" {
		t.Skip("a benchmark: run `make bench-export`")
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := server.Defaults()
	cfg.DatabaseURL = servertest.NewDatabase(t)
	cfg.DataDir = t.TempDir()
	pool, _, db, err := server.Database(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	defer db.Close()

	seedStart := time.Now()
	for _, q := range []string{
		`INSERT INTO projects (id, name, created_at, updated_at) VALUES (1000, 'bench', now(), now())`,
		`INSERT INTO repositories (name, project_id, created_at, updated_at)
		 SELECT 'bench/service-' || g, 1000, now(), now() FROM generate_series(1, 20) g`,
		`INSERT INTO artifacts (digest, media_type, push_time, repository_id)
		 SELECT 'sha256:' || encode(sha256(g::text::bytea), 'hex'), 'application/vnd.oci.image.manifest.v1+json', now(),
		        (SELECT min(id) FROM repositories) + g % 20
		 FROM generate_series(1, 2000) g`,
		`INSERT INTO tags (name, push_time, artifact_id, repository_id) SELECT 'v' || id, now(), id, repository_id FROM artifacts`,
		`INSERT INTO scanners (name, created_at, updated_at) VALUES ('Trivy', now(), now())`,
		`INSERT INTO vulnerabilities (key, scanner_id, cve_id, package, package_version, fixed_version, severity, severity_rank, cwe_ids, vendor_attributes)
		 SELECT md5(g::text), (SELECT id FROM scanners), 'CVE-20' || (10 + g % 15) || '-' || (1000 + g), 'package-' || (g % 700),
		        '1.' || (g % 40) || '.' || (g % 7), CASE WHEN g % 3 = 0 THEN '' ELSE '2.0.' || (g % 9) END,
		        (ARRAY['LOW','MEDIUM','HIGH','CRITICAL','UNKNOWN'])[1 + g % 5], g % 5,
		        ('["CWE-79","CWE-' || (g % 900) || '"]')::jsonb,
		        '{"CVSS":{"nvd":{"V3Score":' || (g % 10) || '.5,"V3Vector":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}}'
		 FROM generate_series(1, 5000) g`,
		`INSERT INTO scan_reports (artifact_id, scanner_id, status, started_at) SELECT id, (SELECT id FROM scanners), 'SUCCESS', now() FROM artifacts`,
		`INSERT INTO scan_report_vulnerabilities (scan_report_id, vulnerability_id)
		 SELECT sr.id, (SELECT min(id) FROM vulnerabilities) + (sr.id * 7 + k) % 5000
		 FROM scan_reports sr, generate_series(0, 499) k`,
		`ANALYZE`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("seed: %v\n%s", err, q)
		}
	}
	t.Logf("seeded 2,000 artifacts × 500 findings in %v", time.Since(seedStart).Round(time.Millisecond))

	params := export.Params{Projects: []int{1000}}
	query, _ := params.Query()
	copyQuery := "COPY (" + strings.Replace(query, "ANY($1)", "ANY('{1000}'::bigint[])", 1) + ") TO STDOUT WITH CSV HEADER"
	copyFile := filepath.Join(cfg.DataDir, "copy.csv")
	runCopy := func() time.Duration {
		f, err := os.Create(copyFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		start := time.Now()
		tag, err := conn.Conn().PgConn().CopyTo(ctx, f, copyQuery)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		if tag.RowsAffected() != 1000000 {
			t.Fatalf("COPY wrote %d rows, want 1,000,000", tag.RowsAffected())
		}
		return d
	}

	storage, err := registry.StorageDriver(context.Background(), registry.Config{DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	svc := export.NewService(pool, db, storage, log)
	worker := export.NewWorker(svc, 0, nil)
	runBerth := func() (time.Duration, uint64) {
		e := db.CVEExport.Create().SetOwner("bench").SetParams(map[string]any{"projects": []int{1000}}).SaveX(ctx)
		job := &river.Job[export.Args]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 3}, Args: export.Args{ExportID: e.ID}}
		runtime.GC()
		base := heapBytes()
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() { // sample the live heap every 5 ms while the export runs
			defer close(sampled)
			for {
				if h := heapBytes(); h > peak.Load() {
					peak.Store(h)
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		start := time.Now()
		err := worker.Work(ctx, job)
		d := time.Since(start)
		close(stop)
		<-sampled
		if err != nil {
			t.Fatal(err)
		}
		done := db.CVEExport.GetX(ctx, e.ID)
		if done.Status != cveexport.StatusSuccess || done.Rows != 1000000 {
			t.Fatalf("export ended %s with %d rows", done.Status, done.Rows)
		}
		t.Logf("berth file: %d rows, %d bytes, %s", done.Rows, done.Size, done.Digest)
		growth := uint64(0)
		if p := peak.Load(); p > base {
			growth = p - base
		}
		return d, growth
	}

	// Interleave the two so that drift on a shared machine hits both alike; keep the best of each.
	var copyBest, berthBest time.Duration
	var heapPeak uint64
	for round := 0; round < 3; round++ {
		c := runCopy()
		b, h := runBerth()
		t.Logf("round %d: COPY %v, berth %v", round+1, c.Round(time.Millisecond), b.Round(time.Millisecond))
		if copyBest == 0 || c < copyBest {
			copyBest = c
		}
		if berthBest == 0 || b < berthBest {
			berthBest = b
		}
		heapPeak = max(heapPeak, h)
	}
	st, _ := os.Stat(copyFile)
	t.Logf("COPY file: %d bytes", st.Size())
	t.Logf("1,000,000 rows: COPY TO STDOUT %v, berth export %v; berth/COPY = %.2f; peak heap growth during the export %.1f MiB",
		copyBest.Round(time.Millisecond), berthBest.Round(time.Millisecond), float64(berthBest)/float64(copyBest), float64(heapPeak)/(1<<20))
}

// heapBytes is the live and not yet swept heap, read without stopping the world.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
