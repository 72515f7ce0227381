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
	var out []map[string]string
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
