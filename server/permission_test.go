package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/server/servertest"
)

// permRow is one caller of the permission matrix: who calls (no user: anonymous), in which project,
// and what harbor-compat §1 lets them do there. The expectations are written out here, not read
// from auth's table (auth/permission_test.go holds that table against the spec), so that a surface
// that checks the wrong action, or none, fails.
type permRow struct {
	user, password string
	role           string // role in "priv"; "" for none
	project        string // "priv" (private, a member per role) or "pub" (public, no members)
	can            string // what the caller may do, space-separated words from permCapabilities
}

var permCapabilities = []string{
	"see", "pull", "push", "createTag", "deleteTag", "deleteArtifact", "label", "settings",
	"readMembers", "manageMembers", "deleteProject",
}

var permRows = []permRow{
	{"pa", "pa-password", "project_admin", "priv", "see pull push createTag deleteTag deleteArtifact label settings readMembers manageMembers deleteProject"},
	{"maint", "maint-password", "maintainer", "priv", "see pull push createTag deleteTag deleteArtifact label settings readMembers"},
	{"dev", "dev-password", "developer", "priv", "see pull push createTag label readMembers"},
	{"guest", "guest-password", "guest", "priv", "see pull readMembers"},
	{"lguest", "lguest-password", "limited_guest", "priv", "see pull"},
	{"outsider", "outsider-password", "", "priv", ""},
	{"", "", "", "priv", ""},
	{"outsider", "outsider-password", "", "pub", "see pull"},
	{"", "", "", "pub", "see pull"},
	{"admin", servertest.AdminPassword, "", "priv", strings.Join(permCapabilities, " ")},
}

var permAdmin = permRow{user: "admin", password: servertest.AdminPassword}

func (r permRow) anonymous() bool { return r.user == "" }

func (r permRow) name() string {
	if r.anonymous() {
		return "anonymous-" + r.project
	}
	return r.user + "-" + r.project
}

func (r permRow) may(capability string) bool {
	if !slices.Contains(permCapabilities, capability) {
		panic("unknown capability " + capability)
	}
	return slices.Contains(strings.Fields(r.can), capability)
}

// authorization is the Authorization header the caller sends: Basic, as scripts do, or none.
func (r permRow) authorization() string {
	if r.anonymous() {
		return ""
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(r.user+":"+r.password))
}

// gqlDenied is the GraphQL error code of a refusal: NOT_FOUND when the caller may not even see the
// project (its existence must not leak), UNAUTHENTICATED when logging in might help, else FORBIDDEN.
func (r permRow) gqlDenied() string {
	switch {
	case !r.may("see"):
		return "NOT_FOUND"
	case r.anonymous():
		return "UNAUTHENTICATED"
	default:
		return "FORBIDDEN"
	}
}

// restDenied is the same refusal in Harbor's REST shape.
func (r permRow) restDenied() (int, string) {
	switch {
	case !r.may("see"):
		return http.StatusNotFound, "NOT_FOUND"
	case r.anonymous():
		return http.StatusUnauthorized, "UNAUTHORIZED"
	default:
		return http.StatusForbidden, "FORBIDDEN"
	}
}

// permFixture is the one server every row runs against, with what the rows share.
type permFixture struct {
	env      *servertest.Env
	projects map[string]int    // project id by name
	labels   map[string]string // a project label's id, by project name
	base     map[string]string // digest of <project>/app:base
}

