package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// readAs GETs a /v2 path with the given Authorization header ("" for none) and returns the status
// and body.
func readAs(t *testing.T, baseURL, path, authorization string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, baseURL+path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := servertest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func basicAuth(user, password string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}

// Every kind of permission change reaches cached access decisions: the replica that made it
// refuses the very next pull (manifest and blob alike), and a second replica on the same database
// refuses within a second.
func TestPermissionChangesReachCachedDecisions(t *testing.T) {
	t.Parallel()
	one := servertest.Start(t)
	two := servertest.Start(t, func(c *server.Config) { c.DatabaseURL, c.DataDir, c.RunJobs = one.DatabaseURL, one.DataDir, false })
	pid := one.CreateProject("team", true)
	cacheImage(t, one, "team/app:v1", "team image")
	status, body := readAs(t, one.URL, "/v2/team/app/manifests/v1", "")
	if status != http.StatusOK {
		t.Fatalf("anonymous pull of a public project: %d", status)
	}
	var m struct {
		Config struct{ Digest string }
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Config.Digest == "" {
		t.Fatalf("manifest without a config: %s", body)
	}
	paths := []string{"/v2/team/app/manifests/v1", "/v2/team/app/blobs/" + m.Config.Digest}

	carolID := one.CreateUser("carol", "carol-password-1")
	one.AddMember(pid, "carol", "developer")
	one.CreateUser("dave", "dave-password-1")
	one.AddMember(pid, "dave", "developer")
	var tok struct {
		CreateAPIToken createdToken `json:"createAPIToken"`
	}
	one.MustGraphQL("dave", "dave-password-1", createTokenMutation, map[string]any{"n": "ci", "s": []string{"repository:pull"}}, &tok)
	carol, dave := basicAuth("carol", "carol-password-1"), basicAuth("dave", tok.CreateAPIToken.Secret)

	// warm pulls every path twice (the second from the cache) on both replicas and expects status.
	warm := func(what, authorization string) {
		t.Helper()
		for _, env := range []*servertest.Env{one, two} {
			for _, p := range append(paths, paths...) {
				if got, _ := readAs(t, env.URL, p, authorization); got != http.StatusOK {
					t.Fatalf("%s: %s on %s answered %d before the change, want 200", what, p, env.URL, got)
				}
			}
		}
	}
	refused := func(what, authorization string) {
		t.Helper()
		for _, p := range paths {
			if got, _ := readAs(t, one.URL, p, authorization); got == http.StatusOK {
				t.Errorf("%s: %s still served by the replica that made the change", what, p)
			}
			waitRefused(t, two.URL, p, authorization, what)
		}
	}

	warm("anonymous", "")
	warm("member carol", carol)
	warm("dave's API token", dave)

	one.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { updateProject(id: $id, input: {public: false}) { id } }`,
		map[string]any{"id": pid}, nil)
	refused("project made private, anonymous", "")
	if got, _ := readAs(t, one.URL, paths[0], carol); got != http.StatusOK {
		t.Fatalf("a member's pull after the project went private: %d", got)
	}

	one.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { updateUser(id: $id, input: {disabled: true}) { id } }`,
		map[string]any{"id": fmt.Sprint(carolID)}, nil)
	refused("user disabled", carol)

	one.MustGraphQL("dave", "dave-password-1", `mutation($id: ID!) { revokeAPIToken(id: $id) { id } }`,
		map[string]any{"id": tok.CreateAPIToken.Token.ID}, nil)
	refused("API token revoked", dave)
}

// waitRefused polls path for at most one second (the consistency the cache promises across
// replicas) until it is no longer served.
func waitRefused(t *testing.T, baseURL, path, authorization, what string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got, _ := readAs(t, baseURL, path, authorization)
		if got != http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %s still served by the other replica a second later", what, path)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
