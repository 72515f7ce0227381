package export_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/jackc/pgx/v5"

	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/export"
)

// scanned is the fixture every filter test reads: two projects, tagged, untagged and index
// images, labels on some, and reports whose findings include a duplicate and formula cells.
type scanned struct {
	*fixture
	core, portal, nginx, amd, arm, index, app string // digests
	label                                     int
}

func setupScanned(t *testing.T) *scanned {
	f := setup(t)
	ctx := context.Background()
	s := &scanned{fixture: f}
	s.core = f.push("alpha/goharbor/core:v1.0", "core")
	s.portal = f.push("alpha/goharbor/portal:dev", "portal")
	s.nginx = f.push("alpha/nginx:tmp", "nginx")
	f.crane("delete", f.env.Host+"/alpha/nginx:tmp") // untag: nginx is now untagged
	s.amd = f.push("alpha/multi:amd", "amd")
	s.arm = f.push("alpha/multi:arm", "arm")
	f.crane("index", "append", "-m", f.env.Host+"/alpha/multi:amd", "-m", f.env.Host+"/alpha/multi:arm", "-t", f.env.Host+"/alpha/multi:release")
	s.index = strings.TrimSpace(f.crane("digest", f.env.Host+"/alpha/multi:release"))
	f.crane("delete", f.env.Host+"/alpha/multi:amd")
	f.crane("delete", f.env.Host+"/alpha/multi:arm")
	s.app = f.push("beta/app:1", "app")
	// An SBOM attached to core: an accessory, whose findings are never exported.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sbom.json"), []byte(`{"packages":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	servertest.Run(t, nil, servertest.Tool(t, "oras"), "attach", "--plain-http", "-u", "admin", "-p", servertest.AdminPassword,
		"--disable-path-validation", "--artifact-type", "application/spdx+json", "--distribution-spec", "v1.1-referrers-api",
		f.env.Host+"/alpha/goharbor/core:v1.0", filepath.Join(dir, "sbom.json"))
	sbom := f.env.DB.Artifact.Query().Where(artifact.HasAccessoryLinks()).OnlyX(ctx)
	f.report(sbom, vuln{cve: "CVE-2099-0001", pkg: "in-the-sbom", version: "1", severity: "HIGH"})

	log4j := vuln{cve: "CVE-2021-44228", pkg: "log4j", version: "2.14.1", fixed: "2.15.0", severity: "CRITICAL",
		cwe: []string{"CWE-502", "CWE-400"}, vendor: `{"CVSS":{"nvd":{"V3Score":10}}}`}
	log4jAgain := log4j
	log4jAgain.description = "the same finding, recorded with another description: the same CSV row"
	f.report(f.artifact("alpha/goharbor/core", s.core), log4j, log4jAgain,
		vuln{cve: "CVE-2022-0001", pkg: "openssl", version: "1.1.1", severity: "HIGH"})
	f.report(f.artifact("alpha/goharbor/portal", s.portal),
		vuln{cve: "CVE-2022-1234", pkg: "=cmd|calc", version: "-1", severity: "LOW", cwe: []string{"CWE-79"}})
	f.report(f.artifact("alpha/nginx", s.nginx), vuln{cve: "CVE-2020-5555", pkg: "zlib", version: "1.2", severity: "MEDIUM"})
	f.report(f.artifact("alpha/multi", s.amd), vuln{cve: "CVE-2023-1111", pkg: "busybox", version: "1.36", severity: "HIGH"})
	f.report(f.artifact("alpha/multi", s.arm), vuln{cve: "CVE-2023-2222", pkg: "busybox", version: "1.36", severity: "LOW"})
	f.report(f.artifact("beta/app", s.app), log4j)

	s.label = f.env.DB.Label.Create().SetName("prod").SetProjectID(f.alpha).SaveX(ctx).ID
	f.artifact("alpha/multi", s.index).Update().AddLabelIDs(s.label).ExecX(ctx)
	f.artifact("alpha/goharbor/core", s.core).Update().AddLabelIDs(s.label).ExecX(ctx)
	return s
}

