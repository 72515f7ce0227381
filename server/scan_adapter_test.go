package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/server/servertest"
)

// adapter is a scanner adapter that speaks the pluggable scanner protocol v1.1 as the spec says:
// it checks media types and its API key, pulls the manifest it is asked to scan from the registry
// with the token it is given, answers the first report request with 302 and Refresh-After, and
// then a report.
type adapter struct {
	t        *testing.T
	registry string // where to pull from

	mu       sync.Mutex
	requests []map[string]any
	pulled   []int // status of each manifest pull
	polls    int
}

func (a *adapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-ScannerAdapter-API-Key") != "secret-key" {
		http.Error(w, `{"error":{"message":"bad key"}}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/metadata":
		if r.Header.Get("Accept") != "application/vnd.scanner.adapter.metadata+json; version=1.0" {
			http.Error(w, "bad accept", http.StatusUnsupportedMediaType)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.scanner.adapter.metadata+json; version=1.0")
		_, _ = w.Write([]byte(`{"scanner":{"name":"Trivy","vendor":"Aqua Security","version":"0.50.0"},
"capabilities":[{"consumes_mime_types":["application/vnd.oci.image.manifest.v1+json","application/vnd.docker.distribution.manifest.v2+json"],
"produces_mime_types":["application/vnd.security.vulnerability.report; version=1.1"]}],"properties":{}}`))
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/scan":
		if r.Header.Get("Content-Type") != "application/vnd.scanner.adapter.scan.request+json; version=1.0" {
			http.Error(w, "bad content type", http.StatusUnsupportedMediaType)
			return
		}
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reg := req["registry"].(map[string]any)
		art := req["artifact"].(map[string]any)
		pull, _ := http.NewRequest(http.MethodGet, a.registry+"/v2/"+art["repository"].(string)+"/manifests/"+art["digest"].(string), nil)
		pull.Header.Set("Authorization", reg["authorization"].(string))
		pull.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		status := 0
		if resp, err := http.DefaultClient.Do(pull); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		a.mu.Lock()
		a.requests = append(a.requests, req)
		a.pulled = append(a.pulled, status)
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"scan-1"}`))
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/scan/scan-1/report":
		if r.Header.Get("Accept") != "application/vnd.security.vulnerability.report; version=1.1" {
			http.Error(w, "bad accept", http.StatusUnsupportedMediaType)
			return
		}
		a.mu.Lock()
		a.polls++
		first := a.polls == 1
		a.mu.Unlock()
		if first {
			w.Header().Set("Refresh-After", "1")
			w.WriteHeader(http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.security.vulnerability.report; version=1.1")
		_, _ = w.Write([]byte(`{"generated_at":"2026-01-01T00:00:00Z","scanner":{"name":"Trivy","vendor":"Aqua Security","version":"0.50.0"},
"severity":"High","vulnerabilities":[
 {"id":"CVE-2024-0001","package":"libfoo","version":"1.0","fix_version":"1.1","severity":"High","description":"foo overflow",
  "links":["https://example.com/CVE-2024-0001"],"preferred_cvss":{"score_v3":7.5,"vector_v3":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"},
  "cwe_ids":["CWE-787"],"vendor_attributes":{"CVSS":{"nvd":{"V3Score":7.5}}}},
 {"id":"CVE-2024-0002","package":"libbar","version":"2.0","fix_version":"","severity":"Negligible","description":"bar nit"}]}`))
	default:
		http.NotFound(w, r)
	}
}

