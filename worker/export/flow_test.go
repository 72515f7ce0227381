package export_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/ent/cveexport"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/export"
)

const scanDataType = "application/vnd.security.vulnerability.report; version=1.1"

// call makes a REST request as user and returns the status and body.
func (f *fixture) call(user, password, method, path string, body any, header map[string]string) (int, []byte, http.Header) {
	f.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.env.URL+path, r)
	req.SetBasicAuth(user, password)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header
}

type execution struct {
	ID          int    `json:"id"`
	UserID      int    `json:"user_id"`
	UserName    string `json:"user_name"`
	Status      string `json:"status"`
	StatusText  string `json:"status_text"`
	Trigger     string `json:"trigger"`
	StartTime   string `json:"start_time"`
	FilePresent bool   `json:"file_present"`
}

// wait polls the execution until it has finished.
func (f *fixture) wait(user, password string, id int) execution {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, body, _ := f.call(user, password, "GET", fmt.Sprintf("/api/v2.0/export/cve/execution/%d", id), nil, nil)
		if status != http.StatusOK {
			f.t.Fatalf("execution %d: %d %s", id, status, body)
		}
		var e execution
		if err := json.Unmarshal(body, &e); err != nil {
			f.t.Fatal(err)
		}
		if e.Status != "Pending" && e.Status != "Running" {
			return e
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("execution %d still %s after 60s", id, e.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHarborCurlFlow runs the seed's three curl commands as written (start, status, download)
// against Berth, then checks the file, the one-time download and the execution's fields.
func TestHarborCurlFlow(t *testing.T) {
	t.Parallel()
	s := setupScanned(t)
	curl := func(args ...string) string {
		return servertest.Run(t, nil, "curl", append([]string{"-sS", "-u", "admin:" + servertest.AdminPassword}, args...)...)
	}
	body := fmt.Sprintf(`{"job_name":"scan-data-export","projects":[%d],"labels":[],"repositories":"{goharbor/*,nginx}","cveIds":"","tags":"**"}`, s.alpha)
	out := curl("-X", "POST", "-H", "X-Scan-Data-Type: "+scanDataType, "-H", "Content-Type: application/json",
		"-d", body, s.env.URL+"/api/v2.0/export/cve")
	var started struct{ ID int }
	if err := json.Unmarshal([]byte(out), &started); err != nil || started.ID == 0 {
		t.Fatalf("POST /export/cve = %s", out)
	}
	done := s.wait("admin", servertest.AdminPassword, started.ID)
	out = curl(fmt.Sprintf("%s/api/v2.0/export/cve/execution/%d", s.env.URL, started.ID))
	var e execution
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatal(err)
	}
	if e != done || e.Status != "Success" || !e.FilePresent || e.UserName != "admin" || e.UserID != 1 || e.Trigger != "MANUAL" || e.StartTime == "" {
		t.Fatalf("execution = %s", out)
	}
	status, list, _ := s.call("admin", servertest.AdminPassword, "GET", "/api/v2.0/export/cve/executions", nil, nil)
	if status != 200 || !strings.Contains(string(list), fmt.Sprintf(`"id":%d`, started.ID)) {
		t.Fatalf("executions = %d %s", status, list)
	}

	dir := t.TempDir()
	headers := filepath.Join(dir, "headers")
	curl("-D", headers, "-o", filepath.Join(dir, "out.csv"), fmt.Sprintf("%s/api/v2.0/export/cve/download/%d", s.env.URL, started.ID))
	got, _ := os.ReadFile(filepath.Join(dir, "out.csv"))
	hdr, _ := os.ReadFile(headers)
	var want bytes.Buffer
	if _, _, _, err := export.WriteCSV(context.Background(), s.pool, export.Params{Projects: []int{s.alpha}, Repositories: "{goharbor/*,nginx}", Tags: "**"}, &want, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) || strings.Count(string(got), "\n") != 5 {
		t.Errorf("downloaded CSV:\n%s\nwant:\n%s", got, want.Bytes())
	}
	if !strings.Contains(string(hdr), "Content-Type: text/csv") ||
		!strings.Contains(string(hdr), fmt.Sprintf(`Content-Disposition: attachment; filename="scandata_export_%d.csv"`, started.ID)) {
		t.Errorf("download headers:\n%s", hdr)
	}

	// After the download the file and the execution are gone.
	if status, body, _ := s.call("admin", servertest.AdminPassword, "GET", fmt.Sprintf("/api/v2.0/export/cve/download/%d", started.ID), nil, nil); status != 404 {
		t.Errorf("second download = %d %s, want 404", status, body)
	}
	if status, _, _ := s.call("admin", servertest.AdminPassword, "GET", fmt.Sprintf("/api/v2.0/export/cve/execution/%d", started.ID), nil, nil); status != 404 {
		t.Errorf("execution after download = %d, want 404", status)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.env.DataDir, "registry", "berth", "cve-exports", fmt.Sprint(started.ID))); len(entries) != 0 {
		t.Errorf("files left after the download: %v", entries)
	}
}

func TestExportRequestsAndPermissions(t *testing.T) {
	t.Parallel()
	s := setupScanned(t)
	env := s.env
	for _, u := range []string{"dev", "guest", "limited", "stranger", "other"} {
		env.CreateUser(u, u+"-password")
	}
	env.AddMember(s.alpha, "dev", "developer")
	env.AddMember(s.alpha, "guest", "guest")
	env.AddMember(s.alpha, "limited", "limited_guest")
	env.AddMember(s.alpha, "other", "maintainer")
	hdr := map[string]string{"X-Scan-Data-Type": scanDataType}
	start := func(user string, body map[string]any, header map[string]string) (int, string) {
		status, out, _ := s.call(user, user+"-password", "POST", "/api/v2.0/export/cve", body, header)
		return status, string(out)
	}
	alpha := map[string]any{"job_name": "j", "projects": []int{s.alpha}}

	for _, c := range []struct {
		name, user string
		body       map[string]any
		header     map[string]string
		status     int
		says       string
	}{
		{"no X-Scan-Data-Type", "dev", alpha, nil, 400, "X-Scan-Data-Type"},
		{"another X-Scan-Data-Type", "dev", alpha, map[string]string{"X-Scan-Data-Type": "application/json"}, 400, "X-Scan-Data-Type"},
		{"a bad glob names its field", "dev", map[string]any{"projects": []int{s.alpha}, "repositories": "{a,b"}, hdr, 400, "repositories"},
		{"a space in a filter", "dev", map[string]any{"projects": []int{s.alpha}, "cveIds": "CVE 1"}, hdr, 400, "cveIds"},
		{"no project", "dev", map[string]any{"projects": []int{}}, hdr, 400, "projects"},
		{"guest", "guest", alpha, hdr, 403, "FORBIDDEN"},
		{"limited guest", "limited", alpha, hdr, 403, "FORBIDDEN"},
		{"non-member: the private project is not found", "stranger", alpha, hdr, 404, "NOT_FOUND"},
		{"a developer of only one of the projects", "dev", map[string]any{"projects": []int{s.alpha, s.beta}}, hdr, 404, "NOT_FOUND"},
	} {
		if status, out := start(c.user, c.body, c.header); status != c.status || !strings.Contains(out, c.says) {
			t.Errorf("%s: %d %s, want %d mentioning %s", c.name, status, out, c.status, c.says)
		}
	}
	// The same bad glob through GraphQL: BAD_USER_INPUT naming the field.
	r := env.GraphQL("dev", "dev-password", `mutation($p: ID!) { exportCVE(input: {projects: [$p], tags: "[v"}) { id } }`, map[string]any{"p": s.alpha})
	if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "tags") {
		t.Errorf("GraphQL bad glob: %+v", r.Errors)
	}

	// A developer exports, with an identity token this time; nobody else may see, list or download it.
	tokenReq, _ := http.NewRequest(http.MethodGet, env.URL+"/service/token?service=berth", nil)
	tokenReq.SetBasicAuth("dev", "dev-password")
	tokenResp, err := http.DefaultClient.Do(tokenReq)
	if err != nil {
		t.Fatal(err)
	}
	var token struct{ Token string }
	_ = json.NewDecoder(tokenResp.Body).Decode(&token)
	tokenResp.Body.Close()
	b, _ := json.Marshal(map[string]any{"projects": []int{s.alpha}, "cveIds": "CVE-2021-*"})
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/api/v2.0/export/cve", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token.Token)
	req.Header.Set("X-Scan-Data-Type", scanDataType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	status, out := resp.StatusCode, string(raw)
	if status != 200 {
		t.Fatalf("developer export: %d %s", status, out)
	}
	var started struct{ ID int }
	_ = json.Unmarshal([]byte(out), &started)
	e := s.wait("dev", "dev-password", started.ID)
	if e.Status != "Success" || !e.FilePresent {
		t.Fatalf("developer's export: %+v", e)
	}
	for _, path := range []string{"/api/v2.0/export/cve/execution/%d", "/api/v2.0/export/cve/download/%d"} {
		if status, _, _ := s.call("other", "other-password", "GET", fmt.Sprintf(path, started.ID), nil, nil); status != 403 {
			t.Errorf("another user GET %s = %d, want 403", path, status)
		}
	}
	if _, list, _ := s.call("other", "other-password", "GET", "/api/v2.0/export/cve/executions", nil, nil); string(list) != "{\"items\":[]}\n" {
		t.Errorf("another user's list = %s", list)
	}
	if r := env.GraphQL("other", "other-password", `mutation($id: ID!) { stopCVEExport(id: $id) { id } }`, map[string]any{"id": started.ID}); r.Code() != "FORBIDDEN" {
		t.Errorf("another user stopping it: %+v", r.Errors)
	}
	var q struct {
		CveExport struct {
			Status      string
			Rows        int
			Size        int
			Digest      string
			DownloadURL string
		}
	}
	env.MustGraphQL("dev", "dev-password", `query($id: ID!) { cveExport(id: $id) { status rows size digest downloadURL } }`, map[string]any{"id": started.ID}, &q)
	status, csv, _ := s.call("dev", "dev-password", "GET", q.CveExport.DownloadURL, nil, nil)
	sum := sha256.Sum256(csv)
	if status != 200 || q.CveExport.Status != "SUCCESS" || q.CveExport.Rows != 1 || q.CveExport.Size != len(csv) ||
		q.CveExport.Digest != "sha256:"+hex.EncodeToString(sum[:]) || !strings.Contains(string(csv), "alpha/goharbor/core") {
		t.Errorf("export %+v, download %d:\n%s", q.CveExport, status, csv)
	}

	// Nothing matched: Success, Harbor's status text, no file.
	status, raw, _ = s.call("admin", servertest.AdminPassword, "POST", "/api/v2.0/export/cve", map[string]any{"projects": []int{s.beta}, "cveIds": "CVE-1999-*"}, hdr)
	out = string(raw)
	if status != 200 {
		t.Fatalf("admin export: %d %s", status, out)
	}
	_ = json.Unmarshal([]byte(out), &started)
	e = s.wait("admin", servertest.AdminPassword, started.ID)
	if e.Status != "Success" || e.StatusText != export.NothingMatched || e.FilePresent {
		t.Errorf("empty export: %+v", e)
	}
	if status, _, _ := s.call("admin", servertest.AdminPassword, "GET", fmt.Sprintf("/api/v2.0/export/cve/download/%d", started.ID), nil, nil); status != 404 {
		t.Errorf("download of an empty export = %d, want 404", status)
	}
}

// TestExecutionsKeptAndExpired: a user keeps the newest 50 executions; an undownloaded file
// past its time is deleted with its execution.
func TestExecutionsKeptAndExpired(t *testing.T) {
	t.Parallel()
	s := setupScanned(t)
	ctx := context.Background()
	for i := 0; i < 55; i++ {
		s.env.DB.CVEExport.Create().SetOwner("admin").SetOwnerUserID(1).SetParams(map[string]any{}).
			SetStatus(cveexport.StatusSuccess).SetStatusText(export.NothingMatched).ExecX(ctx)
	}
	status, out, _ := s.call("admin", servertest.AdminPassword, "POST", "/api/v2.0/export/cve",
		map[string]any{"projects": []int{s.alpha}}, map[string]string{"X-Scan-Data-Type": scanDataType})
	if status != 200 {
		t.Fatalf("start: %d %s", status, out)
	}
	var started struct{ ID int }
	_ = json.Unmarshal(out, &started)
	if n := s.env.DB.CVEExport.Query().Where(cveexport.Owner("admin")).CountX(ctx); n != 50 {
		t.Errorf("admin keeps %d executions, want 50", n)
	}
	if s.wait("admin", servertest.AdminPassword, started.ID).Status != "Success" {
		t.Fatal("export failed")
	}
	file := filepath.Join(s.env.DataDir, "registry", "berth", "cve-exports", fmt.Sprint(started.ID), export.FileName(started.ID))
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the file is not in the registry's storage: %v", err)
	}
	e := s.env.DB.CVEExport.GetX(ctx, started.ID)
	if e.ExpiresAt == nil || e.ExpiresAt.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("expires at %v, want 24 hours from now", e.ExpiresAt)
	}
	e.Update().SetExpiresAt(time.Now().Add(-time.Minute)).ExecX(ctx)
	svc := export.NewService(s.pool, s.env.DB, s.storage(), slog.Default())
	if n, err := svc.Expire(ctx); err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("expired file still there: %v", err)
	}
	if status, _, _ := s.call("admin", servertest.AdminPassword, "GET", fmt.Sprintf("/api/v2.0/export/cve/execution/%d", started.ID), nil, nil); status != 404 {
		t.Errorf("expired execution = %d, want 404", status)
	}
}