// export runs p's export into memory.
func (s *scanned) export(p export.Params) string {
	s.t.Helper()
	if err := p.Validate(); err != nil {
		s.t.Fatalf("Validate(%+v): %v", p, err)
	}
	var buf bytes.Buffer
	rows, size, digest, err := export.WriteCSV(context.Background(), s.pool, p, &buf, nil)
	if err != nil {
		s.t.Fatalf("WriteCSV(%+v): %v", p, err)
	}
	if int(size) != buf.Len() || !strings.HasPrefix(digest, "sha256:") || int(rows) != strings.Count(buf.String(), "\n")-1 {
		s.t.Errorf("rows %d, size %d, digest %s do not describe the %d-byte file", rows, size, digest, buf.Len())
	}
	return buf.String()
}

// pairs lists "repository cve" of each row.
func pairs(csv string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(csv, "\n"), "\n")[1:] {
		cells := strings.SplitN(line, ",", 4)
		out = append(out, cells[0]+" "+cells[2])
	}
	slices.Sort(out)
	return out
}

func TestExportCSVAndFilters(t *testing.T) {
	t.Parallel()
	s := setupScanned(t)

	// The CSV of a known fixture, byte for byte: Harbor's header and column order, CWE ids
	// joined, vendor attributes as JSON text, the duplicate finding collapsed, formula cells guarded.
	got := s.export(export.Params{Projects: []int{s.alpha}, Repositories: "goharbor/*"})
	want := "Repository,Artifact Digest,CVE,Package,Current Version,Fixed in version,Severity,CWE Ids,Additional Data,Scanner\n" +
		"alpha/goharbor/core," + s.core + `,CVE-2021-44228,log4j,2.14.1,2.15.0,Critical,"CWE-502,CWE-400","{""CVSS"":{""nvd"":{""V3Score"":10}}}",Trivy` + "\n" +
		"alpha/goharbor/core," + s.core + ",CVE-2022-0001,openssl,1.1.1,,High,,,Trivy\n" +
		"alpha/goharbor/portal," + s.portal + ",CVE-2022-1234,'=cmd|calc,'-1,,Low,CWE-79,,Trivy\n"
	if got != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", got, want)
	}

	all := []string{"alpha/goharbor/core CVE-2021-44228", "alpha/goharbor/core CVE-2022-0001",
		"alpha/goharbor/portal CVE-2022-1234", "alpha/multi CVE-2023-1111", "alpha/multi CVE-2023-2222",
		"alpha/nginx CVE-2020-5555"}
	for _, c := range []struct {
		name string
		p    export.Params
		want []string
	}{
		{"no filter: the whole project, without the SBOM's findings", export.Params{Projects: []int{s.alpha}}, all},
		{"several projects", export.Params{Projects: []int{s.alpha, s.beta}}, append(slices.Clone(all), "beta/app CVE-2021-44228")},
		{"repository without its project prefix, with {a,b}", export.Params{Projects: []int{s.alpha}, Repositories: "{goharbor/*,nginx}"},
			[]string{"alpha/goharbor/core CVE-2021-44228", "alpha/goharbor/core CVE-2022-0001", "alpha/goharbor/portal CVE-2022-1234", "alpha/nginx CVE-2020-5555"}},
		{"the project prefix does not match", export.Params{Projects: []int{s.alpha}, Repositories: "alpha/*"}, nil},
		{"** crosses segments", export.Params{Projects: []int{s.alpha}, Repositories: "**/portal"}, []string{"alpha/goharbor/portal CVE-2022-1234"}},
		{"tags: untagged kept, index children follow their index's tag", export.Params{Projects: []int{s.alpha}, Tags: "v*"},
			[]string{"alpha/goharbor/core CVE-2021-44228", "alpha/goharbor/core CVE-2022-0001", "alpha/nginx CVE-2020-5555"}},
		{"tags: children inherit a matching tag", export.Params{Projects: []int{s.alpha}, Tags: "rel?ase"},
			[]string{"alpha/multi CVE-2023-1111", "alpha/multi CVE-2023-2222", "alpha/nginx CVE-2020-5555"}},
		{"labels: own or inherited from the index", export.Params{Projects: []int{s.alpha}, Labels: []int{s.label, 999999}},
			[]string{"alpha/goharbor/core CVE-2021-44228", "alpha/goharbor/core CVE-2022-0001", "alpha/multi CVE-2023-1111", "alpha/multi CVE-2023-2222"}},
		{"cve glob with alternatives", export.Params{Projects: []int{s.alpha, s.beta}, CVEIDs: "{CVE-2021-44228,CVE-2023-*}"},
			[]string{"alpha/goharbor/core CVE-2021-44228", "alpha/multi CVE-2023-1111", "alpha/multi CVE-2023-2222", "beta/app CVE-2021-44228"}},
		{"filters combine", export.Params{Projects: []int{s.alpha}, Repositories: "**", Tags: "v1.*", Labels: []int{s.label}, CVEIDs: "CVE-2022-*"},
			[]string{"alpha/goharbor/core CVE-2022-0001"}},
		{"nothing matches", export.Params{Projects: []int{s.beta}, CVEIDs: "CVE-1999-*"}, nil},
	} {
		if got := pairs(s.export(c.p)); !slices.Equal(got, c.want) {
			t.Errorf("%s: rows\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
}

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p     export.Params
		field string
	}{
		{export.Params{}, "projects"},
		{export.Params{Projects: []int{1}, Repositories: "{a,b"}, "repositories"},
		{export.Params{Projects: []int{1}, Tags: "[v"}, "tags"},
		{export.Params{Projects: []int{1}, CVEIDs: "CVE 2021"}, "cveIds"},
	} {
		var fe *export.FieldError
		if err := c.p.Validate(); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", c.p, err, c.field)
		}
	}
}

