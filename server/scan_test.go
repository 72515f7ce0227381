package server_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// osvFixtures is the small OSV advisory set the scanner tests match against.
var osvFixtures = filepath.Join("..", "testdata", "osv")

// layerEntry is one file (or, with link set, symlink) in a test layer.
type layerEntry struct{ name, content, link string }

// buildLayer writes an uncompressed tar layer holding entries.
func buildLayer(t *testing.T, entries ...layerEntry) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "layer.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.content)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if e.link != "" {
			h = &tar.Header{Name: e.name, Linkname: e.link, Mode: 0o777, Typeflag: tar.TypeSymlink, ModTime: time.Unix(0, 0)}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.link == "" {
			if _, err := tw.Write([]byte(e.content)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

const dpkgStatus = `Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.11-1~deb12u1
Description: Secure Sockets Layer toolkit

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u1
Description: Secure Sockets Layer toolkit - shared libraries

Package: curl
Status: install ok installed
Architecture: amd64
Version: 7.88.1-10+deb12u5
Description: command line tool for transferring data with URL syntax

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime

Package: bash
Status: install ok installed
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b2
Description: GNU Bourne Again SHell

Package: tar
Status: install ok installed
Architecture: amd64
Version: 1.34+dfsg-1.2
Description: GNU version of the tar archiving utility

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
Description: removed, only its configuration files are left
`

const apkInstalled = `C:Q1Gv0J4n2Fq3ZxJjvP5m2Lr1t0Vg8=
P:busybox
V:1.36.1-r15
A:x86_64
o:busybox
T:Size optimized toolbox of many common UNIX utilities

C:Q1Hk0J4n2Fq3ZxJjvP5m2Lr1t0Vg9=
P:ssl_client
V:1.36.1-r15
A:x86_64
o:busybox
T:EXternal ssl_client for busybox wget

C:Q1Ik0J4n2Fq3ZxJjvP5m2Lr1t0Vg0=
P:libcrypto3
V:3.1.4-r5
A:x86_64
o:openssl
T:Crypto library from openssl

C:Q1Jk0J4n2Fq3ZxJjvP5m2Lr1t0Vg1=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
o:musl
T:the musl c library (libc) implementation
`

// pushDebian pushes a Debian 12-like image: os-release through a symlink, a dpkg status, and an
// apk database that a later layer's whiteout removes (so it must not be scanned).
func pushDebian(t *testing.T, crane func(...string) (string, error), ref string) {
	t.Helper()
	l1 := buildLayer(t,
		layerEntry{name: "usr/lib/os-release", content: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"},
		layerEntry{name: "etc/os-release", link: "../usr/lib/os-release"},
		layerEntry{name: "var/lib/dpkg/status", content: dpkgStatus},
		layerEntry{name: "lib/apk/db/installed", content: apkInstalled})
	l2 := buildLayer(t, layerEntry{name: "lib/apk/db/.wh.installed"}, layerEntry{name: "etc/motd", content: "hi\n"})
	if out, err := crane("append", "-f", l1, "-f", l2, "-t", ref); err != nil {
		t.Fatalf("push %s: %v\n%s", ref, err, out)
	}
}

// pushAlpine pushes an Alpine 3.19-like image.
func pushAlpine(t *testing.T, crane func(...string) (string, error), ref string) {
	t.Helper()
	l := buildLayer(t,
		layerEntry{name: "etc/os-release", content: "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n"},
		layerEntry{name: "lib/apk/db/installed", content: apkInstalled})
	if out, err := crane("append", "-f", l, "-t", ref); err != nil {
		t.Fatalf("push %s: %v\n%s", ref, err, out)
	}
}

// artifactIDOf returns the id of the artifact ref (repo:tag) points at.
func artifactIDOf(t *testing.T, env *servertest.Env, crane func(...string) (string, error), ref string) int {
	t.Helper()
	dgst, err := crane("digest", ref)
	if err != nil {
		t.Fatalf("digest %s: %v", ref, err)
	}
	id, err := env.DB.Artifact.Query().Where(artifact.Digest(strings.TrimSpace(dgst))).FirstID(context.Background())
	if err != nil {
		t.Fatalf("artifact %s: %v", ref, err)
	}
	return id
}

// ref names an artifact as the artifact query does.
type ref struct{ repo, tag string }

func (r ref) String() string { return r.repo + ":" + r.tag }

func (r ref) vars(more map[string]any) map[string]any {
	v := map[string]any{"repo": r.repo, "ref": r.tag}
	for k, x := range more {
		v[k] = x
	}
	return v
}

type scanOverview struct {
	Status   string
	Severity string
	Total    int
	Fixable  int
	Summary  map[string]int
	Reports  []struct{ ID, Status, Log string }
}

// waitScan polls the artifact's scan overview until its scan has ended.
func waitScan(t *testing.T, env *servertest.Env, a ref) scanOverview {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var out struct {
			Artifact struct{ ScanOverview *scanOverview }
		}
		env.MustGraphQL("admin", servertest.AdminPassword, `query($repo: String!, $ref: String!) { artifact(repository: $repo, reference: $ref) { scanOverview {
  status severity total fixable summary { critical high medium low none unknown } reports { id status log } } } }`,
			a.vars(nil), &out)
		if o := out.Artifact.ScanOverview; o != nil && o.Status != "RUNNING" {
			return *o
		}
		if time.Now().After(deadline) {
			t.Fatalf("scan of %s did not end: %+v", a, out.Artifact.ScanOverview)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// findings lists an artifact's vulnerabilities as "CVE package version fixed severity" lines.
func findings(t *testing.T, env *servertest.Env, a ref, filter map[string]any) []string {
	t.Helper()
	var out struct {
		Artifact struct {
			Vulnerabilities struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						CveID, Package, PackageVersion, FixedVersion, Severity string
					}
				}
			}
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `query($repo: String!, $ref: String!, $filter: VulnerabilityFilter) { artifact(repository: $repo, reference: $ref) {
  vulnerabilities(first: 100, filter: $filter) { totalCount edges { node { cveID package packageVersion fixedVersion severity } } } } }`,
		a.vars(map[string]any{"filter": filter}), &out)
	var lines []string
	for _, e := range out.Artifact.Vulnerabilities.Edges {
		n := e.Node
		lines = append(lines, fmt.Sprintf("%s %s %s %s %s", n.CveID, n.Package, n.PackageVersion, n.FixedVersion, n.Severity))
	}
	if len(lines) != out.Artifact.Vulnerabilities.TotalCount {
		t.Errorf("totalCount %d, %d edges", out.Artifact.Vulnerabilities.TotalCount, len(lines))
	}
	sort.Strings(lines)
	return lines
}

func TestBuiltinScannerFindsFixtureVulnerabilities(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.AdvisoryDir = osvFixtures })
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	pushDebian(t, crane, env.Host+"/library/deb:12")
	pushAlpine(t, crane, env.Host+"/library/alp:3.19")
	debID := artifactIDOf(t, env, crane, env.Host+"/library/deb:12")
	alpID := artifactIDOf(t, env, crane, env.Host+"/library/alp:3.19")
	deb, alp := ref{"library/deb", "12"}, ref{"library/alp", "3.19"}

	var none struct {
		Artifact struct{ ScanOverview *scanOverview }
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `query($repo: String!, $ref: String!) { artifact(repository: $repo, reference: $ref) { scanOverview { status } } }`, deb.vars(nil), &none)
	if none.Artifact.ScanOverview != nil {
		t.Fatalf("an unscanned artifact has an overview: %+v", none.Artifact.ScanOverview)
	}
	for _, id := range []int{debID, alpID} {
		var started struct{ ScanArtifact []struct{ ID, Status string } }
		env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id status } }`, map[string]any{"id": id}, &started)
		if len(started.ScanArtifact) != 1 {
			t.Fatalf("scanArtifact returned %+v", started.ScanArtifact)
		}
	}

	o := waitScan(t, env, deb)
	if o.Status != "SUCCESS" || o.Severity != "CRITICAL" || o.Total != 6 || o.Fixable != 5 ||
		o.Summary["critical"] != 1 || o.Summary["high"] != 5 {
		t.Fatalf("Debian overview: %+v", o)
	}
	want := []string{
		"CVE-2023-45853 zlib1g 1:1.2.13.dfsg-1  HIGH",
		"CVE-2023-5363 libssl3 3.0.11-1~deb12u1 3.0.11-1~deb12u2 HIGH",
		"CVE-2023-5363 openssl 3.0.11-1~deb12u1 3.0.11-1~deb12u2 HIGH",
		"CVE-2023-5678 libssl3 3.0.11-1~deb12u1 3.0.11-1~deb12u2 HIGH",
		"CVE-2023-5678 openssl 3.0.11-1~deb12u1 3.0.11-1~deb12u2 HIGH",
		"CVE-2024-2398 curl 7.88.1-10+deb12u5 7.88.1-10+deb12u6 CRITICAL",
	}
	if got := findings(t, env, deb, nil); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Debian findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	o = waitScan(t, env, alp)
	if o.Status != "SUCCESS" || o.Severity != "MEDIUM" || o.Total != 3 || o.Fixable != 3 || o.Summary["medium"] != 2 || o.Summary["unknown"] != 1 {
		t.Fatalf("Alpine overview: %+v", o)
	}
	want = []string{
		"CVE-2023-42363 busybox 1.36.1-r15 1.36.1-r16 MEDIUM",
		"CVE-2023-42363 ssl_client 1.36.1-r15 1.36.1-r16 MEDIUM",
		"CVE-2024-2511 libcrypto3 3.1.4-r5 3.1.4-r6 UNKNOWN",
	}
	if got := findings(t, env, alp, nil); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Alpine findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Harbor's REST shapes: the report addition, and starting a scan.
	rest := func(method, path, user string) (int, map[string]any) {
		req, _ := http.NewRequest(method, env.URL+"/api/v2.0/projects/library/repositories/"+path, nil)
		if user != "" {
			req.SetBasicAuth(user, servertest.AdminPassword)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	status, body := rest(http.MethodGet, "alp/artifacts/3.19/additions/vulnerabilities", "admin")
	report, _ := body["application/vnd.security.vulnerability.report; version=1.1"].(map[string]any)
	if status != http.StatusOK || report == nil || report["severity"] != "Medium" || len(report["vulnerabilities"].([]any)) != 3 ||
		report["scanner"].(map[string]any)["name"] != "Berth" {
		t.Errorf("REST report: %d %v", status, body)
	}
	first := report["vulnerabilities"].([]any)[0].(map[string]any)
	if first["id"] != "CVE-2023-42363" || first["severity"] != "Medium" || first["fix_version"] != "1.36.1-r16" {
		t.Errorf("REST report's first finding: %v", first)
	}
	if status, _ := rest(http.MethodPost, "alp/artifacts/3.19/scan", ""); status != http.StatusUnauthorized {
		t.Errorf("anonymous REST scan: %d", status)
	}
	if status, _ := rest(http.MethodPost, "alp/artifacts/3.19/scan", "admin"); status != http.StatusAccepted {
		t.Errorf("REST scan: %d", status)
	}
	waitScan(t, env, alp)

	// Filters.
	for _, c := range []struct {
		filter map[string]any
		want   int
	}{
		{map[string]any{"severities": []string{"CRITICAL"}}, 1},
		{map[string]any{"severities": []string{"HIGH", "CRITICAL"}}, 6},
		{map[string]any{"package": "openssl"}, 2},
		{map[string]any{"cveID": "cve-2023-5"}, 4},
		{map[string]any{"fixable": false}, 1},
		{map[string]any{"fixable": true, "package": "curl"}, 1},
	} {
		if got := findings(t, env, deb, c.filter); len(got) != c.want {
			t.Errorf("filter %v: %d findings, want %d: %v", c.filter, len(got), c.want, got)
		}
	}

	// The CVSS details reach the record.
	var curl struct {
		Artifact struct {
			Vulnerabilities struct {
				Edges []struct {
					Node struct {
						CvssScoreV3  float64
						CvssVectorV3 string
						CweIds       []string
						Links        []string
					}
				}
			}
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `query($repo: String!, $ref: String!) { artifact(repository: $repo, reference: $ref) { vulnerabilities(first: 1, filter: {package: "curl"}) {
  edges { node { cvssScoreV3 cvssVectorV3 cweIds links } } } } }`, deb.vars(nil), &curl)
	if e := curl.Artifact.Vulnerabilities.Edges; len(e) != 1 || e[0].Node.CvssScoreV3 != 9.8 || len(e[0].Node.CweIds) != 1 || e[0].Node.CweIds[0] != "CWE-401" {
		t.Errorf("curl's record: %+v", e)
	}

	// A rescan reuses the deduplicated records and replaces the links.
	ctx := context.Background()
	before, _ := env.DB.Vulnerability.Query().Count(ctx)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": debID}, nil)
	if o := waitScan(t, env, deb); o.Status != "SUCCESS" || o.Total != 6 {
		t.Fatalf("rescan: %+v", o)
	}
	if after, _ := env.DB.Vulnerability.Query().Count(ctx); after != before || before != 9 {
		t.Errorf("vulnerability records: %d before the rescan, %d after; want 9 both times", before, after)
	}
}

func TestScanOnPushAndPreventVulnerablePulls(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.AdvisoryDir = osvFixtures })
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	secure := env.CreateProject("secure", false)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { updateProject(id: $id, input: {
  autoScan: true, preventVulnerable: true, severityThreshold: HIGH }) { id } }`, map[string]any{"id": secure}, nil)
	manual := env.CreateProject("manual", false)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { updateProject(id: $id, input: {
  preventVulnerable: true, severityThreshold: CRITICAL }) { id } }`, map[string]any{"id": manual}, nil)

	// Not scanned (no auto scan in this project): refused with 412, saying so.
	pushDebian(t, crane, env.Host+"/manual/deb:12")
	out, err := crane("manifest", env.Host+"/manual/deb:12")
	if err == nil || !strings.Contains(out, "412") || !strings.Contains(out, "has not been scanned") {
		t.Fatalf("pull of an unscanned artifact: %v\n%s", err, out)
	}

	// Scan on push: the push alone starts the scan.
	pushDebian(t, crane, env.Host+"/secure/deb:12")
	pushAlpine(t, crane, env.Host+"/secure/alp:3.19")
	deb, alp := ref{"secure/deb", "12"}, ref{"secure/alp", "3.19"}
	if o := waitScan(t, env, deb); o.Status != "SUCCESS" || o.Total != 6 {
		t.Fatalf("scan on push: %+v", o)
	}
	if o := waitScan(t, env, alp); o.Status != "SUCCESS" || o.Total != 3 {
		t.Fatalf("scan on push: %+v", o)
	}
	rs, _ := env.DB.ScanReport.Query().All(context.Background())
	if len(rs) != 2 {
		t.Errorf("%d scan reports after two pushes to an auto-scan project, want 2", len(rs))
	}
	for _, r := range rs {
		if r.Operator != "system" {
			t.Errorf("a scan on push was started by %q, want system", r.Operator)
		}
	}

	// Critical and high findings: refused, naming them.
	out, err = crane("manifest", env.Host+"/secure/deb:12")
	if err == nil || !strings.Contains(out, "412") || !strings.Contains(out, "4 vulnerabilities of severity HIGH or higher") ||
		!strings.Contains(out, "CVE-2024-2398") {
		t.Fatalf("pull of a vulnerable artifact: %v\n%s", err, out)
	}
	// By digest too.
	dgst, _ := crane("digest", env.Host+"/secure/deb:12")
	if _, err := crane("manifest", env.Host+"/secure/deb@"+strings.TrimSpace(dgst)); err == nil {
		t.Fatal("a pull by digest of a vulnerable artifact was allowed")
	}
	// Medium findings only: below the threshold, allowed.
	if out, err := crane("manifest", env.Host+"/secure/alp:3.19"); err != nil {
		t.Fatalf("pull below the threshold: %v\n%s", err, out)
	}

	// Allowlists: the project's and the system's together cover all four.
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { updateProject(id: $id, input: {
  cveAllowlist: ["CVE-2023-45853", "CVE-2023-5363", "CVE-2023-5678"] }) { id } }`, map[string]any{"id": secure}, nil)
	out, err = crane("manifest", env.Host+"/secure/deb:12")
	if err == nil || !strings.Contains(out, "1 vulnerabilities") {
		t.Fatalf("pull with a partial allowlist: %v\n%s", err, out)
	}
	if r := env.GraphQL("admin", servertest.AdminPassword, `mutation { setSystemCVEAllowlist(cveIDs: ["not a cve"]) }`, nil); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("a bad allowlist entry: %+v", r.Errors)
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { setSystemCVEAllowlist(cveIDs: ["CVE-2024-2398"]) }`, nil, nil)
	if out, err := crane("manifest", env.Host+"/secure/deb:12"); err != nil {
		t.Fatalf("pull with every finding allowlisted: %v\n%s", err, out)
	}
}

func TestIndexScanEventsAndStop(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.AdvisoryDir = osvFixtures })
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	pushDebian(t, crane, env.Host+"/library/multi:deb")
	pushAlpine(t, crane, env.Host+"/library/multi:alp")
	debDigest, _ := crane("digest", env.Host+"/library/multi:deb")
	alpDigest, _ := crane("digest", env.Host+"/library/multi:alp")
	if out, err := crane("index", "append", "-m", env.Host+"/library/multi@"+strings.TrimSpace(debDigest),
		"-m", env.Host+"/library/multi@"+strings.TrimSpace(alpDigest), "-t", env.Host+"/library/multi:both"); err != nil {
		t.Fatalf("index append: %v\n%s", err, out)
	}
	index := artifactIDOf(t, env, crane, env.Host+"/library/multi:both")

	ws := dialGraphQLWS(t, env, "admin", servertest.AdminPassword)
	ws.subscribe(env, "1", `subscription { events(types: [SCAN_STARTED, SCAN_COMPLETED]) { type jobID repository digest } }`, nil)

	// Scanning an index scans each child; its overview and vulnerabilities are their union.
	var started struct{ ScanArtifact []struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": index}, &started)
	if len(started.ScanArtifact) != 2 {
		t.Fatalf("scanning an index of two images started %d scans", len(started.ScanArtifact))
	}
	o := waitScan(t, env, ref{"library/multi", "both"})
	if o.Status != "SUCCESS" || o.Total != 9 || len(o.Reports) != 2 || o.Severity != "CRITICAL" {
		t.Fatalf("index overview: %+v", o)
	}
	if got := findings(t, env, ref{"library/multi", "both"}, nil); len(got) != 9 {
		t.Errorf("index vulnerabilities: %v", got)
	}

	// Each scan announced its start and completion, with its report id as jobID.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seen := map[string]int{}
	for seen["SCAN_COMPLETED"] < 2 {
		m := ws.next(ctx)
		var p struct {
			Data struct {
				Events struct {
					Type, Repository, Digest string
					JobID                    int
				}
			}
		}
		b, _ := json.Marshal(m["payload"])
		_ = json.Unmarshal(b, &p)
		e := p.Data.Events
		if e.Repository != "library/multi" || (fmt.Sprint(e.JobID) != started.ScanArtifact[0].ID && fmt.Sprint(e.JobID) != started.ScanArtifact[1].ID) {
			t.Fatalf("unexpected event %s (reports %v)", b, started.ScanArtifact)
		}
		seen[e.Type]++
	}
	if seen["SCAN_STARTED"] != 2 {
		t.Errorf("events: %v", seen)
	}

	// scanProgress on a finished report sends its final state and completes.
	ws.send(map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{
		"query": `subscription($id: ID!) { scanProgress(id: $id) { status progress } }`, "variables": map[string]any{"id": started.ScanArtifact[0].ID}}})
	var last string
	for {
		m := ws.next(ctx)
		if m["id"] != "2" {
			continue
		}
		if m["type"] == "complete" {
			break
		}
		b, _ := json.Marshal(m["payload"])
		last = string(b)
	}
	if !strings.Contains(last, `"status":"SUCCESS"`) || !strings.Contains(last, `"progress":100`) {
		t.Errorf("scanProgress ended with %s", last)
	}

	// A pending scan is stopped at once. Scans of these small images finish before a test could
	// catch one pending, so one report is set back to PENDING by hand.
	rep, err := env.DB.ScanReport.Get(ctx, mustAtoi(t, started.ScanArtifact[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Update().SetStatus("PENDING").Exec(ctx); err != nil {
		t.Fatal(err)
	}
	var stopped struct{ StopScan int }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { stopScan(id: $id) }`, map[string]any{"id": index}, &stopped)
	if stopped.StopScan != 1 {
		t.Errorf("stopScan stopped %d scans, want 1", stopped.StopScan)
	}
	if o := waitScan(t, env, ref{"library/multi", "both"}); o.Status != "STOPPED" {
		t.Errorf("overview after stopping one child's scan: %+v", o)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestScanAll(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.AdvisoryDir = osvFixtures })
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	pushDebian(t, crane, env.Host+"/library/a:1")
	pushAlpine(t, crane, env.Host+"/library/b:1")
	env.CreateUser("someone", "someone-password")
	if r := env.GraphQL("someone", "someone-password", `mutation { scanAll }`, nil); r.Code() != "FORBIDDEN" {
		t.Errorf("a user starting scan all: %+v", r.Errors)
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { scanAll }`, nil, nil)
	if o := waitScan(t, env, ref{"library/a", "1"}); o.Status != "SUCCESS" || o.Total != 6 {
		t.Errorf("a after scan all: %+v", o)
	}
	if o := waitScan(t, env, ref{"library/b", "1"}); o.Status != "SUCCESS" || o.Total != 3 {
		t.Errorf("b after scan all: %+v", o)
	}

	// A report left RUNNING by a job that is gone (a crashed worker) does not block a rescan.
	ctx := context.Background()
	id := artifactIDOf(t, env, crane, env.Host+"/library/a:1")
	rep, err := env.DB.ScanReport.Query().Where(scanreport.ArtifactID(id)).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Update().SetStatus(scanreport.StatusRunning).ClearFinishedAt().Exec(ctx); err != nil {
		t.Fatal(err)
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": id}, nil)
	if o := waitScan(t, env, ref{"library/a", "1"}); o.Status != "SUCCESS" || o.Reports[0].ID != fmt.Sprint(rep.ID) {
		t.Errorf("rescan of a report whose job is gone: %+v", o)
	}
	if after, _ := env.DB.ScanReport.Get(ctx, rep.ID); after.JobID == nil || *after.JobID == *rep.JobID {
		t.Errorf("the stuck report was not given a new job: %v → %v", rep.JobID, after.JobID)
	}
}

func TestProjectCVEAllowlistRefusesWhatIsNoVulnerabilityID(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	id := env.CreateProject("allowlisted", false)
	const update = `mutation($id: ID!, $input: UpdateProjectInput!) { updateProject(id: $id, input: $input) { cveAllowlist } }`

	for name, input := range map[string]map[string]any{
		"set":        {"cveAllowlist": []string{"CVE-2024-2398", "not a cve"}},
		"append":     {"appendCveAllowlist": []string{"cve-2024-2398"}},
		"half a CVE": {"cveAllowlist": []string{"CVE-24-1"}},
	} {
		r := env.GraphQL("admin", servertest.AdminPassword, update, map[string]any{"id": id, "input": input})
		if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "is not a vulnerability id") {
			t.Errorf("%s: errors %+v; want BAD_USER_INPUT", name, r.Errors)
		}
	}
	r := env.GraphQL("admin", servertest.AdminPassword, `mutation { createProject(input: {name: "born-allowlisted", cveAllowlist: ["log4shell"]}) { id } }`, nil)
	if r.Code() != "BAD_USER_INPUT" {
		t.Errorf("create: errors %+v; want BAD_USER_INPUT", r.Errors)
	}

	if r := env.GraphQL("admin", servertest.AdminPassword, `mutation { setSystemCVEAllowlist(cveIDs: ["CVE-2024-1"]) }`, nil); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("system: errors %+v; want BAD_USER_INPUT", r.Errors)
	}

	// Nothing refused was stored; CVE and other advisory ids are accepted.
	var out struct {
		UpdateProject struct{ CveAllowlist []string } `json:"updateProject"`
	}
	env.MustGraphQL("admin", servertest.AdminPassword, update,
		map[string]any{"id": id, "input": map[string]any{"cveAllowlist": []string{"CVE-2024-2398", "GHSA-xxxx-yyyy-zzzz"}}}, &out)
	if got := strings.Join(out.UpdateProject.CveAllowlist, ","); got != "CVE-2024-2398,GHSA-xxxx-yyyy-zzzz" {
		t.Fatalf("allowlist %q", got)
	}

	// A project's scanner must exist (and be enabled).
	if r := env.GraphQL("admin", servertest.AdminPassword, update, map[string]any{"id": id, "input": map[string]any{"scannerID": 999999}}); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "does not exist") {
		t.Errorf("unknown scanner: errors %+v; want BAD_USER_INPUT", r.Errors)
	}
	if r := env.GraphQL("admin", servertest.AdminPassword, `mutation { createProject(input: {name: "ghost-scanner", scannerID: 999999}) { id } }`, nil); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("create with an unknown scanner: errors %+v; want BAD_USER_INPUT", r.Errors)
	}
}
