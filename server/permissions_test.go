package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/server/servertest"
)

// principal is one column of the role table as a caller: a user with a role in project "priv", a
// user who is no member, anonymous, or the system admin.
type principal struct {
	name, password, role string
}

// expect lists what each principal may do in the private project, from harbor-compat §1.
type expect struct {
	see, pull, push, createTag, deleteTag, deleteArtifact, label, settings, readMembers, manageMembers bool
}

var columns = []struct {
	p principal
	e expect
}{
	{principal{"pa", "pa-password", "project_admin"}, expect{true, true, true, true, true, true, true, true, true, true}},
	{principal{"maint", "maint-password", "maintainer"}, expect{true, true, true, true, true, true, true, true, true, false}},
	{principal{"dev", "dev-password", "developer"}, expect{true, true, true, true, false, false, true, false, true, false}},
	{principal{"guest", "guest-password", "guest"}, expect{true, true, false, false, false, false, false, false, true, false}},
	{principal{"lguest", "lguest-password", "limited_guest"}, expect{true, true, false, false, false, false, false, false, false, false}},
	{principal{"outsider", "outsider-password", ""}, expect{}},
	{principal{"", "", ""}, expect{}}, // anonymous
	{principal{"admin", servertest.AdminPassword, ""}, expect{true, true, true, true, true, true, true, true, true, true}},
}

