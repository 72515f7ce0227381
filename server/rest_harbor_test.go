package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/server/servertest"
)

// Harbor's REST API as its swagger (an excerpt in testdata) declares it, checked against what
// Berth answers: the status is one the operation declares, declared headers are sent, error
// bodies are Harbor's {"errors":[{"code","message"}]}, and every JSON field of an answer is a
// property of the declared schema (recursively), so a misspelled or invented field fails.

type swaggerSchema struct {
	Ref                  string                   `yaml:"$ref"`
	Type                 string                   `yaml:"type"`
	Items                *swaggerSchema           `yaml:"items"`
	AdditionalProperties *swaggerSchema           `yaml:"additionalProperties"`
	Properties           map[string]swaggerSchema `yaml:"properties"`
}

type swaggerResponse struct {
	Headers map[string]any `yaml:"headers"`
	Schema  *swaggerSchema `yaml:"schema"`
}

type swaggerDoc struct {
	Paths       map[string]map[string]struct{ Responses map[string]swaggerResponse } `yaml:"paths"`
	Definitions map[string]swaggerSchema                                             `yaml:"definitions"`
}

func loadSwagger(t *testing.T) *swaggerDoc {
	t.Helper()
	raw, err := os.ReadFile("testdata/harbor-swagger-2.6-excerpt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc swaggerDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// berthExtensions are the fields Berth adds to a Harbor definition, on purpose and documented.
var berthExtensions = map[string][]string{
	"GeneralInfo":          {"berth_version"},
	"ReplicationPolicy":    {"include_proxy_cache"},
	"ReplicationExecution": {"skipped", "bytes"},
}

// checkSchema fails for every field of v that schema s does not declare.
func (d *swaggerDoc) checkSchema(t *testing.T, where string, s *swaggerSchema, v any) {
	t.Helper()
	name := ""
	for s != nil && s.Ref != "" {
		name = strings.TrimPrefix(s.Ref, "#/definitions/")
		def, ok := d.Definitions[name]
		if !ok {
			t.Fatalf("%s: the excerpt lacks definition %s", where, name)
		}
		s = &def
	}
	if s == nil {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		if s.Properties == nil {
			if s.AdditionalProperties != nil {
				for k, item := range v {
					d.checkSchema(t, where+"."+k, s.AdditionalProperties, item)
				}
			}
			return
		}
		for k, item := range v {
			prop, ok := s.Properties[k]
			if !ok {
				if !slices.Contains(berthExtensions[name], k) {
					t.Errorf("%s: field %q is not in Harbor's %s", where, k, name)
				}
				continue
			}
			d.checkSchema(t, where+"."+k, &prop, item)
		}
	case []any:
		if s.Type != "" && s.Type != "array" {
			t.Errorf("%s: an array where Harbor has %s", where, s.Type)
		}
		for i, item := range v {
			d.checkSchema(t, fmt.Sprintf("%s[%d]", where, i), s.Items, item)
		}
	case string:
		if s.Type != "" && s.Type != "string" {
			t.Errorf("%s: a string where Harbor has %s", where, s.Type)
		}
	case bool:
		if s.Type != "" && s.Type != "boolean" {
			t.Errorf("%s: a boolean where Harbor has %s", where, s.Type)
		}
	case float64:
		if s.Type != "" && s.Type != "integer" && s.Type != "number" {
			t.Errorf("%s: a number where Harbor has %s", where, s.Type)
		}
	}
}

// check compares an answer with what the swagger declares for the operation.
func (d *swaggerDoc) check(t *testing.T, method, path string, a answer) {
	t.Helper()
	where := method + " " + path
	op, ok := d.Paths[path][strings.ToLower(method)]
	if !ok {
		t.Fatalf("%s: not in the swagger excerpt", where)
	}
	status := fmt.Sprint(a.status)
	resp, ok := op.Responses[status]
	if !ok && a.status != http.StatusMethodNotAllowed && a.status != http.StatusNotFound && a.status != http.StatusBadRequest {
		t.Errorf("%s: status %d is not one Harbor declares (%v): %s", where, a.status, keys(op.Responses), a.body)
	}
	for h := range resp.Headers {
		if h == "Link" {
			continue // only when there is another page
		}
		if a.header.Get(h) == "" {
			t.Errorf("%s: header %s missing", where, h)
		}
	}
	if a.status >= 400 {
		if method != http.MethodHead { // a HEAD answer has no body
			checkHarborError(t, where, a)
		}
		return
	}
	if resp.Schema == nil || method == http.MethodHead {
		return
	}
	if resp.Schema.Type == "string" {
		return
	}
	var v any
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("%s: not JSON: %v: %s", where, err, a.body)
	}
	d.checkSchema(t, where, resp.Schema, v)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkHarborError fails unless the body is exactly Harbor's error shape.
func checkHarborError(t *testing.T, where string, a answer) {
	t.Helper()
	var e map[string][]map[string]string
	if err := json.Unmarshal(a.body, &e); err != nil || len(e) != 1 || len(e["errors"]) != 1 ||
		e["errors"][0]["code"] == "" || e["errors"][0]["message"] == "" || len(e["errors"][0]) != 2 {
		t.Errorf("%s: %d body is not Harbor's error shape: %s", where, a.status, a.body)
	}
	if !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: error Content-Type %q", where, a.header.Get("Content-Type"))
	}
}

// harborFixture is a server with a project "shop" holding shop/app:v1 and shop/app:v2, a user
// "dev", and what the calls below need.
type harborFixture struct {
	env    *servertest.Env
	api    string
	doc    *swaggerDoc
	crane  func(...string) (string, error)
	digest string
}

func newHarborFixture(t *testing.T) *harborFixture {
	t.Helper()
	env := servertest.Start(t)
	f := &harborFixture{env: env, api: env.URL + "/api/v2.0", doc: loadSwagger(t)}
	env.CreateProject("shop", false)
	env.CreateUser("dev", "dev-password-1")
	f.crane = setupCrane(t, env, "admin", servertest.AdminPassword)
	for i, tag := range []string{"v1", "v2"} {
		if out, err := f.crane("append", "-f", layerTar(t, "f", fmt.Sprint(i)), "-t", env.Host+"/shop/app:"+tag); err != nil {
			t.Fatalf("push: %v %s", err, out)
		}
	}
	d, err := f.crane("digest", env.Host+"/shop/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	f.digest = strings.TrimSpace(d)
	return f
}

// call sends a curl-shaped request as admin (or as user:password when given).
func (f *harborFixture) call(t *testing.T, method, path, body string, as ...string) answer {
	t.Helper()
	user, pw := "admin", servertest.AdminPassword
	if len(as) == 2 {
		user, pw = as[0], as[1]
	}
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return send(t, method, f.api+path, user, pw, b, map[string]string{"Content-Type": "application/json"})
}

// harborCase is one request, the swagger path it is an operation of, and the status wanted.
type harborCase struct {
	method, path, swagger, body string
	want                        int
}

func (f *harborFixture) run(t *testing.T, cases []harborCase) {
	t.Helper()
	for _, c := range cases {
		a := f.call(t, c.method, c.path, c.body)
		if a.status != c.want {
			t.Errorf("%s %s: %d %s; want %d", c.method, c.path, a.status, a.body, c.want)
			continue
		}
		f.doc.check(t, c.method, c.swagger, a)
	}
}

func TestHarborRESTMatchesSwagger(t *testing.T) {
	t.Parallel()
	f := newHarborFixture(t)
	art := "/projects/shop/repositories/app/artifacts/"
	const (
		artPath  = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"
		projPath = "/projects/{project_name_or_id}"
	)

	t.Run("system", func(t *testing.T) {
		f.run(t, []harborCase{
			{"GET", "/ping", "/ping", "", 200},
			{"GET", "/health", "/health", "", 200},
			{"GET", "/systeminfo", "/systeminfo", "", 200},
			{"GET", "/statistics", "/statistics", "", 200},
			{"GET", "/search?q=ap", "/search", "", 200},
			{"GET", "/search", "/search", "", 400},
			{"GET", "/users/current", "/users/current", "", 200},
			{"GET", "/users/current/permissions?scope=/project/1&relative=true", "/users/current/permissions", "", 200},
			{"GET", "/users?q=username%3D~de", "/users", "", 200},
			{"POST", "/users", "/users", `{"username":"ops","password":"ops-Password-1","email":"ops@example.com","realname":"Ops"}`, 201},
			{"POST", "/users", "/users", `{"username":"ops","password":"ops-Password-1"}`, 409},
			{"POST", "/labels", "/labels", `{"name":"prod","color":"#FF0000","scope":"g"}`, 201},
			{"GET", "/labels?scope=g", "/labels", "", 200},
			{"GET", "/scanners", "/scanners", "", 200},
			{"GET", "/scanners/1", "/scanners/{registration_id}", "", 200},
			{"GET", "/scanners/999", "/scanners/{registration_id}", "", 404},
			{"PATCH", "/scanners/1", "/scanners/{registration_id}", `{"is_default":true}`, 200},
			{"POST", "/scanners", "/scanners", `{"name":"x","url":"http://127.0.0.1:1","auth":"Kerberos"}`, 400},
			{"DELETE", "/scanners/1", "/scanners/{registration_id}", "", 400},
			{"GET", "/robots", "/robots", "", 200},
			{"POST", "/registries", "/registries", `{"name":"hub","type":"docker-registry","url":"https://registry.example.com","credential":{"type":"basic","access_key":"u","access_secret":"p"}}`, 201},
			{"GET", "/registries", "/registries", "", 200},
			{"GET", "/replication/policies", "/replication/policies", "", 200},
			{"GET", "/replication/executions", "/replication/executions", "", 200},
		})
	})
	t.Run("projects", func(t *testing.T) {
		f.run(t, []harborCase{
			{"GET", "/projects?name=sho&public=false", "/projects", "", 200},
			{"HEAD", "/projects?project_name=shop", "/projects", "", 200},
			{"HEAD", "/projects?project_name=nothere", "/projects", "", 404},
			{"POST", "/projects", "/projects", `{"project_name":"made","metadata":{"public":"true","auto_scan":"true","prevent_vul":"true","severity":"high"}}`, 201},
			{"POST", "/projects", "/projects", `{"project_name":"made"}`, 409},
			{"POST", "/projects", "/projects", `{"project_name":"bad","metadata":{"enable_content_trust":"true"}}`, 400},
			{"GET", "/projects/made", projPath, "", 200},
			{"PUT", "/projects/made", projPath, `{"metadata":{"severity":"low"},"cve_allowlist":{"items":[{"cve_id":"CVE-2024-1234"}]}}`, 200},
			{"GET", "/projects/shop/_deletable", projPath + "/_deletable", "", 200},
			{"GET", "/projects/shop/summary", projPath + "/summary", "", 200},
			{"GET", "/projects/shop/metadatas/", projPath + "/metadatas/", "", 200},
			{"GET", "/projects/shop/metadatas/auto_scan", projPath + "/metadatas/{meta_name}", "", 200},
			{"PUT", "/projects/shop/metadatas/auto_scan", projPath + "/metadatas/{meta_name}", `{"auto_scan":"true"}`, 200},
			{"DELETE", "/projects/shop/metadatas/auto_scan", projPath + "/metadatas/{meta_name}", "", 200},
			{"POST", "/projects/shop/members", projPath + "/members", `{"role_id":2,"member_user":{"username":"dev"}}`, 201},
			{"POST", "/projects/shop/members", projPath + "/members", `{"role_id":2,"member_user":{"username":"dev"}}`, 409},
			{"GET", "/projects/shop/members", projPath + "/members", "", 200},
			{"GET", "/projects/shop/logs", "/projects/{project_name}/logs", "", 200},
			{"POST", "/projects/shop/webhook/policies", projPath + "/webhook/policies", `{"name":"ci","event_types":["PUSH_ARTIFACT","DELETE_ARTIFACT"],"targets":[{"type":"http","address":"https://hooks.example.com/berth","skip_cert_verify":false}],"enabled":true}`, 201},
			{"POST", "/projects/shop/webhook/policies", projPath + "/webhook/policies", `{"name":"q","event_types":["QUOTA_EXCEED"],"targets":[{"type":"http","address":"https://hooks.example.com/q"}]}`, 400},
			{"POST", "/projects/shop/webhook/policies", projPath + "/webhook/policies", `{"name":"s","event_types":["PUSH_ARTIFACT"],"targets":[{"type":"slack","address":"https://hooks.example.com/s"}]}`, 400},
			{"GET", "/projects/shop/webhook/policies", projPath + "/webhook/policies", "", 200},
			{"GET", "/projects/library/webhook/policies/1", projPath + "/webhook/policies/{webhook_policy_id}", "", 404},
			{"DELETE", "/projects/made", projPath, "", 200},
		})
	})
	t.Run("artifacts", func(t *testing.T) {
		f.run(t, []harborCase{
			{"GET", "/repositories?q=name%3D~app", "/repositories", "", 200},
			{"GET", "/projects/shop/repositories", "/projects/{project_name}/repositories", "", 200},
			{"GET", "/projects/shop/repositories/app", "/projects/{project_name}/repositories/{repository_name}", "", 200},
			{"PUT", "/projects/shop/repositories/app", "/projects/{project_name}/repositories/{repository_name}", `{"description":"the shop front"}`, 200},
			{"GET", "/projects/shop/repositories/app/artifacts?with_label=true&with_scan_overview=true&with_accessory=true&with_signature=true",
				"/projects/{project_name}/repositories/{repository_name}/artifacts", "", 200},
			{"GET", art + "v1?with_scan_overview=true&with_label=true", artPath, "", 200},
			{"GET", art + f.digest, artPath, "", 200},
			{"GET", art + "nothere", artPath, "", 404},
			{"GET", art + "v1/tags", artPath + "/tags", "", 200},
			{"POST", art + "v1/tags", artPath + "/tags", `{"name":"stable"}`, 201},
			{"POST", art + "v1/tags", artPath + "/tags", `{"name":"stable"}`, 409},
			{"DELETE", art + "v1/tags/stable", artPath + "/tags/{tag_name}", "", 200},
			{"DELETE", art + "v1/tags/stable", artPath + "/tags/{tag_name}", "", 404},
			{"GET", "/projects/shop/repositories/app/artifacts?q=labels%3D%28x%29", "/projects/{project_name}/repositories/{repository_name}/artifacts", "", 400},
		})
		// Harbor's artifact q: tagged, untagged, one tag, tags containing.
		for q, want := range map[string]string{"tags%3D*": "2", "tags%3Dnil": "0", "tags%3Dv1": "1", "tags%3D~v": "2", "tags%3D~1": "1"} {
			a := f.call(t, "GET", "/projects/shop/repositories/app/artifacts?q="+q, "")
			if a.status != 200 || a.header.Get("X-Total-Count") != want {
				t.Errorf("q=%s: %d, X-Total-Count %q; want %s", q, a.status, a.header.Get("X-Total-Count"), want)
			}
		}
	})
	t.Run("jobs", func(t *testing.T) {
		f.run(t, []harborCase{
			{"GET", "/system/gc", "/system/gc", "", 200},
			{"GET", "/system/gc/schedule", "/system/gc/schedule", "", 200},
			{"PUT", "/system/gc/schedule", "/system/gc/schedule", `{"schedule":{"type":"Custom","cron":"0 0 3 * * *"},"parameters":{"delete_untagged":true}}`, 200},
			{"PUT", "/system/gc/schedule", "/system/gc/schedule", `{"schedule":{"type":"Sometimes"}}`, 400},
			{"GET", "/system/gc/999999", "/system/gc/{gc_id}", "", 404},
			{"GET", "/system/purgeaudit", "/system/purgeaudit", "", 200},
			{"GET", "/system/purgeaudit/schedule", "/system/purgeaudit/schedule", "", 200},
			{"PUT", "/system/purgeaudit/schedule", "/system/purgeaudit/schedule", `{"schedule":{"type":"Daily"},"parameters":{"audit_retention_hour":48,"include_operations":"create,pull","dry_run":true}}`, 200},
			{"PUT", "/system/purgeaudit/schedule", "/system/purgeaudit/schedule", `{"schedule":{"type":"Daily"},"parameters":{"audit_retention_hour":0}}`, 400},
			{"GET", "/audit-logs?q=operation%3Dcreate", "/audit-logs", "", 200},
		})
	})
}

// Every path under /api/v2.0 answers in Harbor's error shape: unknown paths, wrong methods, bad
// pages, bad q, bodies too large or of the wrong type.
func TestHarborRESTRefusesInHarborsShape(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	api := env.URL + "/api/v2.0"
	big := `{"project_name":"` + strings.Repeat("a", 2<<20) + `"}`
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/nothing/here", "", 404},
		{"GET", "/projects/library/nothing", "", 404},
		{"PATCH", "/projects", "", 405},
		{"POST", "/ping", "", 405},
		{"GET", "/projects?page_size=101", "", 400},
		{"GET", "/projects?page_size=0", "", 400},
		{"GET", "/projects?page=-1", "", 400},
		{"GET", "/projects?page=abc", "", 400},
		{"GET", "/projects?page_size=99999999999999999999", "", 400},
		{"GET", "/projects?sort=-name", "", 400},
		{"GET", "/projects?q=name%3D%5B", "", 400},
		{"GET", "/projects?q=nokey", "", 400},
		{"GET", "/projects?q=color%3Dred", "", 400},
		{"GET", "/projects?public=maybe", "", 400},
		{"GET", "/audit-logs?q=op_time%3D%5Bnot-a-time~%5D", "", 400},
		{"GET", "/audit-logs?q=operation%3D~crea", "", 400},
		{"GET", "/projects/library/repositories/x/artifacts?with_tag=perhaps", "", 400},
		{"HEAD", "/projects", "", 400},
		{"POST", "/projects", big, 400},
		{"POST", "/projects", `{"project_name":42}`, 400},
		{"POST", "/projects", `{"project_name":"x","metadata":{"auto_scan":true}}`, 400},
		{"POST", "/projects", `{"project_name":"x","metadata":{"auto_scan":"yes"}}`, 400},
		{"POST", "/projects", `{"project_name":"x","metadata":{"severity":"none"}}`, 400},
		{"POST", "/projects", `{"project_name":"x","metadata":{"reuse_sys_cve_allowlist":"false"}}`, 400},
		{"POST", "/projects", `{"project_name":"x","storage_limit":-5}`, 400},
		{"POST", "/projects", `{"project_name":"x","surprise":1}`, 400},
		{"POST", "/projects", `{"project_name":"x"} {"again":1}`, 400},
		{"POST", "/projects", `not json`, 400},
		{"PUT", "/projects/library", `{"project_name":"renamed"}`, 400},
		{"POST", "/projects/library/members", `{"role_id":9,"member_user":{"username":"admin"}}`, 400},
		{"PUT", "/system/gc/schedule", `{"schedule":{"type":"Custom","cron":"5 0 3 * * *"}}`, 400},
		{"PUT", "/system/gc/schedule", `{"schedule":{"type":"Daily"},"parameters":{"workers":"many"}}`, 400},
		{"PUT", "/system/gc/schedule", `{"schedule":{"type":"Daily"},"parameters":{"colour":"blue"}}`, 400},
		{"GET", "/system/gc/abc", "", 400},
	} {
		a := send(t, c.method, api+c.path, "admin", servertest.AdminPassword, []byte(c.body), nil)
		if a.status != c.want {
			t.Errorf("%s %.80s: %d %.300s; want %d", c.method, c.path, a.status, a.body, c.want)
			continue
		}
		if c.method == http.MethodHead {
			continue // no body
		}
		checkHarborError(t, c.method+" "+c.path, a)
		if c.want == 405 && a.header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", c.method, c.path)
		}
	}
}

