package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/berth-registry/berth/server/servertest"
)

func TestLoginSessionLogout(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	client := servertest.Client()

	r := env.GraphQLWith(client, nil, `mutation { login(username: "admin", password: "wrong-password") { kind } }`, nil)
	if r.Code() != "UNAUTHENTICATED" || r.Errors[0].Message != "invalid username or password" {
		t.Fatalf("wrong password: %+v", r.Errors)
	}
	r = env.GraphQLWith(client, nil, `mutation($p: String!) { login(username: "admin", password: $p) { kind admin user { username } } }`,
		map[string]any{"p": servertest.AdminPassword})
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"username":"admin"`) {
		t.Fatalf("login: %s %+v", r.Data, r.Errors)
	}
	// The cookie alone now identifies the caller.
	r = env.GraphQLWith(client, nil, `{ me { kind admin user { username } } }`, nil)
	if !strings.Contains(string(r.Data), `"kind":"USER"`) || !strings.Contains(string(r.Data), `"admin":true`) {
		t.Fatalf("me with cookie = %s", r.Data)
	}
	r = env.GraphQLWith(client, nil, `mutation { logout }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("logout: %+v", r.Errors)
	}
	r = env.GraphQLWith(client, nil, `{ me { kind user { username } } }`, nil)
	if !strings.Contains(string(r.Data), `"kind":"ANONYMOUS"`) {
		t.Fatalf("me after logout = %s", r.Data)
	}
}

func TestIdentityTokenWorksAsBearer(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	token := func(scope string) string {
		req, _ := http.NewRequest(http.MethodGet, env.URL+"/service/token?service=berth"+scope, nil)
		req.SetBasicAuth("admin", servertest.AdminPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Token string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Token == "" {
			t.Fatalf("token: %v", err)
		}
		return body.Token
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	r := env.GraphQLWith(http.DefaultClient, bearer(token("")), `{ me { user { username } } }`, nil)
	if !strings.Contains(string(r.Data), `"username":"admin"`) {
		t.Fatalf("identity token: %s %+v", r.Data, r.Errors)
	}
	// A registry token carries a scope; it must not open the whole API.
	r = env.GraphQLWith(http.DefaultClient, bearer(token("&scope=repository:library/x:pull")), `{ me { kind } }`, nil)
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("scoped token on /graphql: status %d, want 401", r.Status)
	}
}

func TestAnonymousSeesPublicProjectsOnly(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	env.CreateProject("private-one", false)
	env.CreateProject("public-one", true)
	var out struct {
		Projects struct {
			TotalCount int `json:"totalCount"`
			Edges      []struct {
				Node struct{ Name string } `json:"node"`
			} `json:"edges"`
		} `json:"projects"`
	}
	env.MustGraphQL("", "", `{ projects(orderBy: {field: NAME}) { totalCount edges { node { name } } } }`, nil, &out)
	var names []string
	for _, e := range out.Projects.Edges {
		names = append(names, e.Node.Name)
	}
	if strings.Join(names, ",") != "library,public-one" || out.Projects.TotalCount != 2 {
		t.Fatalf("anonymous sees %v (total %d), want library and public-one", names, out.Projects.TotalCount)
	}
}

// A page of projects with their repositories, artifacts and tags costs the same number of
// queries however many projects there are: no query per row.
func TestProjectListQueriesDoNotGrowWithRows(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	ctx := context.Background()
	seed := func(from, to int) {
		for i := from; i < to; i++ {
			p := env.DB.Project.Create().SetName(fmt.Sprintf("p%02d", i)).SaveX(ctx)
			repo := env.DB.Repository.Create().SetName(fmt.Sprintf("p%02d/app", i)).SetProjectID(p.ID).SaveX(ctx)
			for j := range 3 {
				a := env.DB.Artifact.Create().SetRepositoryID(repo.ID).SetDigest(fmt.Sprintf("sha256:%064d", i*10+j)).
					SetMediaType("application/vnd.oci.image.manifest.v1+json").SaveX(ctx)
				env.DB.Tag.Create().SetRepositoryID(repo.ID).SetArtifactID(a.ID).SetName(fmt.Sprintf("v%d", j)).ExecX(ctx)
			}
		}
	}
	// Pages as large as the complexity limit allows for three nested lists (20 × 2 × 5, with tags).
	const query = `{ projects(first: 20) { edges { node { name repositoryCount storageUsed myRole
		repositories(first: 2) { totalCount edges { node { name
			artifacts(first: 5) { edges { node { digest size signed tags { name } } } } } } } } } } }`
	cost := func() int64 {
		before := env.Server.QueryCount()
		env.MustGraphQL("admin", servertest.AdminPassword, query, nil, nil)
		return env.Server.QueryCount() - before
	}
	seed(0, 3)
	small := cost()
	seed(3, 12)
	large := cost()
	// A query per row would add at least 9 statements going from 4 to 13 projects (one per extra
	// project and field). Up to 2 extra are a dataloader batch split in two on a loaded machine.
	if large-small > 2 {
		t.Fatalf("queries for 4 projects: %d, for 13 projects: %d; a list must not cost a query per row", small, large)
	}
	if large > 12 {
		t.Fatalf("listing costs %d queries; expected a handful", large)
	}
}

// graphqlWS is a minimal graphql-transport-ws client.
type graphqlWS struct {
	conn *websocket.Conn
	t    *testing.T
}

func dialGraphQLWS(t *testing.T, env *servertest.Env, user, password string) *graphqlWS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	if user != "" {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, password)
		h.Set("Authorization", req.Header.Get("Authorization"))
	}
	conn, _, err := websocket.Dial(ctx, "ws://"+env.Host+"/graphql", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: h,
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close(websocket.StatusNormalClosure, "") })
	c := &graphqlWS{conn: conn, t: t}
	c.send(map[string]any{"type": "connection_init"})
	if m := c.next(ctx); m["type"] != "connection_ack" {
		t.Fatalf("handshake: %v", m)
	}
	return c
}

