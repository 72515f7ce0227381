package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/servertest"
)

// robotFixture is a server with two private projects, alpha and beta, each holding app:v1.
type robotFixture struct {
	env          *servertest.Env
	alpha, beta  int
	adminCrane   func(args ...string) (string, error)
	alphaV1Image string
}

func setupRobots(t *testing.T) *robotFixture {
	t.Helper()
	env := servertest.Start(t)
	f := &robotFixture{env: env, alpha: env.CreateProject("alpha", false), beta: env.CreateProject("beta", false)}
	f.adminCrane = setupCrane(t, env, "admin", servertest.AdminPassword)
	for _, p := range []string{"alpha", "beta"} {
		if out, err := f.adminCrane("append", "-f", layerTar(t, "a.txt", p), "-t", env.Host+"/"+p+"/app:v1"); err != nil {
			t.Fatalf("push %s: %v\n%s", p, err, out)
		}
	}
	return f
}

// createdRobot is createRobot's answer.
type createdRobot struct {
	Robot struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"robot"`
	Secret string `json:"secret"`
}

func (c createdRobot) id() int {
	var id int
	fmt.Sscan(c.Robot.ID, &id)
	return id
}

const createRobotMutation = `mutation($in: CreateRobotInput!) { createRobot(input: $in) { robot { id name } secret } }`

// createRobot creates a robot as user; perms are "namespace resource action" triples.
func (f *robotFixture) createRobot(t *testing.T, user, password string, projectID *int, name string, perms ...string) createdRobot {
	t.Helper()
	var out struct {
		CreateRobot createdRobot `json:"createRobot"`
	}
	f.env.MustGraphQL(user, password, createRobotMutation, map[string]any{"in": robotInput(projectID, name, perms...)}, &out)
	return out.CreateRobot
}

func robotInput(projectID *int, name string, perms ...string) map[string]any {
	in := map[string]any{"name": name, "permissions": robotPerms(perms...)}
	if projectID != nil {
		in["projectID"] = *projectID
	}
	return in
}

func robotPerms(perms ...string) []map[string]string {
	out := []map[string]string{}
	for _, p := range perms {
		f := strings.Fields(p)
		out = append(out, map[string]string{"namespace": f[0], "resource": f[1], "action": f[2]})
	}
	return out
}

// status sends a request with the given Authorization header and returns the status code.
func (f *robotFixture) status(t *testing.T, method, path, authorization string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(method, f.env.URL+path, bytes.NewReader(body))
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// registryToken asks the token service for a token as user; scope "" asks for an identity token.
func (f *robotFixture) registryToken(t *testing.T, user, password, scope string) string {
	t.Helper()
	q := url.Values{"service": {"berth"}}
	if scope != "" {
		q.Set("scope", scope)
	}
	req, _ := http.NewRequest(http.MethodGet, f.env.URL+"/service/token?"+q.Encode(), nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token for %s: status %d", user, resp.StatusCode)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Token
}

func TestRobotPermissionsOnRegistry(t *testing.T) {
	t.Parallel()
	f := setupRobots(t)
	host := f.env.Host

	puller := f.createRobot(t, "admin", servertest.AdminPassword, &f.alpha, "puller", "alpha repository pull")
	if puller.Robot.Name != "robot$alpha+puller" || puller.Secret == "" {
		t.Fatalf("project robot = %+v, want robot$alpha+puller with a secret", puller)
	}
	crane := setupCrane(t, f.env, puller.Robot.Name, puller.Secret)
	if out, err := crane("pull", host+"/alpha/app:v1", t.TempDir()+"/img.tar"); err != nil {
		t.Fatalf("pull-only robot cannot pull its project: %v\n%s", err, out)
	}
	if out, err := crane("append", "-f", layerTar(t, "b.txt", "b"), "-t", host+"/alpha/app:v2"); err == nil {
		t.Fatalf("pull-only robot pushed:\n%s", out)
	}
	if out, err := crane("manifest", host+"/beta/app:v1"); err == nil {
		t.Fatalf("alpha's robot read beta:\n%s", out)
	}
	if out, err := crane("catalog", host); err != nil || strings.Contains(out, "beta/") || !strings.Contains(out, "alpha/app") {
		t.Fatalf("robot's catalog = %q (%v), want alpha/app only", out, err)
	}

	pusher := f.createRobot(t, "admin", servertest.AdminPassword, &f.alpha, "pusher", "alpha repository pull", "alpha repository push")
	crane = setupCrane(t, f.env, pusher.Robot.Name, pusher.Secret)
	if out, err := crane("append", "-f", layerTar(t, "b.txt", "b"), "-t", host+"/alpha/app:v2"); err != nil {
		t.Fatalf("push robot cannot push: %v\n%s", err, out)
	}
	if out, err := crane("append", "-f", layerTar(t, "b.txt", "b"), "-t", host+"/beta/app:v2"); err == nil {
		t.Fatalf("alpha's push robot pushed to beta:\n%s", out)
	}

	// A project robot's list cannot name another project, nor *.
	r := f.env.GraphQL("admin", servertest.AdminPassword, createRobotMutation,
		map[string]any{"in": robotInput(&f.alpha, "sneaky", "beta repository pull")})
	if r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("project robot with another project's permission: %+v, want BAD_USER_INPUT", r.Errors)
	}
	r = f.env.GraphQL("admin", servertest.AdminPassword, createRobotMutation,
		map[string]any{"in": robotInput(&f.alpha, "sneaky", "* repository pull")})
	if r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("project robot with *: %+v, want BAD_USER_INPUT", r.Errors)
	}

	// A system robot with pull on every project reaches both, and pushes nowhere.
	sys := f.createRobot(t, "admin", servertest.AdminPassword, nil, "mirror", "* repository pull")
	if sys.Robot.Name != "robot$mirror" {
		t.Fatalf("system robot name = %q, want robot$mirror", sys.Robot.Name)
	}
	crane = setupCrane(t, f.env, sys.Robot.Name, sys.Secret)
	for _, p := range []string{"alpha", "beta"} {
		if out, err := crane("manifest", host+"/"+p+"/app:v1"); err != nil {
			t.Fatalf("system pull robot cannot read %s: %v\n%s", p, err, out)
		}
	}
	if out, err := crane("append", "-f", layerTar(t, "c.txt", "c"), "-t", host+"/beta/app:v3"); err == nil {
		t.Fatalf("system pull robot pushed:\n%s", out)
	}
}

// TestRobotRefusedEverywhere ends a robot in each of four ways and checks that its password and
// the tokens it obtained before are refused on /v2, the token service, GraphQL and REST.
func TestRobotRefusedEverywhere(t *testing.T) {
	t.Parallel()
	f := setupRobots(t)
	ends := []struct {
		name string
		end  func(t *testing.T, rb createdRobot)
	}{
		{"disabled", func(t *testing.T, rb createdRobot) {
			f.env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { updateRobot(id: $id, input: {disabled: true}) { disabled } }`,
				map[string]any{"id": rb.id()}, nil)
		}},
		{"expired", func(t *testing.T, rb createdRobot) {
			if err := f.env.DB.Robot.UpdateOneID(rb.id()).SetExpiresAt(time.Now().Add(-time.Second)).Exec(t.Context()); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted", func(t *testing.T, rb createdRobot) {
			f.env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { deleteRobot(id: $id) }`, map[string]any{"id": rb.id()}, nil)
		}},
		{"refreshed", func(t *testing.T, rb createdRobot) {
			var out struct {
				RefreshRobotSecret createdRobot `json:"refreshRobotSecret"`
			}
			f.env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { refreshRobotSecret(id: $id) { robot { id name } secret } }`,
				map[string]any{"id": rb.id()}, &out)
			if out.RefreshRobotSecret.Secret == "" || out.RefreshRobotSecret.Secret == rb.Secret {
				t.Fatalf("refresh gave secret %q, want a new one", out.RefreshRobotSecret.Secret)
			}
			// The new secret works where the old one no longer does.
			if got := f.status(t, http.MethodGet, "/v2/alpha/app/manifests/v1", basic(rb.Robot.Name, out.RefreshRobotSecret.Secret), nil); got != http.StatusOK {
				t.Fatalf("refreshed secret on /v2: %d, want 200", got)
			}
		}},
	}
	for _, e := range ends {
		t.Run(e.name, func(t *testing.T) {
			rb := f.createRobot(t, "admin", servertest.AdminPassword, &f.alpha, e.name, "alpha repository pull", "alpha project read")
			pw := basic(rb.Robot.Name, rb.Secret)
			regToken := "Bearer " + f.registryToken(t, rb.Robot.Name, rb.Secret, "repository:alpha/app:pull")
			idToken := "Bearer " + f.registryToken(t, rb.Robot.Name, rb.Secret, "")
			gql := []byte(`{"query":"{ projects { totalCount } }"}`)
			checks := []struct {
				what, method, path, authorization string
				body                              []byte
			}{
				{"/v2 with Basic", http.MethodGet, "/v2/alpha/app/manifests/v1", pw, nil},
				{"/v2 with a registry token", http.MethodGet, "/v2/alpha/app/manifests/v1", regToken, nil},
				{"token service", http.MethodGet, "/service/token?service=berth&scope=repository:alpha/app:pull", pw, nil},
				{"GraphQL with Basic", http.MethodPost, "/graphql", pw, gql},
				{"GraphQL with an identity token", http.MethodPost, "/graphql", idToken, gql},
				{"REST with Basic", http.MethodGet, "/api/v2.0/projects/alpha/repositories", pw, nil},
				{"REST with an identity token", http.MethodGet, "/api/v2.0/projects/alpha/repositories", idToken, nil},
			}
			for _, c := range checks {
				if got := f.status(t, c.method, c.path, c.authorization, c.body); got != http.StatusOK {
					t.Fatalf("before: %s answered %d, want 200", c.what, got)
				}
			}
			e.end(t, rb)
			for _, c := range checks {
				if got := f.status(t, c.method, c.path, c.authorization, c.body); got != http.StatusUnauthorized {
					t.Errorf("%s robot: %s answered %d, want 401", e.name, c.what, got)
				}
			}
		})
	}
}

