package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// An OSV record whose id only starts like a CVE id ("CVE-2099-0001-OSV") is reported under its
// CVE alias everywhere: GraphQL, Harbor's REST report, the export CSV, and the cveIds filter.
func TestVulnerabilityReportedUnderItsCVEAlias(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	record := `{"schema_version": "1.6.0", "id": "CVE-2099-0001-OSV", "modified": "2099-01-01T00:00:00Z",
  "aliases": ["CVE-2099-0001"], "details": "A record named like a CVE that is not one.",
  "database_specific": {"severity": "HIGH"},
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "tar"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.35+dfsg-1"}]}]}]}`
	if err := os.WriteFile(filepath.Join(dir, "CVE-2099-0001-OSV.json"), []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	env := servertest.Start(t, func(c *server.Config) { c.AdvisoryDir = dir })
	projectID := env.CreateProject("cve", false)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	pushDebian(t, crane, env.Host+"/cve/deb:12")
	id := artifactIDOf(t, env, crane, env.Host+"/cve/deb:12")
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": id}, nil)
	deb := ref{"cve/deb", "12"}
	if o := waitScan(t, env, deb); o.Status != "SUCCESS" || o.Total != 1 {
		t.Fatalf("scan: %+v", o)
	}

	if got := findings(t, env, deb, nil); len(got) != 1 || got[0] != "CVE-2099-0001 tar 1.34+dfsg-1.2 1.35+dfsg-1 HIGH" {
		t.Errorf("GraphQL findings: %q", got)
	}

	call := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, env.URL+path, strings.NewReader(body))
		req.SetBasicAuth("admin", servertest.AdminPassword)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Scan-Data-Type", "application/vnd.security.vulnerability.report; version=1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := call(http.MethodGet, "/api/v2.0/projects/cve/repositories/deb/artifacts/12/additions/vulnerabilities", "")
	var report map[string]struct {
		Vulnerabilities []struct {
			ID string `json:"id"`
		} `json:"vulnerabilities"`
	}
	_ = json.Unmarshal(body, &report)
	vulns := report["application/vnd.security.vulnerability.report; version=1.1"].Vulnerabilities
	if code != http.StatusOK || len(vulns) != 1 || vulns[0].ID != "CVE-2099-0001" {
		t.Errorf("REST report: %d %s", code, body)
	}

	// The export filtered by the CVE id finds the row and writes the CVE id.
	code, body = call(http.MethodPost, "/api/v2.0/export/cve",
		fmt.Sprintf(`{"job_name": "cve", "projects": [%d], "cveIds": "CVE-2099-0001"}`, projectID))
	var started struct{ ID int }
	if err := json.Unmarshal(body, &started); code != http.StatusOK || err != nil || started.ID == 0 {
		t.Fatalf("start export: %d %s", code, body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := call(http.MethodGet, fmt.Sprintf("/api/v2.0/export/cve/execution/%d", started.ID), "")
		var e struct {
			Status      string `json:"status"`
			FilePresent bool   `json:"file_present"`
		}
		_ = json.Unmarshal(body, &e)
		if code == http.StatusOK && e.Status == "Success" && e.FilePresent {
			break
		}
		if e.Status == "Success" || e.Status == "Error" || e.Status == "Stopped" || time.Now().After(deadline) {
			t.Fatalf("export did not succeed: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, csv := call(http.MethodGet, fmt.Sprintf("/api/v2.0/export/cve/download/%d", started.ID), "")
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if code != http.StatusOK || len(lines) != 2 || !strings.Contains(lines[1], ",CVE-2099-0001,tar,") || strings.Contains(string(csv), "-OSV,") {
		t.Errorf("CSV filtered by cveIds CVE-2099-0001: %d\n%s", code, csv)
	}
}