// subscribe starts a subscription and returns once the server's event bus feeds it, so that
// nothing the test does next can happen before the subscription hears it.
func (c *graphqlWS) subscribe(env *servertest.Env, id, query string, variables map[string]any) {
	c.t.Helper()
	before := env.Server.EventSubscribers()
	payload := map[string]any{"query": query}
	if variables != nil {
		payload["variables"] = variables
	}
	c.send(map[string]any{"id": id, "type": "subscribe", "payload": payload})
	for deadline := time.Now().Add(10 * time.Second); env.Server.EventSubscribers() <= before || !env.Server.EventsListening(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			c.t.Fatalf("subscription %s is not live after 10s", id)
		}
	}
}

func (c *graphqlWS) send(v any) {
	if err := wsjson.Write(context.Background(), c.conn, v); err != nil {
		c.t.Fatalf("ws write: %v", err)
	}
}

func (c *graphqlWS) next(ctx context.Context) map[string]any {
	for {
		var m map[string]any
		if err := wsjson.Read(ctx, c.conn, &m); err != nil {
			c.t.Fatalf("ws read: %v", err)
		}
		if m["type"] == "ping" {
			c.send(map[string]any{"type": "pong"})
			continue
		}
		return m
	}
}

func TestEventSubscriptionSeesPushesItMaySee(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	secret := env.CreateProject("secret", false)
	env.CreateUser("watcher", "watcher-password")
	env.AddMember(secret, "watcher", "guest") // may see "secret" and the public "library"
	env.CreateProject("hidden", false)

	admin := dialGraphQLWS(t, env, "admin", servertest.AdminPassword)
	watcher := dialGraphQLWS(t, env, "watcher", "watcher-password")
	const query = `subscription { events(types: [ARTIFACT_PUSHED]) { type operator repository tag } }`
	admin.subscribe(env, "1", query, nil)
	watcher.subscribe(env, "1", query, nil)

	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	for _, repo := range []string{"hidden/app", "secret/app"} {
		if out, err := crane("append", "-f", layerTar(t, "f", repo), "-t", env.Host+"/"+repo+":v1"); err != nil {
			t.Fatalf("push %s: %v %s", repo, err, out)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	payload := func(m map[string]any) string { b, _ := json.Marshal(m["payload"]); return string(b) }
	first, second := admin.next(ctx), admin.next(ctx)
	if !strings.Contains(payload(first), `"repository":"hidden/app"`) || !strings.Contains(payload(second), `"repository":"secret/app"`) {
		t.Fatalf("admin got %s then %s", payload(first), payload(second))
	}
	if !strings.Contains(payload(first), `"operator":"admin"`) || !strings.Contains(payload(first), `"tag":"v1"`) {
		t.Fatalf("event lacks operator or tag: %s", payload(first))
	}
	// The watcher may not see "hidden": its first event is the push to "secret".
	got := watcher.next(ctx)
	if !strings.Contains(payload(got), `"repository":"secret/app"`) {
		t.Fatalf("watcher got %s; the push to hidden/app must not reach it", payload(got))
	}
}