// TestGlobsMatchDoublestar checks the SQL translation of globs against doublestar itself, on
// PostgreSQL: the export must keep exactly what Harbor's matcher keeps.
func TestGlobsMatchDoublestar(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, servertest.BaseDatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	names := []string{"goharbor", "goharbor/core", "goharbor/core/x", "nginx", "nginx.v2", "a", "ab", "abc",
		"a/b", "a/b/c", "x/a/b", "v1.0", "v10", "v1x0", "CVE-2021-44228", "CVE-2022-1", "release", "a+b", "a(b)", "a$", "a]", "b"}
	globs := []string{"*", "**", "goharbor/*", "goharbor/**", "**/core", "{goharbor/*,nginx}", "nginx*", "a?", "a*",
		"[ab]", "[!a]", "a/**/c", "**/b", "v1.*", "v1.0", "{CVE-2021-44228,CVE-2022-*}", "a+b", "a(b)", "a$", "{a,{b,ab}}",
		"a/*/c", "*/*", `a\*`, "**/b/**"}
	for _, g := range globs {
		p := export.Params{Projects: []int{1}, Repositories: g}
		if err := p.Validate(); err != nil {
			t.Errorf("glob %q: %v", g, err)
			continue
		}
		_, args := p.Query()
		re := args[1].(string)
		for _, n := range names {
			want, _ := doublestar.Match(g, n)
			var got bool
			if err := conn.QueryRow(ctx, "SELECT $1 ~ $2", n, re).Scan(&got); err != nil {
				t.Fatalf("glob %q as %q: %v", g, re, err)
			}
			if got != want {
				t.Errorf("glob %q (regex %q) on %q: SQL %v, doublestar %v", g, re, n, got, want)
			}
		}
	}
}