func TestAdapterScanner(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	ad := &adapter{t: t, registry: env.URL}
	srv := httptest.NewServer(ad)
	t.Cleanup(srv.Close)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	proj := env.CreateProject("held", false)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { updateProject(id: $id, input: {
  preventVulnerable: true, severityThreshold: HIGH }) { id } }`, map[string]any{"id": proj}, nil)
	pushAlpine(t, crane, env.Host+"/held/app:1")
	id := artifactIDOf(t, env, crane, env.Host+"/held/app:1")

	input := map[string]any{"name": "trivy", "url": srv.URL, "auth": "API_KEY", "accessCredential": "secret-key"}
	var ping struct {
		PingScanner struct {
			Name, Vendor, Version string
			Produces              []string
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($in: ScannerInput!) { pingScanner(input: $in) { name vendor version produces } }`,
		map[string]any{"in": input}, &ping)
	if ping.PingScanner.Name != "Trivy" || ping.PingScanner.Version != "0.50.0" || len(ping.PingScanner.Produces) != 1 {
		t.Fatalf("ping: %+v", ping.PingScanner)
	}
	bad := map[string]any{"name": "trivy", "url": srv.URL, "auth": "API_KEY", "accessCredential": "wrong"}
	if r := env.GraphQL("admin", servertest.AdminPassword, `mutation($in: ScannerInput!) { addScanner(input: $in) { id } }`, map[string]any{"in": bad}); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "bad key") {
		t.Fatalf("adding a scanner that refuses the key: %+v", r.Errors)
	}
	env.CreateUser("dev", "dev-password")
	env.AddMember(proj, "dev", "developer")
	if r := env.GraphQL("dev", "dev-password", `{ scanners { id } }`, nil); r.Code() != "FORBIDDEN" {
		t.Errorf("a developer listing scanners: %+v", r.Errors)
	}
	if r := env.GraphQL("dev", "dev-password", `mutation($in: ScannerInput!) { pingScanner(input: $in) { name } }`, map[string]any{"in": input}); r.Code() != "FORBIDDEN" {
		t.Errorf("a developer pinging a scanner: %+v", r.Errors)
	}
	var added struct{ AddScanner struct{ ID, Vendor string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($in: ScannerInput!) { addScanner(input: $in) { id vendor } }`, map[string]any{"in": input}, &added)
	if added.AddScanner.Vendor != "Aqua Security" {
		t.Fatalf("added: %+v", added)
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { setDefaultScanner(id: $id) { id } }`, map[string]any{"id": added.AddScanner.ID}, nil)
	var list struct {
		Scanners []struct {
			Name               string
			IsDefault, Builtin bool
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `{ scanners { name isDefault builtin } }`, nil, &list)
	if len(list.Scanners) != 2 || list.Scanners[0].Name != "trivy" || !list.Scanners[0].IsDefault || !list.Scanners[1].Builtin || list.Scanners[1].IsDefault {
		t.Fatalf("scanners: %+v", list.Scanners)
	}

	// Developers read reports but may not start scans (the role table).
	if r := env.GraphQL("dev", "dev-password", `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": id}); r.Code() != "FORBIDDEN" {
		t.Errorf("a developer starting a scan: %+v", r.Errors)
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": id}, nil)
	o := waitScan(t, env, ref{"held/app", "1"})
	if o.Status != "SUCCESS" || o.Severity != "HIGH" || o.Total != 2 || o.Fixable != 1 || o.Summary["high"] != 1 || o.Summary["none"] != 1 {
		t.Fatalf("adapter scan: %+v", o)
	}
	want := []string{"CVE-2024-0001 libfoo 1.0 1.1 HIGH", "CVE-2024-0002 libbar 2.0  NONE"}
	if got := findings(t, env, ref{"held/app", "1"}, nil); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("adapter findings: %v", got)
	}
	ad.mu.Lock()
	if len(ad.requests) != 1 || ad.pulled[0] != http.StatusOK || ad.polls != 2 {
		t.Errorf("adapter saw %d scan requests, pulls %v, %d report polls; want 1, [200] (despite the project's policy), 2", len(ad.requests), ad.pulled, ad.polls)
	}
	req := ad.requests[0]
	ad.mu.Unlock()
	art := req["artifact"].(map[string]any)
	if art["repository"] != "held/app" || !strings.HasPrefix(art["digest"].(string), "sha256:") || req["registry"].(map[string]any)["url"] == "" {
		t.Errorf("scan request: %v", req)
	}
	// The report's severity is above the threshold: the pull is held back.
	if out, err := crane("manifest", env.Host+"/held/app:1"); err == nil || !strings.Contains(out, "CVE-2024-0001") {
		t.Errorf("pull after the adapter's report: %v\n%s", err, out)
	}
	// The token the adapter got pulls that repository only, and is not an identity token.
	tok := strings.TrimPrefix(req["registry"].(map[string]any)["authorization"].(string), "Bearer ")
	other, _ := http.NewRequest(http.MethodGet, env.URL+"/v2/library/other/manifests/x", nil)
	other.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := http.DefaultClient.Do(other); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the scanner's token on another repository: %d", resp.StatusCode)
		}
	}
	checkScannerToken(t, env, crane, tok, art["digest"].(string))

	// The default cannot be removed; another can.
	if r := env.GraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { removeScanner(id: $id) }`, map[string]any{"id": added.AddScanner.ID}); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("removing the default scanner: %+v", r.Errors)
	}
	var builtin struct{ Scanners []struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `{ scanners { id } }`, nil, &builtin)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { setDefaultScanner(id: $id) { id } }`, map[string]any{"id": builtin.Scanners[1].ID}, nil)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { removeScanner(id: $id) }`, map[string]any{"id": added.AddScanner.ID}, nil)
	if n, _ := env.DB.ScanReport.Query().Count(t.Context()); n != 0 {
		t.Errorf("%d reports left after removing their scanner", n)
	}
}