// createdToken is createAPIToken's answer.
type createdToken struct {
	Token struct {
		ID string `json:"id"`
	} `json:"token"`
	Secret string `json:"secret"`
}

const createTokenMutation = `mutation($n: String!, $s: [String!]!) { createAPIToken(input: {name: $n, scopes: $s}) { token { id } secret } }`

func (f *robotFixture) createToken(t *testing.T, user, password, name string, scopes ...string) createdToken {
	t.Helper()
	var out struct {
		CreateAPIToken createdToken `json:"createAPIToken"`
	}
	f.env.MustGraphQL(user, password, createTokenMutation, map[string]any{"n": name, "s": scopes}, &out)
	return out.CreateAPIToken
}

// bearerGraphQL posts a query with Authorization: Bearer token.
func (f *robotFixture) bearerGraphQL(token, query string, vars map[string]any) *servertest.GraphQLResponse {
	return f.env.GraphQLWith(http.DefaultClient, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, query, vars)
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	f := setupRobots(t)
	host := f.env.Host
	f.env.CreateUser("alice", "alice-password")
	f.env.AddMember(f.alpha, "alice", "developer")

	full := f.createToken(t, "alice", "alice-password", "laptop", "*")
	if !strings.HasPrefix(full.Secret, "berth_pat_") {
		t.Fatalf("token secret %q lacks the berth_pat_ prefix", full.Secret)
	}
	r := f.bearerGraphQL(full.Secret, `{ me { kind user { username } } }`, nil)
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"username":"alice"`) {
		t.Fatalf("me with an API token = %s %+v, want alice", r.Data, r.Errors)
	}
	if got := f.status(t, http.MethodGet, "/api/v2.0/projects/alpha/repositories", "Bearer "+full.Secret, nil); got != http.StatusOK {
		t.Fatalf("REST with an API token: %d, want 200", got)
	}
	// A token cannot mint tokens, so a scoped or stolen one cannot widen itself.
	r = f.bearerGraphQL(full.Secret, createTokenMutation, map[string]any{"n": "more", "s": []string{"*"}})
	if r.Code() != "FORBIDDEN" {
		t.Fatalf("createAPIToken with an API token: %+v, want FORBIDDEN", r.Errors)
	}
	// As the password of docker login / crane.
	crane := setupCrane(t, f.env, "alice", full.Secret)
	if out, err := crane("append", "-f", layerTar(t, "t.txt", "t"), "-t", host+"/alpha/app:by-token"); err != nil {
		t.Fatalf("push with alice's full token: %v\n%s", err, out)
	}
	idToken := f.registryToken(t, "alice", full.Secret, "")

	// A token scoped to pull cannot push, whatever alice's role.
	pullOnly := f.createToken(t, "alice", "alice-password", "ci", "repository:pull")
	crane = setupCrane(t, f.env, "alice", pullOnly.Secret)
	if out, err := crane("manifest", host+"/alpha/app:v1"); err != nil {
		t.Fatalf("pull with a pull-scoped token: %v\n%s", err, out)
	}
	if out, err := crane("append", "-f", layerTar(t, "u.txt", "u"), "-t", host+"/alpha/app:scoped"); err == nil {
		t.Fatalf("a pull-scoped token pushed:\n%s", out)
	}
	if got := f.status(t, http.MethodGet, "/v2/alpha/app/manifests/v1", basic("bob", pullOnly.Secret), nil); got != http.StatusUnauthorized {
		t.Fatalf("alice's token with another username: %d, want 401", got)
	}

	// The list never shows a secret again: the type has no such field.
	if r := f.env.GraphQL("alice", "alice-password", `{ myAPITokens { name secret } }`, nil); r.Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("myAPITokens { secret }: %+v, want a validation error", r.Errors)
	}
	var list struct {
		MyAPITokens []struct {
			Name       string  `json:"name"`
			LastUsedAt *string `json:"lastUsedAt"`
		} `json:"myAPITokens"`
	}
	f.env.MustGraphQL("alice", "alice-password", `{ myAPITokens { name lastUsedAt } }`, nil, &list)
	if len(list.MyAPITokens) != 2 || list.MyAPITokens[0].Name != "ci" {
		t.Fatalf("myAPITokens = %+v, want ci and laptop", list.MyAPITokens)
	}

	f.env.MustGraphQL("alice", "alice-password", `mutation($id: ID!) { revokeAPIToken(id: $id) { revokedAt } }`,
		map[string]any{"id": full.Token.ID}, nil)
	if r := f.bearerGraphQL(full.Secret, `{ me { kind } }`, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("GraphQL with a revoked token: %d, want 401", r.Status)
	}
	if r := f.bearerGraphQL(idToken, `{ me { kind } }`, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("GraphQL with an identity token of a revoked token: %d, want 401", r.Status)
	}
	for what, authz := range map[string]string{"REST": "Bearer " + full.Secret, "/v2": basic("alice", full.Secret)} {
		path := "/api/v2.0/projects/alpha/repositories"
		if what == "/v2" {
			path = "/v2/alpha/app/manifests/v1"
		}
		if got := f.status(t, http.MethodGet, path, authz, nil); got != http.StatusUnauthorized {
			t.Fatalf("%s with a revoked token: %d, want 401", what, got)
		}
	}
	waitFor(t, "the pull-scoped token's last use", func() bool {
		f.env.MustGraphQL("alice", "alice-password", `{ myAPITokens { name lastUsedAt } }`, nil, &list)
		return list.MyAPITokens[0].LastUsedAt != nil
	})
}

// waitFor polls cond until it holds, failing the test after 30 s. "Last used" and the audit log
// are written off the request path, a few seconds later.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within 30s", what)
		}
	}
}

func TestRobotManagement(t *testing.T) {
	t.Parallel()
	f := setupRobots(t)
	for user, role := range map[string]string{"pa": "project_admin", "maint": "maintainer", "dev": "developer"} {
		f.env.CreateUser(user, user+"-password")
		f.env.AddMember(f.alpha, user, role)
	}
	f.env.CreateUser("outsider", "outsider-password")

	// Project admins manage project robots; maintainers and developers only read them.
	rb := f.createRobot(t, "pa", "pa-password", &f.alpha, "builder", "alpha repository pull", "alpha repository push")
	for _, user := range []string{"maint", "dev"} {
		r := f.env.GraphQL(user, user+"-password", createRobotMutation, map[string]any{"in": robotInput(&f.alpha, user, "alpha repository pull")})
		if r.Code() != "FORBIDDEN" {
			t.Fatalf("%s creates a robot: %+v, want FORBIDDEN", user, r.Errors)
		}
		var list struct {
			Robots []struct{ Name string } `json:"robots"`
		}
		f.env.MustGraphQL(user, user+"-password", `query($p: ID) { robots(projectID: $p) { name } }`, map[string]any{"p": f.alpha}, &list)
		if len(list.Robots) != 1 || list.Robots[0].Name != "robot$alpha+builder" {
			t.Fatalf("%s lists %+v, want robot$alpha+builder", user, list.Robots)
		}
		r = f.env.GraphQL(user, user+"-password", `mutation($id: ID!) { deleteRobot(id: $id) }`, map[string]any{"id": rb.id()})
		if r.Code() != "FORBIDDEN" {
			t.Fatalf("%s deletes a robot: %+v, want FORBIDDEN", user, r.Errors)
		}
	}
	if r := f.env.GraphQL("outsider", "outsider-password", `query($p: ID) { robots(projectID: $p) { name } }`, map[string]any{"p": f.alpha}); r.Code() != "NOT_FOUND" {
		t.Fatalf("outsider lists alpha's robots: %+v, want NOT_FOUND", r.Errors)
	}
	// System robots are for system admins.
	if r := f.env.GraphQL("pa", "pa-password", createRobotMutation, map[string]any{"in": robotInput(nil, "sys", "alpha repository pull")}); r.Code() != "FORBIDDEN" {
		t.Fatalf("project admin creates a system robot: %+v, want FORBIDDEN", r.Errors)
	}
	if r := f.env.GraphQL("pa", "pa-password", `{ robots { name } }`, nil); r.Code() != "FORBIDDEN" {
		t.Fatalf("project admin lists system robots: %+v, want FORBIDDEN", r.Errors)
	}
	// Unknown actions and bad names are refused.
	for what, in := range map[string]map[string]any{
		"unknown action": robotInput(&f.alpha, "x", "alpha repository fly"),
		"bad name":       robotInput(&f.alpha, "Bad Name", "alpha repository pull"),
		"no permission":  robotInput(&f.alpha, "x"),
	} {
		if r := f.env.GraphQL("pa", "pa-password", createRobotMutation, map[string]any{"in": in}); r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("%s: %+v, want BAD_USER_INPUT", what, r.Errors)
		}
	}
	if r := f.env.GraphQL("pa", "pa-password", createRobotMutation, map[string]any{"in": robotInput(&f.alpha, "builder", "alpha repository pull")}); r.Code() != "CONFLICT" {
		t.Fatalf("second robot$alpha+builder: %+v, want CONFLICT", r.Errors)
	}

	// The vocabulary is the role table's, CVE export included (Harbor's robots cannot export).
	var choices struct {
		RobotPermissionChoices []struct{ Resource, Action string } `json:"robotPermissionChoices"`
	}
	f.env.MustGraphQL("pa", "pa-password", `{ robotPermissionChoices { resource action } }`, nil, &choices)
	found := false
	for _, c := range choices.RobotPermissionChoices {
		found = found || (c.Resource == "export-cve" && c.Action == "create")
	}
	if !found || len(choices.RobotPermissionChoices) < 19 {
		t.Fatalf("robotPermissionChoices = %+v, want the role table's actions with export-cve:create", choices.RobotPermissionChoices)
	}

	// A robot that may manage robots cannot give more than it holds itself.
	mgr := f.createRobot(t, "pa", "pa-password", &f.alpha, "manager", "alpha robot create", "alpha repository pull")
	r := f.env.GraphQL(mgr.Robot.Name, mgr.Secret, createRobotMutation, map[string]any{"in": robotInput(&f.alpha, "wider", "alpha repository push")})
	if r.Code() != "FORBIDDEN" {
		t.Fatalf("robot grants push it lacks: %+v, want FORBIDDEN", r.Errors)
	}
	var made struct {
		CreateRobot createdRobot `json:"createRobot"`
	}
	f.env.MustGraphQL(mgr.Robot.Name, mgr.Secret, createRobotMutation, map[string]any{"in": robotInput(&f.alpha, "narrow", "alpha repository pull")}, &made)
	if r := f.env.GraphQL(mgr.Robot.Name, mgr.Secret, `mutation { createProject(input: {name: "robots-own"}) { id } }`, nil); r.Code() != "FORBIDDEN" {
		t.Fatalf("robot creates a project: %+v, want FORBIDDEN", r.Errors)
	}

	// The secret is shown once: no query returns it, and only its hash is stored.
	if r := f.env.GraphQL("pa", "pa-password", `query($p: ID) { robots(projectID: $p) { name secret } }`, map[string]any{"p": f.alpha}); r.Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("robots { secret }: %+v, want a validation error", r.Errors)
	}
	stored, err := f.env.DB.Robot.Get(t.Context(), rb.id())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.SecretHash, []byte(rb.Secret)) || len(stored.SecretHash) != 32 {
		t.Fatalf("stored secret hash %x is not a SHA-256 of the secret", stored.SecretHash)
	}

	// Each use updates lastUsedAt (written off the request path).
	if got := f.status(t, http.MethodGet, "/v2/alpha/app/manifests/v1", basic(rb.Robot.Name, rb.Secret), nil); got != http.StatusOK {
		t.Fatalf("builder pulls: %d", got)
	}
	waitFor(t, "the robot's last use", func() bool {
		var out struct {
			Robot struct {
				LastUsedAt *string `json:"lastUsedAt"`
			} `json:"robot"`
		}
		f.env.MustGraphQL("pa", "pa-password", `query($id: ID!) { robot(id: $id) { lastUsedAt } }`, map[string]any{"id": rb.id()}, &out)
		return out.Robot.LastUsedAt != nil
	})

	f.env.MustGraphQL("pa", "pa-password", `mutation($id: ID!) { deleteRobot(id: $id) }`, map[string]any{"id": rb.id()}, nil)
	waitFor(t, "audit entries for the robot's creation and deletion", func() bool {
		var out struct {
			AuditLogs struct {
				Edges []struct {
					Node struct{ Operation, Username string } `json:"node"`
				} `json:"edges"`
			} `json:"auditLogs"`
		}
		f.env.MustGraphQL("admin", servertest.AdminPassword, `{ auditLogs(where: {resourceType: "robot", resource: "robot$alpha+builder"}) { edges { node { operation username } } } }`, nil, &out)
		ops := map[string]string{}
		for _, e := range out.AuditLogs.Edges {
			ops[e.Node.Operation] = e.Node.Username
		}
		return ops["create"] == "pa" && ops["delete"] == "pa"
	})
}

// rest sends a JSON request to the REST API and decodes a JSON answer into out (if not nil).
func (f *robotFixture) rest(t *testing.T, method, path, authorization, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, f.env.URL+"/api/v2.0"+path, strings.NewReader(body))
	req.Header.Set("Authorization", authorization)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

func TestRobotHarborREST(t *testing.T) {
	t.Parallel()
	f := setupRobots(t)
	admin := basic("admin", servertest.AdminPassword)
	f.env.CreateUser("dev", "dev-password")
	f.env.AddMember(f.alpha, "dev", "developer")
	body := `{"name":"ci","duration":30,"level":"project","permissions":[{"kind":"project","namespace":"alpha",
		"access":[{"resource":"repository","action":"pull"},{"resource":"repository","action":"push"}]}]}`
	if got := f.rest(t, http.MethodPost, "/robots", basic("dev", "dev-password"), body, nil); got != http.StatusForbidden {
		t.Fatalf("developer creates a robot over REST: %d, want 403", got)
	}
	var created struct {
		ID        int    `json:"id"`
		Name      string `json:"name"`
		Secret    string `json:"secret"`
		ExpiresAt int64  `json:"expires_at"`
	}
	if got := f.rest(t, http.MethodPost, "/robots", admin, body, &created); got != http.StatusCreated {
		t.Fatalf("create robot over REST: %d, want 201", got)
	}
	if created.Name != "robot$alpha+ci" || created.Secret == "" || created.ExpiresAt < time.Now().AddDate(0, 0, 29).Unix() {
		t.Fatalf("created = %+v", created)
	}
	// The robot itself uses REST with its Basic credentials.
	var repos []map[string]any
	if got := f.rest(t, http.MethodGet, "/projects/alpha/repositories", basic(created.Name, created.Secret), "", &repos); got != http.StatusOK || len(repos) != 1 {
		t.Fatalf("robot lists alpha's repositories over REST: %d %v", got, repos)
	}
	if got := f.rest(t, http.MethodGet, "/projects/beta/repositories", basic(created.Name, created.Secret), "", nil); got != http.StatusNotFound {
		t.Fatalf("alpha's robot lists beta's repositories over REST: %d, want 404", got)
	}

	var list []map[string]any
	if got := f.rest(t, http.MethodGet, fmt.Sprintf("/robots?q=Level=project,ProjectID=%d", f.alpha), admin, "", &list); got != http.StatusOK || len(list) != 1 {
		t.Fatalf("list alpha's robots: %d %v", got, list)
	}
	if _, ok := list[0]["secret"]; ok || list[0]["name"] != "robot$alpha+ci" {
		t.Fatalf("listed robot %v: want robot$alpha+ci without a secret", list[0])
	}
	// Pages as Harbor's do, with the total in X-Total-Count.
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v2.0/robots?q=Level=project,ProjectID=%d&page=2&page_size=1", f.env.URL, f.alpha), nil)
	req.Header.Set("Authorization", admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Total-Count") != "1" || strings.TrimSpace(string(raw)) != "[]" {
		t.Fatalf("page 2 of alpha's robots: %d, total %q, %s", resp.StatusCode, resp.Header.Get("X-Total-Count"), raw)
	}
	var refreshed struct {
		Secret string `json:"secret"`
	}
	if got := f.rest(t, http.MethodPatch, fmt.Sprintf("/robots/%d", created.ID), admin, `{}`, &refreshed); got != http.StatusOK || refreshed.Secret == "" || refreshed.Secret == created.Secret {
		t.Fatalf("refresh over REST: %d %+v", got, refreshed)
	}
	if got := f.rest(t, http.MethodGet, "/projects/alpha/repositories", basic(created.Name, created.Secret), "", nil); got != http.StatusUnauthorized {
		t.Fatalf("old secret after refresh: %d, want 401", got)
	}
	if got := f.rest(t, http.MethodPut, fmt.Sprintf("/robots/%d", created.ID), admin, `{"disable":true}`, nil); got != http.StatusOK {
		t.Fatalf("disable over REST: %d", got)
	}
	if got := f.rest(t, http.MethodGet, "/projects/alpha/repositories", basic(created.Name, refreshed.Secret), "", nil); got != http.StatusUnauthorized {
		t.Fatalf("disabled robot on REST: %d, want 401", got)
	}
	if got := f.rest(t, http.MethodDelete, fmt.Sprintf("/robots/%d", created.ID), admin, "", nil); got != http.StatusOK {
		t.Fatalf("delete over REST: %d", got)
	}
	if got := f.rest(t, http.MethodGet, fmt.Sprintf("/robots/%d", created.ID), admin, "", nil); got != http.StatusNotFound {
		t.Fatalf("deleted robot: %d, want 404", got)
	}
}
