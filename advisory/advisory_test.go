package advisory_test

import (
	"archive/zip"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/advisory"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// fixtures is the OSV fixture set the scanner tests share.
var fixtures = filepath.Join("..", "testdata", "osv")

func setup(t *testing.T) *advisory.Store {
	t.Helper()
	cfg := server.Defaults()
	cfg.DatabaseURL = servertest.NewDatabase(t)
	pool, sqlDB, _, err := server.Database(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close(); pool.Close() })
	return advisory.NewStore(pool)
}

func TestImportAndMatch(t *testing.T) {
	t.Parallel()
	store := setup(t)
	ctx := context.Background()
	if _, err := store.Match(ctx, []advisory.Package{{Ecosystems: []string{"Debian:12"}, Name: "curl", Version: "1"}}); err != advisory.ErrNoAdvisories {
		t.Fatalf("matching against an empty database: %v, want ErrNoAdvisories", err)
	}
	st, err := store.Import(ctx, fixtures)
	if err != nil {
		t.Fatal(err)
	}
	// 14 files: one withdrawn and one for an ecosystem Berth cannot order are skipped.
	if st.Files != 14 || st.Advisories != 12 || st.Skipped != 2 {
		t.Fatalf("import: %+v", st)
	}

	// The same records as osv.dev's all.zip: replaced, not duplicated.
	zipPath := filepath.Join(t.TempDir(), "all.zip")
	writeZip(t, zipPath, filepath.Join(fixtures, "debian"))
	st, err = store.Import(ctx, zipPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 7 || st.Advisories != 6 {
		t.Fatalf("zip import: %+v", st)
	}
	if n, _ := store.Count(ctx); n != 12 {
		t.Fatalf("%d advisories after re-import, want 12", n)
	}

	deb := []string{"Debian:12", "Debian"}
	findings, err := store.Match(ctx, []advisory.Package{
		{Ecosystems: deb, Name: "openssl", Version: "3.0.11-1~deb12u1", Source: "openssl"},
		{Ecosystems: deb, Name: "libssl3", Version: "3.0.11-1~deb12u1", Source: "openssl"},
		{Ecosystems: deb, Name: "curl", Version: "7.88.1-10+deb12u5", Source: "curl"},
		{Ecosystems: deb, Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib"},
		// The source version decides: bash's binary NMU suffix does not matter.
		{Ecosystems: deb, Name: "bash", Version: "5.2.15-2+b2", Source: "bash", SourceVersion: "5.2.15-2"},
		{Ecosystems: deb, Name: "tar", Version: "1.34+dfsg-1.2"},
		// Already fixed.
		{Ecosystems: []string{"Alpine:v3.19"}, Name: "libcrypto3", Version: "3.1.4-r6", Source: "openssl"},
	})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ cve, pkg, severity, fixed string }
	want := []row{
		{"CVE-2024-2398", "curl", "CRITICAL", "7.88.1-10+deb12u6"},
		{"CVE-2023-45853", "zlib1g", "HIGH", ""},
		{"CVE-2023-5363", "libssl3", "HIGH", "3.0.11-1~deb12u2"},
		{"CVE-2023-5363", "openssl", "HIGH", "3.0.11-1~deb12u2"},
		{"CVE-2023-5678", "libssl3", "HIGH", "3.0.11-1~deb12u2"},
		{"CVE-2023-5678", "openssl", "HIGH", "3.0.11-1~deb12u2"},
	}
	if len(findings) != len(want) {
		t.Fatalf("%d findings, want %d: %+v", len(findings), len(want), findings)
	}
	for i, w := range want {
		f := findings[i]
		if (row{f.CVEID, f.Package, f.Severity, f.FixedVersion}) != w {
			t.Errorf("finding %d = %v %v %v %q, want %+v", i, f.CVEID, f.Package, f.Severity, f.FixedVersion, w)
		}
	}
	curl := findings[0]
	if curl.CVSSScoreV3 == nil || *curl.CVSSScoreV3 != 9.8 || curl.CVSSVectorV3 != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" ||
		len(curl.CWEIDs) != 1 || curl.CWEIDs[0] != "CWE-401" || len(curl.Links) != 1 || curl.Description == "" {
		t.Errorf("curl finding lost details: %+v", curl)
	}
}

func writeZip(t *testing.T, path, dir string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		w, _ := z.Create(e.Name())
		_, _ = w.Write(b)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// Only a CVE id is reported as one: a record whose id merely starts with "CVE-" is reported under
// its CVE aliases (or upstream ids); aliases that only look like CVE ids are not CVEs either.
func TestCVEIDs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		id      string
		aliases [][]string
		want    string
	}{
		{"CVE-2023-5363", nil, "CVE-2023-5363"},
		{"CVE-2023-12345678", [][]string{{"CVE-2023-1111"}}, "CVE-2023-12345678"},
		{"CVE-2099-0001-OSV", [][]string{{"CVE-2099-0001"}}, "CVE-2099-0001"},
		{"CVE-2099-0001-OSV", [][]string{{"GHSA-xxxx"}, {"CVE-2099-0001"}}, "CVE-2099-0001"},
		{"DSA-5532-1", [][]string{{"CVE-2023-5363", "CVE-2023-5678", "CVE-2023-5363"}}, "CVE-2023-5363 CVE-2023-5678"},
		{"DEBIAN-CVE-2023-45853", [][]string{nil, {"CVE-2023-45853"}}, "CVE-2023-45853"},
		{"GHSA-abcd", [][]string{{"CVE-24-1", "CVE-2024-12a4"}}, "GHSA-abcd"},
		{"CVE-2099-0001-OSV", nil, "CVE-2099-0001-OSV"},
		{"cve-2023-5363", nil, "cve-2023-5363"},
	} {
		if got := strings.Join(advisory.CVEIDs(c.id, c.aliases...), " "); got != c.want {
			t.Errorf("CVEIDs(%q, %q) = %q, want %q", c.id, c.aliases, got, c.want)
		}
	}
	for id, want := range map[string]bool{"CVE-2023-5363": true, "CVE-2023-123456": true, "CVE-2099-0001-OSV": false,
		"CVE-23-1234": false, "CVE-2023-123": false, " CVE-2023-1234": false, "CVE-2023-1234\n": false} {
		if IsCVE := advisory.IsCVE(id); IsCVE != want {
			t.Errorf("IsCVE(%q) = %v", id, IsCVE)
		}
	}
}