// One server; every principal tries every action on every surface; allowed and denied outcomes are
// both asserted, with the status or error code each surface gives.
func TestPermissionsAreEnforcedOnEverySurface(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	projectID := env.CreateProject("priv", false)
	env.CreateUser("spare", "spare-password")
	for _, c := range columns {
		if c.p.role == "" && c.p.name != "" && c.p.name != "admin" {
			env.CreateUser(c.p.name, c.p.password)
		}
		if c.p.role != "" {
			env.CreateUser(c.p.name, c.p.password)
			env.AddMember(projectID, c.p.name, c.p.role)
		}
	}
	var label struct{ CreateLabel struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID) { createLabel(input: {name: "prod", projectID: $p}) { id } }`,
		map[string]any{"p": projectID}, &label)

	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	push := func(tag string) (digest, id string) {
		ref := env.Host + "/priv/app:" + tag
		if out, err := crane("append", "-f", layerTar(t, "f", tag), "-t", ref); err != nil {
			t.Fatalf("push %s: %v %s", tag, err, out)
		}
		d, _ := crane("digest", ref)
		var a struct{ Artifact struct{ ID string } }
		env.MustGraphQL("admin", servertest.AdminPassword, `query($t: String!) { artifact(repository: "priv/app", reference: $t) { id } }`,
			map[string]any{"t": tag}, &a)
		return strings.TrimSpace(d), a.Artifact.ID
	}
	_, baseID := push("base")

	for _, c := range columns {
		p, e := c.p, c.e
		who := p.name
		if who == "" {
			who = "anonymous"
		}
		// Fresh content for this principal's destructive attempts.
		regDigest, _ := push("reg-" + who)
		_, gqlID := push("gql-" + who)
		_, restID := push("rest-" + who)
		_ = restID

		t.Run(who, func(t *testing.T) {
			// /v2, with Basic credentials as scripts send them.
			v2 := func(method, path string) int {
				req, _ := http.NewRequest(method, env.URL+"/v2/priv/app/"+path, nil)
				req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
				if p.name != "" {
					req.SetBasicAuth(p.name, p.password)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			denied := http.StatusForbidden
			if p.name == "" {
				denied = http.StatusUnauthorized
			}
			check := func(what string, allowed bool, got, okStatus int) {
				t.Helper()
				want := denied
				if allowed {
					want = okStatus
				}
				if got != want {
					t.Errorf("/v2 %s: %d, want %d", what, got, want)
				}
			}
			check("pull", e.pull, v2(http.MethodGet, "manifests/base"), http.StatusOK)
			check("push", e.push, v2(http.MethodPost, "blobs/uploads/"), http.StatusAccepted)
			check("delete tag", e.deleteTag, v2(http.MethodDelete, "manifests/reg-"+who), http.StatusAccepted)
			check("delete artifact", e.deleteArtifact, v2(http.MethodDelete, "manifests/"+regDigest), http.StatusAccepted)

			// GraphQL.
			gql := func(query string, vars map[string]any) *servertest.GraphQLResponse {
				return env.GraphQL(p.name, p.password, query, vars)
			}
			var seen struct{ Project *struct{ Name string } }
			r := gql(`{ project(name: "priv") { name } }`, nil)
			_ = json.Unmarshal(r.Data, &seen)
			if (seen.Project != nil) != e.see {
				t.Errorf("graphql project visible = %v, want %v", seen.Project != nil, e.see)
			}
			deniedCode := "FORBIDDEN"
			if !e.see {
				deniedCode = "NOT_FOUND" // a project one may not see does not exist for one
			}
			gcheck := func(what string, allowed bool, r *servertest.GraphQLResponse) {
				t.Helper()
				switch {
				case allowed && len(r.Errors) > 0:
					t.Errorf("graphql %s: %+v, want success", what, r.Errors)
				case !allowed && r.Code() != deniedCode:
					t.Errorf("graphql %s: %+v, want %s", what, r.Errors, deniedCode)
				}
			}
			gcheck("createTag", e.createTag, gql(`mutation($a: ID!, $n: String!) { createTag(artifactID: $a, name: $n) { id } }`,
				map[string]any{"a": baseID, "n": "by-" + who}))
			gcheck("addArtifactLabel", e.label, gql(`mutation($a: ID!, $l: ID!) { addArtifactLabel(artifactID: $a, labelID: $l) { id } }`,
				map[string]any{"a": baseID, "l": label.CreateLabel.ID}))
			gcheck("updateProject", e.settings, gql(`mutation($p: ID!) { updateProject(id: $p, input: {autoScan: true}) { id } }`,
				map[string]any{"p": projectID}))
			if e.see { // the member list of a project one cannot see is never reached: the project is null
				gcheck("memberList", e.readMembers, gql(`{ project(name: "priv") { memberList { id } } }`, nil))
			}
			r = gql(`mutation($p: ID!) { addMember(projectID: $p, username: "spare", role: GUEST) { id } }`, map[string]any{"p": projectID})
			gcheck("addMember", e.manageMembers, r)
			if e.manageMembers && len(r.Errors) == 0 {
				var m struct{ AddMember struct{ ID string } }
				_ = json.Unmarshal(r.Data, &m)
				env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": m.AddMember.ID}, nil)
			}
			gcheck("deleteArtifact", e.deleteArtifact, gql(`mutation($a: ID!) { deleteArtifact(id: $a) }`, map[string]any{"a": gqlID}))

			// Harbor's REST.
			rest := func(method, path string) int {
				req, _ := http.NewRequest(method, env.URL+"/api/v2.0/projects/priv"+path, nil)
				if p.name != "" {
					req.SetBasicAuth(p.name, p.password)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			invisible := http.StatusNotFound
			if got, want := rest(http.MethodGet, ""), map[bool]int{true: http.StatusOK, false: invisible}[e.see]; got != want {
				t.Errorf("REST get project: %d, want %d", got, want)
			}
			wantDelete := http.StatusOK
			switch {
			case !e.see:
				wantDelete = invisible
			case !e.deleteArtifact:
				wantDelete = http.StatusForbidden
			}
			if got := rest(http.MethodDelete, "/repositories/app/artifacts/rest-"+who); got != wantDelete {
				t.Errorf("REST delete artifact: %d, want %d", got, wantDelete)
			}
		})
	}

	// The catalog lists private repositories to those who may see them, and asks anonymous callers
	// to log in.
	catalog := func(user, password string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, env.URL+"/v2/_catalog", nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := catalog("lguest", "lguest-password"); code != 200 || !strings.Contains(body, "priv/app") {
		t.Errorf("member's catalog: %d %s", code, body)
	}
	if code, body := catalog("outsider", "outsider-password"); code != 200 || strings.Contains(body, "priv/app") {
		t.Errorf("non-member's catalog: %d %s", code, body)
	}
	if code, _ := catalog("", ""); code != http.StatusUnauthorized {
		t.Errorf("anonymous catalog: %d, want 401", code)
	}
}

// A guest asking the token service for pull and push gets a token that grants pull only.
func TestTokenServiceGrantsOnlyWhatTheRoleAllows(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	projectID := env.CreateProject("tok", false)
	env.CreateUser("g", "guest-password")
	env.AddMember(projectID, "g", "guest")
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/service/token?service=berth&scope=repository:tok/app:pull,push,delete", nil)
	req.SetBasicAuth("g", "guest-password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	parts := strings.Split(body.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", body.Token)
	}
	payload, err := decodeSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Access []struct {
			Type, Name string
			Actions    []string
		}
	}
	_ = json.Unmarshal(payload, &claims)
	if got := fmt.Sprint(claims.Access); got != "[{repository tok/app [pull]}]" {
		t.Fatalf("guest's token grants %s, want pull on tok/app only", got)
	}
}

func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(s)
}
