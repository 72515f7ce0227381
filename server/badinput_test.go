package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/ent/blob"
	"github.com/berth-registry/berth/graph"
	"github.com/berth-registry/berth/server/servertest"
)

// answer is one HTTP response, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// apiError is the first entry of an {"errors":[…]} body, the shape of both the registry's and
// the REST API's errors.
func (a answer) apiError() (code, message string) {
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Detail  any    `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal(a.body, &body) != nil || len(body.Errors) == 0 {
		return "", ""
	}
	e := body.Errors[0]
	if e.Detail != nil {
		return e.Code, fmt.Sprintf("%s: %v", e.Message, e.Detail)
	}
	return e.Code, e.Message
}

// send makes one request with Basic credentials (none if user is "") and reads the answer.
func send(t *testing.T, method, url, user, password string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

func TestGraphQLRefusesMalformedQueries(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)

	// nested is an introspection query whose selections are depth fields deep.
	nested := func(depth int) string {
		// __schema, types, fields, type: four levels; then ofType down to a leaf.
		q := "{ __schema { types { fields { type " + strings.Repeat("{ ofType ", depth-5) + "{ name }" +
			strings.Repeat(" }", depth-5) + " } } } }"
		return q
	}
	for _, c := range []struct {
		name, query string
		status      int
		code        string
		message     string // a part of the first error's message
	}{
		{"syntax error", `{ me { kind }`, http.StatusBadRequest, "GRAPHQL_PARSE_FAILED", "Expected Name, found <EOF>"},
		{"unknown field", `{ me { favouriteColour } }`, http.StatusBadRequest, "GRAPHQL_VALIDATION_FAILED", `Cannot query field "favouriteColour" on type "Viewer"`},
		{"too deep", nested(graph.MaxDepth + 1), http.StatusOK, "DEPTH_LIMIT_EXCEEDED",
			fmt.Sprintf("query is nested %d levels deep; the limit is %d", graph.MaxDepth+1, graph.MaxDepth)},
		{"page too large", `{ projects(first: 101) { totalCount } }`, http.StatusOK, "BAD_USER_INPUT", "page size 101 is out of range: ask for 0 to 100 items"},
		{"negative page", `{ projects(last: -1) { totalCount } }`, http.StatusOK, "BAD_USER_INPUT", "page size -1 is out of range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := env.GraphQL("admin", servertest.AdminPassword, c.query, nil)
			if r.Status != c.status || len(r.Errors) == 0 || r.Code() != c.code || !strings.Contains(r.Errors[0].Message, c.message) {
				t.Fatalf("status %d, errors %+v; want %d, code %q, message containing %q", r.Status, r.Errors, c.status, c.code, c.message)
			}
		})
	}

	// The limit is the limit: a query exactly MaxDepth deep, and the largest page, are answered.
	if r := env.GraphQL("admin", servertest.AdminPassword, nested(graph.MaxDepth), nil); len(r.Errors) > 0 || r.Status != http.StatusOK {
		t.Fatalf("query %d deep: status %d, %+v", graph.MaxDepth, r.Status, r.Errors)
	}
	if r := env.GraphQL("admin", servertest.AdminPassword, `{ projects(first: 100) { totalCount } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("first: 100: %+v", r.Errors)
	}
}

func TestCreateProjectAndUserRefuseBadInput(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	const createProject = `mutation($n: String!) { createProject(input: {name: $n}) { id name } }`
	const passwordRule = "password must be 8 to 128 characters long and contain an upper-case letter, a lower-case letter and a digit"
	const createUser = `mutation($u: String!, $p: String!) { createUser(input: {username: $u, password: $p}) { id } }`
	const projectRule = "use lower-case letters and digits, separated by single '.', '_' or '-'"
	const userRule = "use letters, digits, '.', '_' and '-'"

	env.CreateProject("taken", false)
	env.CreateUser("alice", "alice-password")

	for _, c := range []struct {
		name, query string
		vars        map[string]any
		code        string
		message     string
	}{
		{"project upper case", createProject, map[string]any{"n": "MyProject"}, "BAD_USER_INPUT", `invalid project name "MyProject": ` + projectRule},
		{"project with space", createProject, map[string]any{"n": "my project"}, "BAD_USER_INPUT", `invalid project name "my project": ` + projectRule},
		{"project dot dot", createProject, map[string]any{"n": ".."}, "BAD_USER_INPUT", `invalid project name "..": ` + projectRule},
		{"project double separator", createProject, map[string]any{"n": "a..b"}, "BAD_USER_INPUT", `invalid project name "a..b": ` + projectRule},
		{"project with slash", createProject, map[string]any{"n": "a/b"}, "BAD_USER_INPUT", `invalid project name "a/b": ` + projectRule},
		{"project empty", createProject, map[string]any{"n": ""}, "BAD_USER_INPUT", `invalid project name "": ` + projectRule},
		{"project 256 chars", createProject, map[string]any{"n": strings.Repeat("a", 256)}, "BAD_USER_INPUT", projectRule},
		{"project exists", createProject, map[string]any{"n": "taken"}, "CONFLICT", `project "taken" already exists`},
		{"library exists", createProject, map[string]any{"n": "library"}, "CONFLICT", `project "library" already exists`},

		{"user with space", createUser, map[string]any{"u": "bob smith", "p": "long-enough"}, "BAD_USER_INPUT", `invalid username "bob smith": ` + userRule},
		{"user leading dash", createUser, map[string]any{"u": "-bob", "p": "long-enough"}, "BAD_USER_INPUT", `invalid username "-bob": ` + userRule},
		{"user with slash", createUser, map[string]any{"u": "bob/x", "p": "long-enough"}, "BAD_USER_INPUT", `invalid username "bob/x": ` + userRule},
		{"user empty", createUser, map[string]any{"u": "", "p": "long-enough"}, "BAD_USER_INPUT", `invalid username "": ` + userRule},
		{"user 256 chars", createUser, map[string]any{"u": strings.Repeat("b", 256), "p": "long-enough"}, "BAD_USER_INPUT", userRule},
		{"password too short", createUser, map[string]any{"u": "bob", "p": "Short1"}, "BAD_USER_INPUT", passwordRule},
		{"password empty", createUser, map[string]any{"u": "bob", "p": ""}, "BAD_USER_INPUT", passwordRule},
		{"password too long", createUser, map[string]any{"u": "bob", "p": "Aa1" + strings.Repeat("p", 126)}, "BAD_USER_INPUT", passwordRule},
		{"password without upper case", createUser, map[string]any{"u": "bob", "p": "long-enough-1"}, "BAD_USER_INPUT", passwordRule},
		{"password without lower case", createUser, map[string]any{"u": "bob", "p": "LONG-ENOUGH-1"}, "BAD_USER_INPUT", passwordRule},
		{"password without digit", createUser, map[string]any{"u": "bob", "p": "Long-enough"}, "BAD_USER_INPUT", passwordRule},
		{"user exists", createUser, map[string]any{"u": "alice", "p": "Long-enough-1"}, "CONFLICT", `user "alice" already exists`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := env.GraphQL("admin", servertest.AdminPassword, c.query, c.vars)
			if r.Status != http.StatusOK || len(r.Errors) != 1 || r.Code() != c.code || !strings.Contains(r.Errors[0].Message, c.message) {
				t.Fatalf("status %d, errors %+v; want code %s, message containing %q", r.Status, r.Errors, c.code, c.message)
			}
		})
	}

	// Nothing refused was created: the projects are library and taken, the users admin and alice.
	projects := env.DB.Project.Query().CountX(t.Context())
	users := env.DB.User.Query().CountX(t.Context())
	if projects != 2 || users != 2 {
		t.Fatalf("after refused creations: %d projects, %d users; want 2 and 2", projects, users)
	}
	// And the rules are not stricter than they say: the boundary cases are accepted.
	env.CreateProject(strings.Repeat("a", 255), false)
	env.CreateProject("a.b_c-d9", false)
	env.CreateUser("Bob.Smith_2-x", "Pa1"+strings.Repeat("p", 5))
	env.CreateUser(strings.Repeat("c", 255), "Pa1"+strings.Repeat("p", 125))
}

