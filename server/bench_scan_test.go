package server_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/berth-registry/berth/advisory"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/server/servertest"
)

// TestBenchScan is `make bench-scan`: the time to scan an image with 2,000 Debian packages
// against 100,000 advisories with the built-in scanner (it asserts nothing about speed). Sizes:
// BERTH_BENCH_PACKAGES, BERTH_BENCH_ADVISORIES.
func TestBenchScan(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "scan" {
		t.Skip("a benchmark: run `make bench-scan`")
	}
	nPkgs, nAdv := envInt("BERTH_BENCH_PACKAGES", 2000), envInt("BERTH_BENCH_ADVISORIES", 100000)
	env := servertest.Start(t)
	ctx := context.Background()

	// Advisories: 20 per source package over nAdv/20 packages; the image has nPkgs of them, each
	// a binary package of its own source, so every package has 20 advisories to compare with
	// and about two thirds of them match.
	sources := nAdv / 20
	zipPath := filepath.Join(t.TempDir(), "all.zip")
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i := 0; i < nAdv; i++ {
		src := fmt.Sprintf("src%05d", i%sources)
		rec := map[string]any{
			"id": fmt.Sprintf("DEBIAN-CVE-2024-%06d", i), "modified": "2024-01-01T00:00:00Z",
			"upstream": []string{fmt.Sprintf("CVE-2024-%06d", i)},
			"details":  "Synthetic advisory for the scan benchmark.",
			"severity": []map[string]string{{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N"}},
			"affected": []map[string]any{{
				"package": map[string]string{"ecosystem": "Debian:12", "name": src},
				"ranges": []map[string]any{{"type": "ECOSYSTEM", "events": []map[string]string{
					{"introduced": "0"}, {"fixed": fmt.Sprintf("1.%d-1+deb12u1", i/sources%3)}}}},
			}},
		}
		w, _ := zw.Create(rec["id"].(string) + ".json")
		if err := json.NewEncoder(w).Encode(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pool, err := pgxpool.New(ctx, env.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	start := time.Now()
	st, err := advisory.NewStore(pool).Import(ctx, zipPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("import: %d advisories (%d package rows) from all.zip in %s", st.Advisories, st.Packages, time.Since(start).Round(time.Millisecond))

	var status strings.Builder
	for i := 0; i < nPkgs; i++ {
		fmt.Fprintf(&status, "Package: bin%05d\nStatus: install ok installed\nArchitecture: amd64\nSource: src%05d\nVersion: 1.1-1\nDescription: synthetic\n\n", i, i)
	}
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	layer := buildLayer(t,
		layerEntry{name: "etc/os-release", content: "ID=debian\nVERSION_ID=\"12\"\n"},
		layerEntry{name: "var/lib/dpkg/status", content: status.String()})
	if out, err := crane("append", "-f", layer, "-t", env.Host+"/library/big:1"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	id := artifactIDOf(t, env, crane, env.Host+"/library/big:1")

	var scans, walls []time.Duration
	total := 0
	for round := 0; round < 5; round++ {
		t0 := time.Now()
		env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": id}, nil)
		o := waitScan(t, env, ref{"library/big", "1"})
		walls = append(walls, time.Since(t0))
		if o.Status != "SUCCESS" {
			t.Fatalf("scan: %+v", o)
		}
		total = o.Total
		r, err := env.DB.ScanReport.Query().Where(scanreport.ArtifactID(id)).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		scans = append(scans, r.FinishedAt.Sub(r.StartedAt))
	}
	t.Logf("scan of %d packages against %d advisories: %d findings; in the job (started → report written) median %s (min %s, max %s); "+
		"from the mutation to the overview showing it, median %s (5 scans)",
		nPkgs, st.Advisories, total, median(scans), minDur(scans), maxDur(scans), median(walls))
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err == nil && n > 0 {
			return n
		}
	}
	return def
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(time.Millisecond)
}

func minDur(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[0].Round(time.Millisecond)
}

func maxDur(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)-1].Round(time.Millisecond)
}
