package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/ent/scanner"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/server/servertest"
)

// TestSecurityHeaders: the dashboard and every API answer tell the browser to be strict; HSTS is
// sent only under TLS (TestServesTLS checks that side).
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	for _, c := range []struct {
		method, path, user string
		csp                []string // parts of the Content-Security-Policy
	}{
		{http.MethodGet, "/", "", []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"}},
		{http.MethodGet, "/projects/library", "", []string{"script-src 'self'", "frame-ancestors 'none'"}},
		{http.MethodPost, "/graphql", "admin", []string{"default-src 'none'", "frame-ancestors 'none'"}},
		{http.MethodGet, "/api/v2.0/users/current", "admin", []string{"default-src 'none'"}},
		{http.MethodGet, "/v2/", "", []string{"default-src 'none'"}},
		{http.MethodGet, "/service/token", "", []string{"default-src 'none'"}},
	} {
		a := send(t, c.method, env.URL+c.path, c.user, servertest.AdminPassword, []byte(`{"query":"{ me { kind } }"}`),
			map[string]string{"Content-Type": "application/json"})
		h := a.header
		csp := h.Get("Content-Security-Policy")
		for _, part := range c.csp {
			if !strings.Contains(csp, part) {
				t.Errorf("%s %s: Content-Security-Policy %q lacks %q", c.method, c.path, csp, part)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s %s: Content-Security-Policy %q allows inline code", c.method, c.path, csp)
		}
		for name, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "strict-origin-when-cross-origin"} {
			if got := h.Get(name); got != want {
				t.Errorf("%s %s: %s is %q, want %q", c.method, c.path, name, got, want)
			}
		}
		if hsts := h.Get("Strict-Transport-Security"); hsts != "" {
			t.Errorf("%s %s: HSTS over plain HTTP: %q", c.method, c.path, hsts)
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id", c.method, c.path)
		}
	}
}

// TestUploadContentRangeMalformed: a chunk whose Content-Range is negative or not a range is bad
// input (400), never a server error.
func TestUploadContentRangeMalformed(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	const pw = servertest.AdminPassword
	a := send(t, http.MethodPost, env.URL+"/v2/library/ranged/blobs/uploads/", "admin", pw, nil, nil)
	loc, err := url.Parse(a.header.Get("Location"))
	if a.status != http.StatusAccepted || err != nil {
		t.Fatalf("start upload: %d %s", a.status, a.body)
	}
	for _, cr := range []string{"-1-4", "0--5", "-5", "abc", "0-x", "5-0", "bytes=0-4", "0-99999999999999999999"} {
		for _, method := range []string{http.MethodPatch, http.MethodPut} {
			a := send(t, method, env.URL+loc.String(), "admin", pw, []byte("hello"),
				map[string]string{"Content-Range": cr, "Content-Type": "application/octet-stream"})
			code, msg := a.apiError()
			if a.status != http.StatusBadRequest || code != "RANGE_INVALID" || !strings.Contains(msg, "Content-Range") {
				t.Errorf("%s with Content-Range %q: %d %s %s, want 400 RANGE_INVALID", method, cr, a.status, code, msg)
			}
		}
	}
	// A good range still goes through.
	a = send(t, http.MethodPatch, env.URL+loc.String(), "admin", pw, []byte("hello"),
		map[string]string{"Content-Range": "0-4", "Content-Type": "application/octet-stream"})
	if a.status != http.StatusAccepted {
		t.Errorf("PATCH with Content-Range 0-4: %d %s", a.status, a.body)
	}
}

// TestScanReportSummary: a report's summary is its counts by severity (it used to panic).
func TestScanReportSummary(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	if out, err := crane("append", "-f", layerTar(t, "f", "s"), "-t", env.Host+"/library/summed:1"); err != nil {
		t.Fatalf("push: %v %s", err, out)
	}
	id := artifactIDOf(t, env, crane, env.Host+"/library/summed:1")
	builtin, err := env.DB.Scanner.Query().Where(scanner.Builtin(true)).Only(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	err = env.DB.ScanReport.Create().SetArtifactID(id).SetScannerID(builtin.ID).SetStatus(scanreport.StatusSuccess).
		SetSummary(map[string]int{"HIGH": 2, "LOW": 1}).Exec(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Artifact struct {
			ScanOverview struct {
				Reports []struct{ Summary map[string]int }
			}
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `{ artifact(repository: "library/summed", reference: "1") { scanOverview { reports { summary } } } }`, nil, &out)
	if r := out.Artifact.ScanOverview.Reports; len(r) != 1 || r[0].Summary["HIGH"] != 2 || r[0].Summary["LOW"] != 1 {
		t.Fatalf("report summary: %+v", r)
	}
}