// do sends one request and returns its status, headers and body.
func (f *permFixture) do(t *testing.T, method, path, authorization string, body []byte, contentType string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.env.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// permErrCode is errors[0].code of a /v2 or REST error body (both use the same shape).
func permErrCode(body []byte) string {
	var e struct{ Errors []struct{ Code string } }
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// push stores a fresh artifact tagged tag in <project>/app, as admin: the base image with an
// annotation that makes its digest its own, so that each row deletes only what it pushed.
func (f *permFixture) push(t *testing.T, project, tag string) (digest, id string) {
	t.Helper()
	status, _, body := f.do(t, http.MethodGet, "/v2/"+project+"/app/manifests/base", permAdmin.authorization(), nil, "")
	if status != http.StatusOK {
		t.Fatalf("get base manifest: %d %s", status, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["annotations"] = map[string]string{"row": tag}
	body, _ = json.Marshal(m)
	sum := sha256.Sum256(body)
	digest = "sha256:" + hex.EncodeToString(sum[:])
	status, _, resp := f.do(t, http.MethodPut, "/v2/"+project+"/app/manifests/"+tag, permAdmin.authorization(), body, "application/vnd.oci.image.manifest.v1+json")
	if status != http.StatusCreated {
		t.Fatalf("push %s: %d %s", tag, status, resp)
	}
	var a struct{ Artifact struct{ ID string } }
	f.env.MustGraphQL("admin", servertest.AdminPassword, `query($r: String!, $d: String!) { artifact(repository: $r, reference: $d) { id } }`,
		map[string]any{"r": project + "/app", "d": digest}, &a)
	if a.Artifact.ID == "" {
		t.Fatalf("pushed %s:%s is not in the index", project, tag)
	}
	return digest, a.Artifact.ID
}

// pushRepository makes a new repository <project>/<name> as admin, holding the base image (its
// blobs mounted from <project>/app), and returns the repository's id.
func (f *permFixture) pushRepository(t *testing.T, project, name string) string {
	t.Helper()
	status, _, manifest := f.do(t, http.MethodGet, "/v2/"+project+"/app/manifests/base", permAdmin.authorization(), nil, "")
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(manifest, &m); status != http.StatusOK || err != nil {
		t.Fatalf("get base manifest: %d %s", status, manifest)
	}
	blobs := []string{m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	repo := project + "/" + name
	for _, b := range blobs {
		status, _, body := f.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?mount="+b+"&from="+project+"/app", permAdmin.authorization(), nil, "")
		if status != http.StatusCreated {
			t.Fatalf("mount %s into %s: %d %s", b, repo, status, body)
		}
	}
	status, _, body := f.do(t, http.MethodPut, "/v2/"+repo+"/manifests/v1", permAdmin.authorization(), manifest, "application/vnd.oci.image.manifest.v1+json")
	if status != http.StatusCreated {
		t.Fatalf("push %s: %d %s", repo, status, body)
	}
	var r struct{ Repository struct{ ID string } }
	f.env.MustGraphQL("admin", servertest.AdminPassword, `query($n: String!) { repository(name: $n) { id } }`, map[string]any{"n": repo}, &r)
	return r.Repository.ID
}

// wantManifest checks, as admin, whether <project>/app:<ref> is there: a denied delete must leave
// it, an allowed one must remove it.
func (f *permFixture) wantManifest(t *testing.T, what, project, ref string, present bool) {
	t.Helper()
	status, _, body := f.do(t, http.MethodGet, "/v2/"+project+"/app/manifests/"+ref, permAdmin.authorization(), nil, "")
	want := http.StatusNotFound
	if present {
		want = http.StatusOK
	}
	if status != want {
		t.Errorf("after %s, admin's GET %s/app:%s = %d %s, want %d", what, project, ref, status, body, want)
	}
}

// One server; every caller of the role table tries every operation on every surface. Allowed and
// denied outcomes are both asserted, with the exact status or error code, and the state is checked
// afterwards so that a "denied" answer after the deed, or an "allowed" one without it, fails too.
// Rows run one after another: they share the project's settings and members.
func TestPermissionMatrixOnRegistryGraphQLAndREST(t *testing.T) {
	t.Parallel()
	for _, r := range permRows {
		for _, c := range strings.Fields(r.can) {
			if !slices.Contains(permCapabilities, c) {
				t.Fatalf("row %s: unknown capability %q", r.name(), c)
			}
		}
	}
	env := servertest.Start(t)
	f := &permFixture{env: env, projects: map[string]int{}, labels: map[string]string{}, base: map[string]string{}}
	f.projects["priv"] = env.CreateProject("priv", false)
	f.projects["pub"] = env.CreateProject("pub", true)
	env.CreateUser("outsider", "outsider-password")
	env.CreateUser("spare", "spare-password")
	for _, r := range permRows {
		if r.role != "" {
			env.CreateUser(r.user, r.password)
			env.AddMember(f.projects["priv"], r.user, r.role)
		}
	}
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	for name, id := range f.projects {
		var l struct{ CreateLabel struct{ ID string } }
		env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID) { createLabel(input: {name: "prod", projectID: $p}) { id } }`,
			map[string]any{"p": id}, &l)
		f.labels[name] = l.CreateLabel.ID
		ref := env.Host + "/" + name + "/app:base"
		if out, err := crane("append", "--oci-empty-base", "-f", layerTar(t, "base.txt", name), "-t", ref); err != nil {
			t.Fatalf("push %s: %v\n%s", ref, err, out)
		}
		d, err := crane("digest", ref)
		if err != nil {
			t.Fatalf("digest %s: %v %s", ref, err, d)
		}
		f.base[name] = strings.TrimSpace(d)

		// Creating a project made admin its project admin: drop that membership so that the admin
		// row tests the system-admin path alone, and "pub" has no members at all.
		var p struct {
			Project struct {
				MemberList []struct {
					ID   string
					User struct{ Username string }
				}
			}
		}
		env.MustGraphQL("admin", servertest.AdminPassword, `query($n: String!) { project(name: $n) { memberList { id user { username } } } }`,
			map[string]any{"n": name}, &p)
		for _, m := range p.Project.MemberList {
			if m.User.Username == "admin" {
				env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": m.ID}, nil)
			}
		}
	}

	// The catalog first, while each project holds exactly one repository.
	t.Run("catalog", func(t *testing.T) { checkCatalogPermissions(t, f) })
	for _, r := range permRows {
		t.Run(r.name(), func(t *testing.T) {
			t.Run("registry", func(t *testing.T) { checkRegistryPermissions(t, f, r) })
			t.Run("graphql", func(t *testing.T) { checkGraphQLPermissions(t, f, r) })
			t.Run("rest", func(t *testing.T) { checkRESTPermissions(t, f, r) })
		})
	}

	t.Run("delete project", func(t *testing.T) { checkDeleteProject(t, f) })
}

// checkRegistryPermissions tries pull, tag listing, push (raw and with crane), tag and artifact
// deletion at /v2, with Basic credentials and with a token from the token service.
func checkRegistryPermissions(t *testing.T, f *permFixture, r permRow) {
	repo := "/v2/" + r.project + "/app"
	// expect asserts one /v2 answer: okStatus when allowed; else 401 with a Bearer challenge for
	// the anonymous (logging in may help) and 403 DENIED for everyone else.
	expect := func(what string, allowed bool, okStatus, status int, hdr http.Header, body []byte) {
		t.Helper()
		switch {
		case allowed:
			if status != okStatus {
				t.Errorf("%s: %d %s, want %d", what, status, body, okStatus)
			}
		case r.anonymous():
			if status != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer realm=") {
				t.Errorf("%s: %d (WWW-Authenticate %q) %s, want 401 with a Bearer challenge", what, status, hdr.Get("WWW-Authenticate"), body)
			}
		case !r.may("see"):
			// A private project the caller may not see answers as one that does not exist.
			if status != http.StatusNotFound || permErrCode(body) != "NAME_UNKNOWN" {
				t.Errorf("%s: %d %s, want 404 NAME_UNKNOWN", what, status, body)
			}
		default:
			if status != http.StatusForbidden || permErrCode(body) != "DENIED" {
				t.Errorf("%s: %d %s, want 403 DENIED", what, status, body)
			}
		}
	}
	basic := r.authorization()

	status, hdr, body := f.do(t, http.MethodGet, repo+"/manifests/base", basic, nil, "")
	expect("pull", r.may("pull"), http.StatusOK, status, hdr, body)
	if r.may("pull") && hdr.Get("Docker-Content-Digest") != f.base[r.project] {
		t.Errorf("pull served %s, want %s", hdr.Get("Docker-Content-Digest"), f.base[r.project])
	}
	status, hdr, body = f.do(t, http.MethodGet, repo+"/tags/list", basic, nil, "")
	expect("tags/list", r.may("pull"), http.StatusOK, status, hdr, body)
	if r.may("pull") && !strings.Contains(string(body), `"base"`) {
		t.Errorf("tags/list = %s, want base in it", body)
	}
	status, hdr, body = f.do(t, http.MethodPost, repo+"/blobs/uploads/", basic, nil, "")
	expect("start upload", r.may("push"), http.StatusAccepted, status, hdr, body)

	// A real client goes through the token service and sees the same decision.
	crane := setupCrane(t, f.env, r.user, r.password)
	craneTag := "crane-" + r.name()
	out, err := crane("append", "--oci-empty-base", "-f", layerTar(t, "crane.txt", r.name()), "-t", f.env.Host+"/"+r.project+"/app:"+craneTag)
	// crane stops at its first refused request, often a HEAD, whose answer has no body: it then
	// reports the status line rather than the error code.
	refusal := []string{"DENIED", "403 Forbidden"}
	switch {
	case r.anonymous():
		refusal = []string{"UNAUTHORIZED", "401 Unauthorized"}
	case !r.may("see"):
		refusal = []string{"NAME_UNKNOWN", "404 Not Found"}
	}
	switch {
	case r.may("push") && err != nil:
		t.Errorf("crane push: %v\n%s", err, out)
	case !r.may("push") && (err == nil || !strings.Contains(out, refusal[0]) && !strings.Contains(out, refusal[1])):
		t.Errorf("crane push: err %v, output %s; want a refusal saying %s", err, out, strings.Join(refusal, " or "))
	}
	f.wantManifest(t, "crane push", r.project, craneTag, r.may("push"))

	tag := "v2tag-" + r.name()
	tagged, _ := f.push(t, r.project, tag)
	status, hdr, body = f.do(t, http.MethodDelete, repo+"/manifests/"+tag, basic, nil, "")
	expect("delete tag", r.may("deleteTag"), http.StatusAccepted, status, hdr, body)
	f.wantManifest(t, "delete tag", r.project, tag, !r.may("deleteTag"))
	f.wantManifest(t, "delete tag", r.project, tagged, true) // untagging keeps the artifact

	digest, _ := f.push(t, r.project, "v2digest-"+r.name())
	status, hdr, body = f.do(t, http.MethodDelete, repo+"/manifests/"+digest, basic, nil, "")
	expect("delete artifact", r.may("deleteArtifact"), http.StatusAccepted, status, hdr, body)
	f.wantManifest(t, "delete artifact", r.project, digest, !r.may("deleteArtifact"))

	// The token service leaves out what the role does not grant (a guest asking pull,push gets
	// pull), and the registry holds a token's bearer to the table as well.
	status, _, body = f.do(t, http.MethodGet, "/service/token?service=berth&scope=repository:"+r.project+"/app:pull,push,delete", basic, nil, "")
	if status != http.StatusOK {
		t.Fatalf("token: %d %s", status, body)
	}
	var tok struct{ Token string }
	_ = json.Unmarshal(body, &tok)
	var want []string
	for _, c := range []struct{ capability, action string }{{"pull", "pull"}, {"push", "push"}, {"deleteArtifact", "delete"}} {
		if r.may(c.capability) {
			want = append(want, c.action)
		}
	}
	if got := permTokenActions(t, tok.Token, r.project+"/app"); !slices.Equal(got, want) {
		t.Errorf("token for pull,push,delete grants %v, want %v", got, want)
	}
	bearer := "Bearer " + tok.Token
	status, hdr, body = f.do(t, http.MethodGet, repo+"/manifests/base", bearer, nil, "")
	expect("pull with a token", r.may("pull"), http.StatusOK, status, hdr, body)
	status, hdr, body = f.do(t, http.MethodPost, repo+"/blobs/uploads/", bearer, nil, "")
	expect("start upload with a token", r.may("push"), http.StatusAccepted, status, hdr, body)
}

// permTokenActions decodes a registry token's payload (no signature check: the registry does that)
// and returns the actions it grants on repo.
func permTokenActions(t *testing.T, token, repo string) []string {
	t.Helper()
	var actions []string
	for _, g := range tokenGrants(t, token) {
		action, ok := strings.CutPrefix(g, "repository:"+repo+":")
		if !ok {
			t.Errorf("token grants %s, asked only for repository %s", g, repo)
			continue
		}
		actions = append(actions, action)
	}
	return actions
}

// checkGraphQLPermissions tries what the UI does: see the project, tag, untag, label and delete an
// artifact, delete a repository, change settings, read and manage members, delete the project.
func checkGraphQLPermissions(t *testing.T, f *permFixture, r permRow) {
	gql := func(query string, vars map[string]any) *servertest.GraphQLResponse {
		return f.env.GraphQL(r.user, r.password, query, vars)
	}
	// expect asserts success when allowed, else the refusal's code; it reports whether it succeeded.
	expect := func(what string, allowed bool, res *servertest.GraphQLResponse) bool {
		t.Helper()
		switch {
		case allowed && len(res.Errors) > 0:
			t.Errorf("%s: %+v, want success", what, res.Errors)
		case !allowed && res.Code() != r.gqlDenied():
			t.Errorf("%s: %s %+v, want %s", what, res.Data, res.Errors, r.gqlDenied())
		}
		return len(res.Errors) == 0
	}
	admin := func(query string, vars map[string]any, out any) {
		t.Helper()
		f.env.MustGraphQL("admin", servertest.AdminPassword, query, vars, out)
	}
	projectID := f.projects[r.project]
	repo := r.project + "/app"

	var seen struct{ Project *struct{ Name string } }
	res := gql(`query($n: String!) { project(name: $n) { name } }`, map[string]any{"n": r.project})
	_ = json.Unmarshal(res.Data, &seen)
	if len(res.Errors) > 0 || (seen.Project != nil) != r.may("see") {
		t.Errorf("project(name: %q) = %s %+v, want visible=%v", r.project, res.Data, res.Errors, r.may("see"))
	}

	tag := "gql-" + r.name()
	digest, artifactID := f.push(t, r.project, tag)
	res = gql(`mutation($a: ID!, $n: String!) { createTag(artifactID: $a, name: $n) { name } }`,
		map[string]any{"a": artifactID, "n": tag + "-new"})
	expect("createTag", r.may("createTag"), res)
	f.wantManifest(t, "createTag", r.project, tag+"-new", r.may("createTag"))

	res = gql(`mutation($a: ID!, $l: ID!) { addArtifactLabel(artifactID: $a, labelID: $l) { id } }`,
		map[string]any{"a": artifactID, "l": f.labels[r.project]})
	expect("addArtifactLabel", r.may("label"), res)
	var labelled struct {
		Artifact struct{ Labels []struct{ ID string } }
	}
	admin(`query($r: String!, $d: String!) { artifact(repository: $r, reference: $d) { labels { id } } }`,
		map[string]any{"r": repo, "d": digest}, &labelled)
	if got := len(labelled.Artifact.Labels); got != map[bool]int{true: 1, false: 0}[r.may("label")] {
		t.Errorf("after addArtifactLabel the artifact has %d labels, allowed=%v", got, r.may("label"))
	}

	var tags struct {
		Artifact struct{ Tags []struct{ ID, Name string } }
	}
	admin(`query($r: String!, $d: String!) { artifact(repository: $r, reference: $d) { tags { id name } } }`,
		map[string]any{"r": repo, "d": digest}, &tags)
	tagID := ""
	for _, tg := range tags.Artifact.Tags {
		if tg.Name == tag {
			tagID = tg.ID
		}
	}
	res = gql(`mutation($id: ID!) { deleteTag(id: $id) }`, map[string]any{"id": tagID})
	expect("deleteTag", r.may("deleteTag"), res)
	f.wantManifest(t, "deleteTag", r.project, tag, !r.may("deleteTag"))

	res = gql(`mutation($a: ID!) { deleteArtifact(id: $a) }`, map[string]any{"a": artifactID})
	expect("deleteArtifact", r.may("deleteArtifact"), res)
	f.wantManifest(t, "deleteArtifact", r.project, digest, !r.may("deleteArtifact"))

	repoID := f.pushRepository(t, r.project, "gone-"+r.name())
	res = gql(`mutation($id: ID!) { deleteRepository(id: $id) }`, map[string]any{"id": repoID})
	expect("deleteRepository", r.may("deleteArtifact"), res)
	var still struct{ Repository *struct{ ID string } }
	admin(`query($n: String!) { repository(name: $n) { id } }`, map[string]any{"n": r.project + "/gone-" + r.name()}, &still)
	if (still.Repository == nil) != r.may("deleteArtifact") {
		t.Errorf("after deleteRepository the repository exists: %v, allowed=%v", still.Repository != nil, r.may("deleteArtifact"))
	}

	// Settings: flip autoScan and see, as admin, whether it flipped.
	autoScan := func() bool {
		var p struct{ Project struct{ AutoScan bool } }
		admin(`query($n: String!) { project(name: $n) { autoScan } }`, map[string]any{"n": r.project}, &p)
		return p.Project.AutoScan
	}
	before := autoScan()
	res = gql(`mutation($p: ID!, $v: Boolean!) { updateProject(id: $p, input: {autoScan: $v}) { autoScan } }`,
		map[string]any{"p": projectID, "v": !before})
	expect("updateProject", r.may("settings"), res)
	if after := autoScan(); (after != before) != r.may("settings") {
		t.Errorf("updateProject: autoScan went from %v to %v, allowed=%v", before, after, r.may("settings"))
	}

	const membersQuery = `query($n: String!) { project(name: $n) { memberList { user { username } } } }`
	usernames := func(data json.RawMessage) []string {
		var p struct {
			Project *struct {
				MemberList []struct{ User struct{ Username string } }
			}
		}
		_ = json.Unmarshal(data, &p)
		var names []string
		if p.Project != nil {
			for _, m := range p.Project.MemberList {
				names = append(names, m.User.Username)
			}
		}
		return names
	}
	members := func() []string {
		res := f.env.GraphQL("admin", servertest.AdminPassword, membersQuery, map[string]any{"n": r.project})
		if len(res.Errors) > 0 {
			t.Fatalf("members as admin: %+v", res.Errors)
		}
		return usernames(res.Data)
	}
	// A project the caller cannot see gives them no memberList to ask for: project() is null above.
	if r.may("see") {
		res = gql(membersQuery, map[string]any{"n": r.project})
		if expect("memberList", r.may("readMembers"), res) {
			if got, want := usernames(res.Data), members(); len(got) < 2 || !slices.Equal(got, want) {
				t.Errorf("memberList = %v, want the members %v", got, want)
			}
		}
	}
	res = gql(`mutation($p: ID!) { addMember(projectID: $p, username: "spare", role: GUEST) { id } }`, map[string]any{"p": projectID})
	expect("addMember", r.may("manageMembers"), res)
	if got := slices.Contains(members(), "spare"); got != r.may("manageMembers") {
		t.Errorf("after addMember, spare is a member: %v, allowed=%v", got, r.may("manageMembers"))
	}
	if len(res.Errors) == 0 {
		var m struct{ AddMember struct{ ID string } }
		_ = json.Unmarshal(res.Data, &m)
		admin(`mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": m.AddMember.ID}, nil)
	}

	// The project holds a repository, so a caller the table lets through is stopped by the
	// emptiness check (CONFLICT) instead: the code tells which check answered and nothing is lost.
	// checkDeleteProject deletes an empty one for real.
	res = gql(`mutation($p: ID!) { deleteProject(id: $p) }`, map[string]any{"p": projectID})
	want := r.gqlDenied()
	if r.may("deleteProject") {
		want = "CONFLICT"
	}
	if res.Code() != want {
		t.Errorf("deleteProject: %s %+v, want %s", res.Data, res.Errors, want)
	}
}

// checkRESTPermissions tries Harbor's REST API: get the project, find it in the list, delete an
// artifact by tag and by digest.
func checkRESTPermissions(t *testing.T, f *permFixture, r permRow) {
	basic := r.authorization()
	status, _, body := f.do(t, http.MethodGet, "/api/v2.0/projects/"+r.project, basic, nil, "")
	if r.may("see") {
		if status != http.StatusOK || !strings.Contains(string(body), `"name":"`+r.project+`"`) {
			t.Errorf("GET project: %d %s, want 200 with the project", status, body)
		}
	} else if status != http.StatusNotFound || permErrCode(body) != "NOT_FOUND" {
		t.Errorf("GET project: %d %s, want 404 NOT_FOUND", status, body)
	}
	status, _, body = f.do(t, http.MethodGet, "/api/v2.0/projects?name="+r.project, basic, nil, "")
	var list []struct{ Name string }
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil {
		t.Fatalf("list projects: %d %s", status, body)
	}
	if listed := len(list) == 1 && list[0].Name == r.project; listed != r.may("see") {
		t.Errorf("list projects = %s, want %s listed: %v", body, r.project, r.may("see"))
	}

	wantStatus, wantCode := http.StatusOK, ""
	if !r.may("deleteArtifact") {
		wantStatus, wantCode = r.restDenied()
	}
	for _, byDigest := range []bool{false, true} {
		tag := fmt.Sprintf("rest-%s-%v", r.name(), byDigest)
		digest, _ := f.push(t, r.project, tag)
		ref := tag
		if byDigest {
			ref = digest
		}
		status, _, body = f.do(t, http.MethodDelete, "/api/v2.0/projects/"+r.project+"/repositories/app/artifacts/"+ref, basic, nil, "")
		if status != wantStatus || permErrCode(body) != wantCode {
			t.Errorf("DELETE artifact %s: %d %s, want %d %s", ref, status, body, wantStatus, wantCode)
		}
		f.wantManifest(t, "REST delete", r.project, digest, !r.may("deleteArtifact"))
	}
}

// checkCatalogPermissions: the catalog lists only repositories the caller may see, and asks
// anonymous callers to log in.
func checkCatalogPermissions(t *testing.T, f *permFixture) {
	for _, c := range []struct {
		who  permRow
		want []string
	}{
		{permRows[4], []string{"priv/app", "pub/app"}}, // a limited guest still sees the project's repositories
		{permRows[5], []string{"pub/app"}},             // a non-member sees only public ones
		{permAdmin, []string{"priv/app", "pub/app"}},
	} {
		status, _, body := f.do(t, http.MethodGet, "/v2/_catalog", c.who.authorization(), nil, "")
		var cat struct{ Repositories []string }
		if err := json.Unmarshal(body, &cat); status != http.StatusOK || err != nil || !slices.Equal(cat.Repositories, c.want) {
			t.Errorf("%s's catalog: %d %s, want %v", c.who.user, status, body, c.want)
		}
	}
	status, hdr, body := f.do(t, http.MethodGet, "/v2/_catalog", "", nil, "")
	if status != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), `scope="registry:catalog:*"`) {
		t.Errorf("anonymous catalog: %d (WWW-Authenticate %q) %s, want 401 with a catalog challenge", status, hdr.Get("WWW-Authenticate"), body)
	}
}

// checkDeleteProject deletes empty projects for real: a maintainer is refused on both surfaces and
// the project stays, a project admin succeeds on both.
func checkDeleteProject(t *testing.T, f *permFixture) {
	pa, maint := permRows[0], permRows[1]
	exists := func(name string) bool {
		var p struct{ Project *struct{ ID string } }
		f.env.MustGraphQL("admin", servertest.AdminPassword, `query($n: String!) { project(name: $n) { id } }`, map[string]any{"n": name}, &p)
		return p.Project != nil
	}
	for _, surface := range []string{"graphql", "rest"} {
		name := "empty-" + surface
		id := f.env.CreateProject(name, false)
		f.env.AddMember(id, pa.user, pa.role)
		f.env.AddMember(id, maint.user, maint.role)
		del := func(r permRow) (status int, code string) {
			if surface == "graphql" {
				res := f.env.GraphQL(r.user, r.password, `mutation($p: ID!) { deleteProject(id: $p) }`, map[string]any{"p": id})
				return 0, res.Code()
			}
			status, _, body := f.do(t, http.MethodDelete, "/api/v2.0/projects/"+name, r.authorization(), nil, "")
			return status, permErrCode(body)
		}
		if status, code := del(maint); code != "FORBIDDEN" || (surface == "rest" && status != http.StatusForbidden) {
			t.Errorf("%s: maintainer deleting a project: %d %q, want 403 FORBIDDEN", surface, status, code)
		}
		if !exists(name) {
			t.Fatalf("%s: the maintainer's refused delete removed the project", surface)
		}
		if status, code := del(pa); code != "" || (surface == "rest" && status != http.StatusOK) {
			t.Errorf("%s: project admin deleting an empty project: %d %q, want success", surface, status, code)
		}
		if exists(name) {
			t.Errorf("%s: the project admin's delete left the project", surface)
		}
	}
}