func TestWrongPasswordIsRefusedEverywhere(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	const badCredentials = "invalid username or password"

	for _, c := range []struct {
		name, method, path string
		user               string
		wantChallenge      string // prefix of WWW-Authenticate
	}{
		{"token service", http.MethodGet, "/service/token?service=berth&scope=repository:library/x:pull", "admin", `Basic realm="berth"`},
		{"token service, unknown user", http.MethodGet, "/service/token?service=berth", "nobody", `Basic realm="berth"`},
		{"registry base", http.MethodGet, "/v2/", "admin", `Bearer realm="` + env.URL + `/service/token",service="berth"`},
		{"registry manifest", http.MethodGet, "/v2/library/x/manifests/v1", "admin", `Bearer realm="` + env.URL + `/service/token",service="berth",scope="repository:library/x:pull"`},
		{"graphql", http.MethodPost, "/graphql", "admin", `Basic realm="berth"`},
		{"rest", http.MethodGet, "/api/v2.0/projects", "admin", `Basic realm="berth"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := send(t, c.method, env.URL+c.path, c.user, "wrong-password", []byte(`{"query":"{ me { kind } }"}`),
				map[string]string{"Content-Type": "application/json"})
			code, msg := a.apiError()
			if a.status != http.StatusUnauthorized || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), c.wantChallenge) ||
				code != "UNAUTHORIZED" || msg != badCredentials {
				t.Fatalf("status %d, WWW-Authenticate %q, body %s; want 401, challenge %q, UNAUTHORIZED %q",
					a.status, a.header.Get("WWW-Authenticate"), a.body, c.wantChallenge, badCredentials)
			}
		})
	}

	// The login mutation says the same for a wrong password and for an unknown user, so it does
	// not tell which accounts exist.
	for _, user := range []string{"admin", "nobody"} {
		r := env.GraphQLWith(servertest.Client(), nil, `mutation($u: String!) { login(username: $u, password: "wrong-password") { kind } }`,
			map[string]any{"u": user})
		if r.Status != http.StatusOK || len(r.Errors) != 1 || r.Code() != "UNAUTHENTICATED" || r.Errors[0].Message != badCredentials {
			t.Fatalf("login as %s with a wrong password: status %d, %+v; want UNAUTHENTICATED %q", user, r.Status, r.Errors, badCredentials)
		}
	}
	// The right password still works on each surface (the refusals above were about the password).
	if a := send(t, http.MethodGet, env.URL+"/v2/", "admin", servertest.AdminPassword, nil, nil); a.status != http.StatusOK {
		t.Fatalf("/v2/ with the right password: %d %s", a.status, a.body)
	}
	if a := send(t, http.MethodGet, env.URL+"/service/token?service=berth", "admin", servertest.AdminPassword, nil, nil); a.status != http.StatusOK {
		t.Fatalf("/service/token with the right password: %d %s", a.status, a.body)
	}
}

// ociManifest is an OCI image manifest over the given config and layer blobs.
func ociManifest(config, layer []byte) []byte {
	desc := func(mediaType string, b []byte) map[string]any {
		sum := sha256.Sum256(b)
		return map[string]any{"mediaType": mediaType, "digest": "sha256:" + hex.EncodeToString(sum[:]), "size": len(b)}
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc("application/vnd.oci.image.config.v1+json", config),
		"layers":        []any{desc("application/vnd.oci.image.layer.v1.tar", layer)},
	})
	return m
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestRegistryRefusesBadPushes(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	const pw = servertest.AdminPassword
	const ociType = "application/vnd.oci.image.manifest.v1+json"
	v2 := env.URL + "/v2/"

	// uploadBlob pushes one blob monolithically: POST for an upload, PUT with the digest.
	uploadBlob := func(repo string, b []byte) {
		t.Helper()
		a := send(t, http.MethodPost, v2+repo+"/blobs/uploads/", "admin", pw, nil, nil)
		loc, err := url.Parse(a.header.Get("Location"))
		if a.status != http.StatusAccepted || err != nil {
			t.Fatalf("start upload: %d %s", a.status, a.body)
		}
		q := loc.Query()
		q.Set("digest", digestOf(b))
		loc.RawQuery = q.Encode()
		a = send(t, http.MethodPut, env.URL+loc.String(), "admin", pw, b, map[string]string{"Content-Type": "application/octet-stream"})
		if a.status != http.StatusCreated {
			t.Fatalf("upload blob: %d %s", a.status, a.body)
		}
	}
	// The config is uploaded; the layer not, until the end.
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	uploadBlob("library/refused", config)
	missingLayer := []byte("never uploaded")
	oversized := append([]byte(`{"schemaVersion":2,"annotations":{"padding":"`), bytes.Repeat([]byte("x"), 4<<20)...)
	oversized = append(oversized, []byte(`"}}`)...)

	for _, c := range []struct {
		name, method, path string
		body               []byte
		status             int
		code, message      string // message: a part of message plus detail
	}{
		{"upper-case repository", http.MethodPost, "Library/Hello/blobs/uploads/", nil,
			http.StatusBadRequest, "NAME_INVALID", `invalid repository name "Library/Hello": use <project>/<name> in lower case`},
		{"upper-case manifest", http.MethodPut, "library/Hello/manifests/v1", ociManifest(config, missingLayer),
			http.StatusBadRequest, "NAME_INVALID", `invalid repository name "library/Hello"`},
		{"no project part", http.MethodPost, "hello/blobs/uploads/", nil,
			http.StatusBadRequest, "NAME_INVALID", `invalid repository name "hello": use <project>/<name> in lower case`},
		{"project does not exist", http.MethodPost, "nosuch/app/blobs/uploads/", nil,
			http.StatusNotFound, "NAME_UNKNOWN", `project "nosuch" does not exist or you are not a member of it`},
		{"manifest into a missing project", http.MethodPut, "nosuch/app/manifests/v1", ociManifest(config, missingLayer),
			http.StatusNotFound, "NAME_UNKNOWN", `project "nosuch" does not exist or you are not a member of it`},
		{"malformed manifest", http.MethodPut, "library/refused/manifests/v1", []byte(`{"schemaVersion": 2, "layers": [`),
			http.StatusBadRequest, "MANIFEST_INVALID", "manifest invalid"},
		{"oversized manifest", http.MethodPut, "library/refused/manifests/big", oversized,
			http.StatusBadRequest, "MANIFEST_INVALID", "request body too large"},
		{"manifest with an unknown blob", http.MethodPut, "library/refused/manifests/v1", ociManifest(config, missingLayer),
			http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", digestOf(missingLayer)},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := send(t, c.method, v2+c.path, "admin", pw, c.body, map[string]string{"Content-Type": ociType})
			code, msg := a.apiError()
			if a.status != c.status || code != c.code || !strings.Contains(msg, c.message) {
				t.Fatalf("status %d, body %.300s; want %d %s with %q", a.status, a.body, c.status, c.code, c.message)
			}
		})
	}

	// The server still answers after the oversized body, and nothing refused reached storage's
	// index or the registry: no repository, artifact or tag rows, no manifest to pull. The one blob
	// row is the config that was uploaded: uploads are recorded so that GC can collect them.
	if a := send(t, http.MethodGet, v2, "admin", pw, nil, nil); a.status != http.StatusOK {
		t.Fatalf("/v2/ after the refused pushes: %d %s", a.status, a.body)
	}
	ctx := t.Context()
	repos, artifacts := env.DB.Repository.Query().CountX(ctx), env.DB.Artifact.Query().CountX(ctx)
	tags, blobs := env.DB.Tag.Query().CountX(ctx), env.DB.Blob.Query().CountX(ctx)
	configBlob := env.DB.Blob.Query().Where(blob.Digest(digestOf(config))).ExistX(ctx)
	if repos+artifacts+tags != 0 || blobs != 1 || !configBlob {
		t.Fatalf("index after refused pushes: %d repositories, %d artifacts, %d tags, %d blobs; want only the uploaded config's blob", repos, artifacts, tags, blobs)
	}
	for _, ref := range []string{"v1", "big"} {
		if a := send(t, http.MethodGet, v2+"library/refused/manifests/"+ref, "admin", pw, nil, nil); a.status != http.StatusNotFound {
			t.Fatalf("manifest %s after a refused push: %d %s", ref, a.status, a.body)
		}
	}
	if a := send(t, http.MethodGet, v2+"_catalog", "admin", pw, nil, nil); a.status != http.StatusOK || !bytes.Contains(a.body, []byte(`"repositories":[]`)) {
		t.Fatalf("catalog after refused pushes: %d %s", a.status, a.body)
	}

	// Once the layer is there, the very manifest that was refused is accepted and indexed: the
	// refusal was about the missing blob and nothing else.
	uploadBlob("library/refused", missingLayer)
	if a := send(t, http.MethodPut, v2+"library/refused/manifests/v1", "admin", pw, ociManifest(config, missingLayer),
		map[string]string{"Content-Type": ociType}); a.status != http.StatusCreated {
		t.Fatalf("manifest once its blobs exist: %d %s", a.status, a.body)
	}
	if n := env.DB.Artifact.Query().CountX(ctx); n != 1 {
		t.Fatalf("artifacts after the accepted push = %d, want 1", n)
	}

	// Catalog paging with a repository present: n=0 is an empty page, a bad n is refused.
	for _, c := range []struct {
		query, want string
		status      int
	}{
		{"?n=0", `{"repositories":[]}`, http.StatusOK},
		{"?n=1", `{"repositories":["library/refused"]}`, http.StatusOK},
		{"?n=-1", `"code":"PAGINATION_NUMBER_INVALID"`, http.StatusBadRequest},
		{"?n=many", `"code":"PAGINATION_NUMBER_INVALID"`, http.StatusBadRequest},
	} {
		a := send(t, http.MethodGet, v2+"_catalog"+c.query, "admin", pw, nil, nil)
		if a.status != c.status || !bytes.Contains(a.body, []byte(c.want)) || a.header.Get("Link") != "" {
			t.Fatalf("catalog%s: %d %s (Link %q); want %d with %s and no Link", c.query, a.status, a.body, a.header.Get("Link"), c.status, c.want)
		}
	}
}

func TestRESTRefusesBadInput(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	api := env.URL + "/api/v2.0"
	for _, c := range []struct {
		name, method, path string
		body               string
		status             int
		code, message      string
	}{
		{"malformed JSON", http.MethodPost, "/projects", `{"project_name": `, http.StatusBadRequest, "BAD_REQUEST", "invalid JSON body: unexpected EOF"},
		{"JSON of the wrong shape", http.MethodPost, "/projects", `{"project_name": 42}`, http.StatusBadRequest, "BAD_REQUEST", "invalid JSON body: json: cannot unmarshal number"},
		{"bad project name", http.MethodPost, "/projects", `{"project_name": "Bad Name"}`, http.StatusBadRequest, "BAD_REQUEST", `invalid project name "Bad Name"`},
		{"duplicate project", http.MethodPost, "/projects", `{"project_name": "library"}`, http.StatusConflict, "CONFLICT", `project "library" already exists`},
		{"page size too large", http.MethodGet, "/projects?page_size=1000", "", http.StatusBadRequest, "BAD_REQUEST", "page_size must be between 1 and 100"},
		{"page size zero", http.MethodGet, "/projects?page_size=0", "", http.StatusBadRequest, "BAD_REQUEST", "page_size must be between 1 and 100"},
		{"page not a number", http.MethodGet, "/projects?page=first", "", http.StatusBadRequest, "BAD_REQUEST", "page must be a positive integer"},
		{"unknown project", http.MethodGet, "/projects/nosuch", "", http.StatusNotFound, "NOT_FOUND", "project nosuch not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := send(t, c.method, api+c.path, "admin", servertest.AdminPassword, []byte(c.body), map[string]string{"Content-Type": "application/json"})
			code, msg := a.apiError()
			if a.status != c.status || code != c.code || !strings.Contains(msg, c.message) {
				t.Fatalf("status %d, body %s; want %d %s with %q", a.status, a.body, c.status, c.code, c.message)
			}
		})
	}
	if n := env.DB.Project.Query().CountX(t.Context()); n != 1 {
		t.Fatalf("projects after refused creations = %d, want only library", n)
	}
	if a := send(t, http.MethodGet, api+"/projects?page_size=100", "admin", servertest.AdminPassword, nil, nil); a.status != http.StatusOK {
		t.Fatalf("page_size=100: %d %s", a.status, a.body)
	}
}
