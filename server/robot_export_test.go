package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// A robot holding the export permission runs Harbor's CVE export flow end to end over REST with
// HTTP Basic, as a CI job would: start, poll the execution, download the CSV once. A robot of the
// same project without the permission is refused, and the execution is the robot's alone.
func TestRobotRunsCVEExport(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.AdvisoryDir = osvFixtures })
	projectID := env.CreateProject("sec", false)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	pushDebian(t, crane, env.Host+"/sec/deb:12")
	id := artifactIDOf(t, env, crane, env.Host+"/sec/deb:12")
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": id}, nil)
	if o := waitScan(t, env, ref{"sec/deb", "12"}); o.Status != "SUCCESS" || o.Total == 0 {
		t.Fatalf("scan: %+v", o)
	}

	create := func(name string, perms ...string) createdRobot {
		var out struct{ CreateRobot createdRobot }
		env.MustGraphQL("admin", servertest.AdminPassword, createRobotMutation, map[string]any{"in": robotInput(&projectID, name, perms...)}, &out)
		return out.CreateRobot
	}
	exporter := create("exporter", "sec export-cve create")
	puller := create("puller", "sec repository pull")

	call := func(method, path string, robot createdRobot, body string) (int, []byte, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, env.URL+path, strings.NewReader(body))
		req.SetBasicAuth(robot.Robot.Name, robot.Secret)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Scan-Data-Type", "application/vnd.security.vulnerability.report; version=1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header
	}
	start := fmt.Sprintf(`{"job_name": "nightly", "projects": [%d], "repositories": "**", "tags": "**", "cveIds": "CVE-*"}`, projectID)

	if code, body, _ := call(http.MethodPost, "/api/v2.0/export/cve", puller, start); code != http.StatusForbidden {
		t.Fatalf("robot without the export permission: %d %s, want 403", code, body)
	}
	code, body, _ := call(http.MethodPost, "/api/v2.0/export/cve", exporter, start)
	if code != http.StatusOK {
		t.Fatalf("start as robot: %d %s", code, body)
	}
	var started struct{ ID int }
	if err := json.Unmarshal(body, &started); err != nil || started.ID == 0 {
		t.Fatalf("start answer %s: %v", body, err)
	}

	execution := fmt.Sprintf("/api/v2.0/export/cve/execution/%d", started.ID)
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body, _ := call(http.MethodGet, execution, exporter, "")
		var e struct {
			Status      string `json:"status"`
			FilePresent bool   `json:"file_present"`
		}
		_ = json.Unmarshal(body, &e)
		if code != http.StatusOK {
			t.Fatalf("execution: %d %s", code, body)
		}
		if e.Status == "Success" && e.FilePresent {
			break
		}
		if e.Status == "Error" || e.Status == "Stopped" || time.Now().After(deadline) {
			t.Fatalf("execution did not succeed: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, _ := call(http.MethodGet, execution, puller, ""); code == http.StatusOK {
		t.Fatal("another robot reads the exporter's execution")
	}

	download := fmt.Sprintf("/api/v2.0/export/cve/download/%d", started.ID)
	code, csv, header := call(http.MethodGet, download, exporter, "")
	if code != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "text/csv") {
		t.Fatalf("download: %d %s", code, header.Get("Content-Type"))
	}
	for _, want := range []string{"CVE-2023-45853", "sec/deb", "zlib"} {
		if !strings.Contains(string(csv), want) {
			t.Errorf("CSV lacks %q:\n%s", want, csv)
		}
	}
	if code, _, _ := call(http.MethodGet, download, exporter, ""); code != http.StatusNotFound {
		t.Fatalf("second download: %d, want 404", code)
	}
}