// checkScannerToken checks that the token a scanner adapter was given pulls exactly the artifact
// held/app@scanned (its manifest and blobs), and that nothing else, nor a user called like the
// scanner, gets past the project's pull policy.
func checkScannerToken(t *testing.T, env *servertest.Env, crane func(...string) (string, error), tok, scanned string) {
	t.Helper()
	pushAlpine(t, crane, env.Host+"/held/other:1")
	if out, err := crane("append", "-f", layerTar(t, "another.txt", "another"), "-t", env.Host+"/held/app:3"); err != nil {
		t.Fatalf("another artifact: %v\n%s", err, out)
	}
	another, err := crane("digest", env.Host+"/held/app:3")
	if err != nil {
		t.Fatal(err)
	}
	another = strings.TrimSpace(another)
	otherRepoDigest, _ := crane("digest", env.Host+"/held/other:1")
	var blobs []string // the blobs of the manifests read
	get := func(path string) int {
		req, _ := http.NewRequest(http.MethodGet, env.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct {
			Config struct{ Digest string }
			Layers []struct{ Digest string }
		}
		if resp.StatusCode == http.StatusOK && strings.Contains(path, "/manifests/") {
			_ = json.NewDecoder(resp.Body).Decode(&m)
			if m.Config.Digest != "" {
				blobs = append(blobs, m.Config.Digest)
			}
			for _, l := range m.Layers {
				blobs = append(blobs, l.Digest)
			}
		}
		return resp.StatusCode
	}
	// The scanned artifact, despite the policy that holds it back, and every blob it stands on.
	blobs = nil
	if code := get("/v2/held/app/manifests/" + scanned); code != http.StatusOK {
		t.Fatalf("the scanner's token on its own artifact: %d", code)
	}
	own := blobs
	if len(own) < 2 {
		t.Fatalf("scanned manifest lists blobs %v", own)
	}
	for _, b := range own {
		if code := get("/v2/held/app/blobs/" + b); code != http.StatusOK {
			t.Errorf("the scanner's token on blob %s of its artifact: %d", b, code)
		}
	}
	// Nothing else: another artifact of the same repository, by digest or tag, the tag of its own,
	// the same image in another repository, the tag list, a blob of another artifact.
	for _, path := range []string{
		"/v2/held/app/manifests/" + another,
		"/v2/held/app/manifests/1",
		"/v2/held/app/manifests/3",
		"/v2/held/other/manifests/" + strings.TrimSpace(otherRepoDigest),
		"/v2/held/app/tags/list",
		"/v2/held/app/referrers/" + scanned,
		"/v2/_catalog",
	} {
		if code := get(path); code == http.StatusOK || code == http.StatusPreconditionFailed {
			t.Errorf("the scanner's token on %s: %d; want a refusal", path, code)
		}
	}
	blobs = nil
	if code := get("/v2/held/app/manifests/" + another); code == http.StatusOK {
		t.Fatalf("another artifact was served")
	}
	// A scanner token is not exchanged, nor good outside /v2.
	for _, path := range []string{"/service/token?service=berth&scope=repository:held/app:pull", "/service/token?service=berth", "/api/v2.0/projects"} {
		if code := get(path); code == http.StatusOK {
			t.Errorf("the scanner's token on %s: %d; want a refusal", path, code)
		}
	}
	// A user that an administrator named like the scanner is an ordinary user: the pull policy
	// holds the vulnerable artifact back from it, by tag and by digest.
	env.CreateUser("berth-scanner", "Scanner-Lookalike-1")
	env.AddMember(env.DB.Project.Query().Where(project.Name("held")).OnlyIDX(t.Context()), "berth-scanner", "developer")
	lookalike := setupCrane(t, env, "berth-scanner", "Scanner-Lookalike-1")
	for _, ref := range []string{env.Host + "/held/app:1", env.Host + "/held/app@" + scanned} {
		if out, err := lookalike("manifest", ref); err == nil || !strings.Contains(out, "CVE-2024-0001") {
			t.Errorf("a user called berth-scanner pulling %s: %v\n%s; want the pull policy's refusal", ref, err, out)
		}
	}
}