// Lists answer RFC 5988 Link headers to the previous and next pages, keeping the other query
// parameters.
func TestHarborRESTPageLinks(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	for _, name := range []string{"pa", "pb", "pc"} {
		env.CreateProject(name, false)
	}
	a := send(t, "GET", env.URL+"/api/v2.0/projects?page=2&page_size=1&name=p", "admin", servertest.AdminPassword, nil, nil)
	link := a.header.Get("Link")
	want := regexp.MustCompile(`^</api/v2.0/projects\?name=p&page=1&page_size=1>; rel="prev" , </api/v2.0/projects\?name=p&page=3&page_size=1>; rel="next"$`)
	if a.status != 200 || !want.MatchString(link) || a.header.Get("X-Total-Count") != "3" {
		t.Fatalf("page 2 of 3: %d, Link %q, X-Total-Count %q", a.status, link, a.header.Get("X-Total-Count"))
	}
	a = send(t, "GET", env.URL+"/api/v2.0/projects?page=3&page_size=1&name=p", "admin", servertest.AdminPassword, nil, nil)
	if link := a.header.Get("Link"); strings.Contains(link, "next") || !strings.Contains(link, "prev") {
		t.Fatalf("last page: Link %q", link)
	}
}

// The flows Harbor's CLI and Terraform users run most, as curl would send them.
func TestHarborRESTFlows(t *testing.T) {
	t.Parallel()
	f := newHarborFixture(t)
	must := func(a answer, want int) answer {
		t.Helper()
		if a.status != want {
			t.Fatalf("%d %s; want %d", a.status, a.body, want)
		}
		return a
	}

	// What a client asks first: the version (only a caller who logged in is told it).
	var info map[string]any
	_ = json.Unmarshal(must(f.call(t, "GET", "/systeminfo", ""), 200).body, &info)
	if v, _ := info["harbor_version"].(string); !strings.HasPrefix(v, "v2.6.0-berth-") || info["auth_mode"] != "db_auth" {
		t.Fatalf("systeminfo: %v", info)
	}
	anon := send(t, "GET", f.api+"/systeminfo", "", "", nil, nil)
	if anon.status != 200 || strings.Contains(string(anon.body), "version") {
		t.Fatalf("anonymous systeminfo: %d %s", anon.status, anon.body)
	}

	// "Create the project if it is missing", with vulnerability blocking on.
	must(f.call(t, "HEAD", "/projects?project_name=team", ""), 404)
	created := must(f.call(t, "POST", "/projects", `{"project_name":"team","public":false,"metadata":{"auto_scan":"true","prevent_vul":"true","severity":"high","reuse_sys_cve_allowlist":"true","enable_content_trust_cosign":"true"},"storage_limit":1048576}`), 201)
	if loc := created.header.Get("Location"); !regexp.MustCompile(`^/api/v2.0/projects/\d+$`).MatchString(loc) {
		t.Fatalf("Location %q", loc)
	}
	must(f.call(t, "HEAD", "/projects?project_name=team", ""), 200)
	var p struct {
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(must(f.call(t, "GET", "/projects/team", ""), 200).body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Metadata["prevent_vul"] != "true" || p.Metadata["auto_scan"] != "true" || p.Metadata["severity"] != "high" || p.Metadata["public"] != "false" {
		t.Fatalf("metadata after create: %v", p.Metadata)
	}
	var owned map[string]any
	_ = json.Unmarshal(must(f.call(t, "GET", "/projects/team", ""), 200).body, &owned)
	if owned["owner_name"] != "admin" || owned["owner_id"] == float64(0) {
		t.Fatalf("owner of a project admin created: %v", owned)
	}
	var listed []map[string]any
	_ = json.Unmarshal(must(f.call(t, "GET", "/projects?name=team", ""), 200).body, &listed)
	if len(listed) != 1 || listed[0]["owner_name"] != "admin" {
		t.Fatalf("owner in the project list: %v", listed)
	}
	if p.Metadata["enable_content_trust_cosign"] != "true" {
		t.Fatalf("enable_content_trust_cosign after create: %v", p.Metadata)
	}
	var q struct {
		Hard map[string]int64 `json:"hard"`
	}
	_ = json.Unmarshal(must(f.call(t, "GET", "/quotas/"+path.Base(created.header.Get("Location")), ""), 200).body, &q)
	if q.Hard["storage"] != 1048576 {
		t.Fatalf("storage_limit on create: quota %v", q)
	}
	// The rest of the flow pulls unsigned images: signature enforcement goes off again.
	must(f.call(t, "PUT", "/projects/team", `{"metadata":{"enable_content_trust_cosign":"false"},"storage_limit":-1}`), 200)

	// Add a member, then see it listed with Harbor's role.
	must(f.call(t, "POST", "/projects/team/members", `{"role_id":4,"member_user":{"username":"dev"}}`), 201)
	var members []map[string]any
	_ = json.Unmarshal(must(f.call(t, "GET", "/projects/team/members", ""), 200).body, &members)
	if len(members) != 2 || !slices.ContainsFunc(members, func(m map[string]any) bool { return m["entity_name"] == "dev" && m["role_name"] == "maintainer" }) {
		t.Fatalf("members: %v", members)
	}

	// Create a project robot; GET /robots (no filter) lists it for the admin.
	robot := must(f.call(t, "POST", "/robots", `{"name":"ci","level":"project","duration":-1,"permissions":[{"kind":"project","namespace":"team","access":[{"resource":"repository","action":"pull"}]}]}`), 201)
	if !strings.Contains(string(robot.body), `"secret"`) {
		t.Fatalf("robot: %s", robot.body)
	}
	var robots []map[string]any
	_ = json.Unmarshal(must(f.call(t, "GET", "/robots", ""), 200).body, &robots)
	if !slices.ContainsFunc(robots, func(r map[string]any) bool { return strings.Contains(fmt.Sprint(r["name"]), "team+ci") }) {
		t.Fatalf("GET /robots misses the project robot: %v", robots)
	}

	// Artifacts with their scan overview, keyed by report MIME type once a scan is done.
	must(f.call(t, "POST", "/projects/shop/repositories/app/artifacts/v1/scan", ""), 202)
	deadline := time.Now().Add(60 * time.Second)
	for {
		a := must(f.call(t, "GET", "/projects/shop/repositories/app/artifacts?with_scan_overview=true", ""), 200)
		if a.header.Get("X-Total-Count") != "2" {
			t.Fatalf("X-Total-Count %q", a.header.Get("X-Total-Count"))
		}
		var arts []struct {
			Type         string                    `json:"type"`
			Digest       string                    `json:"digest"`
			ScanOverview map[string]map[string]any `json:"scan_overview"`
		}
		_ = json.Unmarshal(a.body, &arts)
		i := slices.IndexFunc(arts, func(x struct {
			Type         string                    `json:"type"`
			Digest       string                    `json:"digest"`
			ScanOverview map[string]map[string]any `json:"scan_overview"`
		}) bool {
			return x.Digest == f.digest
		})
		if i < 0 || arts[i].Type != "IMAGE" {
			t.Fatalf("artifacts: %s", a.body)
		}
		ov := arts[i].ScanOverview["application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"]
		if ov["scan_status"] == "Success" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scan overview never Success: %s", a.body)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// Delete a tag; the artifact stays, with its other tags.
	must(f.call(t, "POST", "/projects/shop/repositories/app/artifacts/v1/tags", `{"name":"old"}`), 201)
	must(f.call(t, "DELETE", "/projects/shop/repositories/app/artifacts/v1/tags/old", ""), 200)
	must(f.call(t, "GET", "/projects/shop/repositories/app/artifacts/old", ""), 404)
	must(f.call(t, "GET", "/projects/shop/repositories/app/artifacts/v1", ""), 200)

	// A repository description: set by a maintainer (project:update), read back, bounded; a
	// developer may not change it.
	must(f.call(t, "PUT", "/projects/shop/repositories/app", `{"description":"the shop front"}`), 200)
	var repoAnswer map[string]any
	_ = json.Unmarshal(must(f.call(t, "GET", "/projects/shop/repositories/app", ""), 200).body, &repoAnswer)
	if repoAnswer["description"] != "the shop front" {
		t.Fatalf("repository description: %v", repoAnswer)
	}
	checkHarborError(t, "long description", must(f.call(t, "PUT", "/projects/shop/repositories/app",
		`{"description":"`+strings.Repeat("x", 4097)+`"}`), 400))
	member := must(f.call(t, "POST", "/projects/shop/members", `{"role_id":2,"member_user":{"username":"dev"}}`), 201)
	checkHarborError(t, "developer PUT repository", must(f.call(t, "PUT", "/projects/shop/repositories/app",
		`{"description":"mine"}`, "dev", "dev-password-1"), 403))
	must(f.call(t, "DELETE", strings.TrimPrefix(member.header.Get("Location"), "/api/v2.0"), ""), 200)

	// Statistics: the storage used (the quota usage) is told to an administrator only.
	var stats map[string]any
	_ = json.Unmarshal(must(f.call(t, "GET", "/statistics", ""), 200).body, &stats)
	if used, ok := stats["total_storage_consumption"].(float64); !ok || used < 0 {
		t.Fatalf("admin statistics: %v", stats)
	}
	stats = nil
	_ = json.Unmarshal(must(f.call(t, "GET", "/statistics", "", "dev", "dev-password-1"), 200).body, &stats)
	if _, ok := stats["total_storage_consumption"]; ok || stats["total_project_count"] == nil {
		t.Fatalf("user statistics: %v", stats)
	}

	// A tag an immutability rule selects is "immutable" in the artifact and tag lists.
	must(f.call(t, "POST", "/projects/shop/repositories/app/artifacts/v1/tags", `{"name":"keep"}`), 201)
	must(f.call(t, "POST", "/projects/shop/immutabletagrules", `{"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"keep"}],
		"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`), 201)
	immutableOf := func(body []byte) map[string]any {
		var arts []struct {
			Tags []map[string]any `json:"tags"`
		}
		var tags []map[string]any
		if json.Unmarshal(body, &tags) == nil && len(tags) > 0 && tags[0]["name"] != nil {
			arts = append(arts, struct {
				Tags []map[string]any `json:"tags"`
			}{tags})
		} else if err := json.Unmarshal(body, &arts); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		out := map[string]any{}
		for _, a := range arts {
			for _, tag := range a.Tags {
				out[tag["name"].(string)] = tag["immutable"]
			}
		}
		return out
	}
	for _, p := range []string{"/projects/shop/repositories/app/artifacts?with_immutable_status=true",
		"/projects/shop/repositories/app/artifacts/v1/tags?with_immutable_status=true"} {
		if got := immutableOf(must(f.call(t, "GET", p, ""), 200).body); got["keep"] != true || got["v1"] != false {
			t.Fatalf("%s: immutable %v", p, got)
		}
	}
	if got := immutableOf(must(f.call(t, "GET", "/projects/shop/repositories/app/artifacts", ""), 200).body); got["keep"] != false {
		t.Fatalf("without with_immutable_status: immutable %v", got)
	}

	// Start a GC now and read it back, with its log.
	gc := must(f.call(t, "POST", "/system/gc/schedule", `{"schedule":{"type":"Manual"},"parameters":{"delete_untagged":false,"dry_run":true}}`), 201)
	loc := strings.TrimPrefix(gc.header.Get("Location"), "/api/v2.0")
	if !regexp.MustCompile(`^/system/gc/\d+$`).MatchString(loc) {
		t.Fatalf("GC Location %q", gc.header.Get("Location"))
	}
	var run struct {
		JobStatus string `json:"job_status"`
		JobKind   string `json:"job_kind"`
	}
	_ = json.Unmarshal(must(f.call(t, "GET", loc, ""), 200).body, &run)
	if run.JobKind != "MANUAL" || run.JobStatus == "" {
		t.Fatalf("GC run: %+v", run)
	}
	must(f.call(t, "GET", loc+"/log", ""), 200)

	// Read the audit log: the project creation and the tag deletion, filtered with q.
	deadline = time.Now().Add(30 * time.Second)
	for {
		var logs []map[string]any
		_ = json.Unmarshal(must(f.call(t, "GET", "/audit-logs?q=operation%3D%7Bcreate%20delete%7D,resource_type%3D%7Bproject%20tag%7D&page_size=100", ""), 200).body, &logs)
		created := slices.ContainsFunc(logs, func(l map[string]any) bool { return l["resource"] == "team" && l["operation"] == "create" })
		deleted := slices.ContainsFunc(logs, func(l map[string]any) bool {
			return l["resource_type"] == "tag" && l["operation"] == "delete" && strings.Contains(fmt.Sprint(l["resource"]), "old")
		})
		if created && deleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log lacks the project creation or the tag deletion: %v", logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var projectLogs []map[string]any
	_ = json.Unmarshal(must(f.call(t, "GET", "/projects/shop/logs?q=resource%3D~app", ""), 200).body, &projectLogs)
	if len(projectLogs) == 0 {
		t.Fatal("project log with resource=~app is empty")
	}

	// A user who is no member of a private project does not see it: Harbor's 404 shape.
	a := f.call(t, "PUT", "/projects/shop", `{"metadata":{"prevent_vul":"false"}}`, "dev", "dev-password-1")
	if a.status != 404 {
		t.Fatalf("outsider PUT project: %d %s", a.status, a.body)
	}
	checkHarborError(t, "PUT /projects/shop", a)
}

// The queries one page of artifacts costs, per switch: tags and labels are eager-loaded,
// signatures, accessories and scan overviews one batch each (the batched scan.Service.Overviews
// GraphQL's loader uses), so no switch grows with the page (labels with signatures take one more statement
// for 50 than for 10: the bound allows 2). The figures are logged (go test -v).
func TestHarborRESTArtifactPageQueries(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	ctx := t.Context()
	id := env.CreateProject("many", false)
	repo := env.DB.Repository.Create().SetName("many/app").SetProjectID(id).SaveX(ctx)
	for i := range 50 {
		a := env.DB.Artifact.Create().SetRepositoryID(repo.ID).SetDigest(fmt.Sprintf("sha256:%064d", i)).
			SetMediaType("application/vnd.oci.image.manifest.v1+json").SaveX(ctx)
		env.DB.Tag.Create().SetName(fmt.Sprintf("t%d", i)).SetRepositoryID(repo.ID).SetArtifactID(a.ID).ExecX(ctx)
	}
	count := func(query string, size int) int64 {
		path := fmt.Sprintf("%s/api/v2.0/projects/many/repositories/app/artifacts?page_size=%d%s", env.URL, size, query)
		send(t, "GET", path, "admin", servertest.AdminPassword, nil, nil) // warm the caller's caches
		before := env.Server.QueryCount()
		if a := send(t, "GET", path, "admin", servertest.AdminPassword, nil, nil); a.status != 200 {
			t.Fatalf("%s: %d %s", path, a.status, a.body)
		}
		return env.Server.QueryCount() - before
	}
	for _, c := range []struct{ name, query string }{
		{"tags", ""},
		{"tags, labels, signatures", "&with_label=true&with_signature=true"},
		{"scan overview", "&with_scan_overview=true"},
		{"accessories", "&with_accessory=true"},
		{"immutable status", "&with_immutable_status=true"},
	} {
		n10, n50 := count(c.query, 10), count(c.query, 50)
		t.Logf("%-26s page of 10: %3d queries, page of 50: %3d queries", c.name, n10, n50)
		if n50 > n10+2 {
			t.Errorf("%s: %d queries for 10 artifacts but %d for 50: should not grow with the page", c.name, n10, n50)
		}
	}
}
