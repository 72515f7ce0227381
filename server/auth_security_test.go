package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent/auditlog"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// tokenAnswer is the token service's answer, with the status and headers.
type tokenAnswer struct {
	status int
	header http.Header
	body   string
	Token  string `json:"token"`
	Expiry int    `json:"expires_in"`
}

// askToken asks the token service for scopes with the given Authorization header.
func askToken(t *testing.T, env *servertest.Env, authorization string, scopes ...string) tokenAnswer {
	t.Helper()
	q := url.Values{"service": {"berth"}}
	for _, s := range scopes {
		q.Add("scope", s)
	}
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/service/token?"+q.Encode(), nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := tokenAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// claimsOf verifies a token with the test server's own key and returns its claims.
func claimsOf(t *testing.T, env *servertest.Env, token string) *auth.Claims {
	t.Helper()
	tokens := env.Server.Tokens().WithTTL(time.Minute)
	c, err := tokens.Verify(token)
	if err != nil {
		t.Fatalf("verify token: %v", err)
	}
	return c
}

// waitNextSecond waits until the clock has passed the second a token was issued in, so that a
// token issued now would expire later than it unless the service caps it.
func waitNextSecond(t *testing.T, c *auth.Claims) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Unix() <= c.IssuedAt.Unix() {
		if time.Now().After(deadline) {
			t.Fatal("the clock did not move")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTokenExchangeNeverGrowsScopeOrLife(t *testing.T) {
	t.Parallel()
	f := setupRobots(t)
	env := f.env
	env.CreateUser("dev", "dev-password")
	env.AddMember(f.alpha, "dev", "developer")
	env.AddMember(f.beta, "dev", "developer")

	// A token that may pull alpha/app, presented as Bearer, asking for push there and in beta.
	pull := askToken(t, env, basic("dev", "dev-password"), "repository:alpha/app:pull")
	if pull.status != http.StatusOK {
		t.Fatalf("pull token: %d %s", pull.status, pull.body)
	}
	pullClaims := claimsOf(t, env, pull.Token)
	waitNextSecond(t, pullClaims)
	wider := askToken(t, env, "Bearer "+pull.Token, "repository:alpha/app:pull,push", "repository:beta/app:pull,push,delete", "registry:catalog:*")
	if wider.status != http.StatusOK {
		t.Fatalf("exchanging a pull token: %d %s", wider.status, wider.body)
	}
	c := claimsOf(t, env, wider.Token)
	if len(c.Access) != 1 || c.Access[0].Name != "alpha/app" || strings.Join(c.Access[0].Actions, ",") != "pull" {
		t.Errorf("exchanged token grants %+v; want pull on alpha/app only", c.Access)
	}
	if c.ExpiresAt.After(pullClaims.ExpiresAt.Time) || wider.Expiry > pull.Expiry {
		t.Errorf("exchanged token expires %v (in %ds), after the presented one's %v (in %ds)", c.ExpiresAt, wider.Expiry, pullClaims.ExpiresAt, pull.Expiry)
	}
	// And the registry agrees: the exchanged token cannot push or read beta.
	if got := f.status(t, http.MethodGet, "/v2/beta/app/manifests/v1", "Bearer "+wider.Token, nil); got != http.StatusUnauthorized {
		t.Errorf("exchanged token on beta: %d; want 401", got)
	}
	if got := f.status(t, http.MethodPost, "/v2/alpha/app/blobs/uploads/", "Bearer "+wider.Token, nil); got != http.StatusUnauthorized {
		t.Errorf("exchanged token pushing: %d; want 401", got)
	}

	// A scoped token is never exchanged for an identity token, nor used as one.
	for _, scopes := range [][]string{nil, {""}, {"repository:alpha/app:push"}, {"repository:beta/app:pull"}} {
		if a := askToken(t, env, "Bearer "+pull.Token, scopes...); a.status != http.StatusForbidden || !strings.Contains(a.body, "cannot be exchanged for an identity token") {
			t.Errorf("identity token for a registry token (scopes %q): %d %s; want 403", scopes, a.status, a.body)
		}
	}
	if got := f.status(t, http.MethodGet, "/api/v2.0/projects", "Bearer "+pull.Token, nil); got != http.StatusUnauthorized {
		t.Errorf("registry token on REST: %d; want 401", got)
	}

	// An identity token may be exchanged for a registry token, but never for more time.
	id := askToken(t, env, basic("dev", "dev-password"))
	idClaims := claimsOf(t, env, id.Token)
	waitNextSecond(t, idClaims)
	for _, scopes := range [][]string{nil, {"repository:alpha/app:pull,push"}} {
		a := askToken(t, env, "Bearer "+id.Token, scopes...)
		if a.status != http.StatusOK {
			t.Fatalf("exchanging an identity token (%q): %d %s", scopes, a.status, a.body)
		}
		if c := claimsOf(t, env, a.Token); c.ExpiresAt.After(idClaims.ExpiresAt.Time) {
			t.Errorf("token from an identity token (%q) expires %v, after %v", scopes, c.ExpiresAt, idClaims.ExpiresAt)
		}
	}
	// Basic credentials still get what the role table allows.
	push := askToken(t, env, basic("dev", "dev-password"), "repository:beta/app:pull,push")
	if c := claimsOf(t, env, push.Token); len(c.Access) != 1 || strings.Join(c.Access[0].Actions, ",") != "pull,push" {
		t.Errorf("Basic token grants %+v; want pull,push on beta/app", c.Access)
	}
}

// metric reads one sample of /metrics.
func metric(t *testing.T, env *servertest.Env, name string) float64 {
	t.Helper()
	resp, err := http.Get(env.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	env.CreateUser("victim", "Victim-Password-1")
	env.CreateUser("other-victim", "Victim-Password-2")
	env.CreateUser("bystander", "Bystander-Password-1")
	throttledBefore := metric(t, env, `berth_login_attempts_total{outcome="throttled"}`)

	// 51 wrong passwords at the token service: the last ones are refused unchecked, with 429,
	// Retry-After and a message that says to wait.
	var last tokenAnswer
	throttled := 0
	for i := range 51 {
		last = askToken(t, env, basic("victim", fmt.Sprintf("Wrong-guess-%d", i)))
		if last.status == http.StatusTooManyRequests {
			throttled++
		} else if last.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %s", i, last.status, last.body)
		}
	}
	if last.status != http.StatusTooManyRequests || throttled < 40 {
		t.Fatalf("the 51st wrong password: %d %s (%d throttled); want 429", last.status, last.body, throttled)
	}
	if s, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", last.header.Get("Retry-After"))
	}
	if !strings.Contains(last.body, "wait") {
		t.Errorf("429 body %s does not say to wait", last.body)
	}
	// The account stays locked on every door, right password included, until its allowance refills.
	if a := askToken(t, env, basic("victim", "Victim-Password-1")); a.status != http.StatusTooManyRequests {
		t.Errorf("the right password of a throttled account: %d", a.status)
	}
	for _, path := range []string{"/v2/", "/api/v2.0/projects"} {
		req, _ := http.NewRequest(http.MethodGet, env.URL+path, nil)
		req.SetBasicAuth("victim", "Victim-Password-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s with Basic of a throttled account: %d, Retry-After %q; want 429", path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}

	// The GraphQL login mutation, one attempt per request.
	var gqlLast *servertest.GraphQLResponse
	for i := range 51 {
		gqlLast = env.GraphQLWith(servertest.Client(), nil, `mutation($p: String!) { login(username: "other-victim", password: $p) { kind } }`,
			map[string]any{"p": fmt.Sprintf("Wrong-guess-%d", i)})
	}
	if gqlLast.Code() != "TOO_MANY_REQUESTS" || !strings.Contains(gqlLast.Errors[0].Message, "wait") {
		t.Fatalf("the 51st wrong GraphQL login: %+v; want TOO_MANY_REQUESTS", gqlLast.Errors)
	}

	// Another account, from the same address, is not slowed.
	if a := askToken(t, env, basic("bystander", "Bystander-Password-1")); a.status != http.StatusOK {
		t.Errorf("another account's right password at the token service: %d %s", a.status, a.body)
	}
	r := env.GraphQLWith(servertest.Client(), nil, `mutation { login(username: "bystander", password: "Bystander-Password-1") { kind } }`, nil)
	if len(r.Errors) > 0 {
		t.Errorf("another account's GraphQL login: %+v", r.Errors)
	}

	// Counted in the metrics and the audit log.
	if after := metric(t, env, `berth_login_attempts_total{outcome="throttled"}`); after-throttledBefore < 80 {
		t.Errorf("throttled logins counted: %v; want at least 80 more than %v", after, throttledBefore)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := env.DB.AuditLog.Query().Where(auditlog.Operation("login"), auditlog.Resource("victim (throttled)"), auditlog.ResultEQ(auditlog.ResultFailure)).CountX(t.Context())
		failed := env.DB.AuditLog.Query().Where(auditlog.Operation("login"), auditlog.Resource("other-victim"), auditlog.ResultEQ(auditlog.ResultFailure)).CountX(t.Context())
		if n > 0 && failed > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log: %d throttled logins of victim, %d failed logins of other-victim", n, failed)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLoginThrottlingPerAddress(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.LoginAttempts, c.LoginAddressAttempts = 3, 5 })
	for _, u := range []string{"a", "b", "c"} {
		env.CreateUser(u, "Right-Password-1")
	}
	// Three failures on a, two on b: the address has used its five.
	for _, u := range []string{"a", "a", "a", "b", "b"} {
		if a := askToken(t, env, basic(u, "Wrong-Password-1")); a.status != http.StatusUnauthorized {
			t.Fatalf("wrong password of %s: %d", u, a.status)
		}
	}
	if a := askToken(t, env, basic("c", "Right-Password-1")); a.status != http.StatusTooManyRequests {
		t.Errorf("a login from an address that failed too often: %d; want 429", a.status)
	}
}

func TestOneLoginPerGraphQLRequest(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	for _, q := range []string{
		`mutation { a: login(username: "admin", password: "Guess-1") { kind } b: login(username: "admin", password: "Guess-2") { kind } }`,
		`mutation { login(username: "admin", password: "Guess-1") { kind } ...F } fragment F on Mutation { b: login(username: "admin", password: "Guess-2") { kind } }`,
		`mutation { ... on Mutation { a: login(username: "admin", password: "Guess-1") { kind } } b: login(username: "admin", password: "Guess-2") { kind } }`,
	} {
		jar, _ := cookiejar.New(nil)
		r := env.GraphQLWith(&http.Client{Jar: jar}, nil, q, nil)
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "one login per request") || len(r.Data) > 0 && string(r.Data) != "null" {
			t.Errorf("%s: data %s, errors %+v; want one refusal", q, r.Data, r.Errors)
		}
	}
	// Nothing was tried: the admin account has no failures counted.
	if n := env.DB.AuditLog.Query().Where(auditlog.Operation("login"), auditlog.ResultEQ(auditlog.ResultFailure)).CountX(t.Context()); n != 0 {
		t.Errorf("%d failed logins recorded for refused requests", n)
	}
	r := env.GraphQLWith(servertest.Client(), nil, `mutation($p: String!) { login(username: "admin", password: $p) { kind } }`, map[string]any{"p": servertest.AdminPassword})
	if len(r.Errors) > 0 {
		t.Fatalf("one login: %+v", r.Errors)
	}
}

func TestWeakPasswordsRefused(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	const rule = "password must be 8 to 128 characters long and contain an upper-case letter, a lower-case letter and a digit"
	id := env.CreateUser("alice", "Alice-Password-1")
	for _, weak := range []string{"short1A", "alllowercase1", "ALLUPPERCASE1", "NoDigitsHere", "Aa1" + strings.Repeat("x", 126)} {
		r := env.GraphQL("alice", "Alice-Password-1", `mutation($o: String!, $n: String!) { changePassword(oldPassword: $o, newPassword: $n) }`,
			map[string]any{"o": "Alice-Password-1", "n": weak})
		if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Message != rule {
			t.Errorf("changePassword to %q: %+v; want BAD_USER_INPUT %q", weak, r.Errors, rule)
		}
		r = env.GraphQL("admin", servertest.AdminPassword, `mutation($id: ID!, $p: String!) { updateUser(id: $id, input: {password: $p}) { id } }`,
			map[string]any{"id": id, "p": weak})
		if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Message != rule {
			t.Errorf("updateUser password %q: %+v; want BAD_USER_INPUT %q", weak, r.Errors, rule)
		}
		r = env.GraphQL("admin", servertest.AdminPassword, `mutation($p: String!) { createUser(input: {username: "bob", password: $p}) { id } }`,
			map[string]any{"p": weak})
		if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Message != rule {
			t.Errorf("createUser password %q: %+v; want BAD_USER_INPUT %q", weak, r.Errors, rule)
		}
	}
	// alice's password is unchanged.
	if r := env.GraphQL("alice", "Alice-Password-1", `{ me { kind } }`, nil); len(r.Errors) > 0 {
		t.Errorf("alice after refused changes: %+v", r.Errors)
	}
	// The first admin's password from the environment keeps the rules too.
	cfg := server.Defaults()
	cfg.DatabaseURL = servertest.NewDatabase(t)
	cfg.DataDir = t.TempDir()
	cfg.AdminPassword = "admin-password"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), rule) {
		t.Errorf("a weak BERTH_ADMIN_PASSWORD: %v; want the rule", err)
	}
}

func TestPasswordChangeEndsSessionsAndTokens(t *testing.T) {
	t.Parallel()
	f := setupRobots(t)
	env := f.env
	id := env.CreateUser("alice", "Alice-Password-1")
	env.AddMember(f.alpha, "alice", "developer")

	for _, how := range []string{"changePassword", "updateUser by an administrator"} {
		password := map[string]string{"changePassword": "Alice-Password-1", "updateUser by an administrator": "Alice-Password-2"}[how]
		next := map[string]string{"changePassword": "Alice-Password-2", "updateUser by an administrator": "Alice-Password-3"}[how]

		// A dashboard session, a registry token (used once, so the registry has a cached
		// decision for it), and an identity token, all from before the change.
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar}
		if r := env.GraphQLWith(browser, nil, `mutation($p: String!) { login(username: "alice", password: $p) { kind } }`, map[string]any{"p": password}); len(r.Errors) > 0 {
			t.Fatalf("%s: login: %+v", how, r.Errors)
		}
		u, _ := url.Parse(env.URL)
		oldCookie := jar.Cookies(u)[0]
		registry := askToken(t, env, basic("alice", password), "repository:alpha/app:pull").Token
		identity := askToken(t, env, basic("alice", password)).Token
		if got := f.status(t, http.MethodGet, "/v2/alpha/app/manifests/v1", "Bearer "+registry, nil); got != http.StatusOK {
			t.Fatalf("%s: registry token before: %d", how, got)
		}
		if got := f.status(t, http.MethodGet, "/v2/alpha/app/manifests/v1", basic("alice", password), nil); got != http.StatusOK {
			t.Fatalf("%s: Basic before: %d", how, got)
		}

		switch how {
		case "changePassword":
			r := env.GraphQLWith(browser, nil, `mutation($o: String!, $n: String!) { changePassword(oldPassword: $o, newPassword: $n) }`,
				map[string]any{"o": password, "n": next})
			if len(r.Errors) > 0 {
				t.Fatalf("changePassword: %+v", r.Errors)
			}
			// The browser that changed it got a new session.
			if r := env.GraphQLWith(browser, nil, `{ me { user { username } } }`, nil); !strings.Contains(string(r.Data), "alice") {
				t.Errorf("the changing browser's new session: %s %+v", r.Data, r.Errors)
			}
		default:
			env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!, $p: String!) { updateUser(id: $id, input: {password: $p}) { id } }`,
				map[string]any{"id": id, "p": next}, nil)
		}

		// Everything from before is refused, on the next request.
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/graphql", strings.NewReader(`{"query":"{ me { user { username } } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(&http.Cookie{Name: oldCookie.Name, Value: oldCookie.Value})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "alice") {
			t.Errorf("%s: the old session cookie still works: %s", how, b)
		}
		if got := f.status(t, http.MethodGet, "/v2/alpha/app/manifests/v1", "Bearer "+registry, nil); got != http.StatusUnauthorized {
			t.Errorf("%s: the old registry token: %d; want 401", how, got)
		}
		if got := f.status(t, http.MethodGet, "/api/v2.0/projects", "Bearer "+identity, nil); got != http.StatusUnauthorized {
			t.Errorf("%s: the old identity token: %d; want 401", how, got)
		}
		if a := askToken(t, env, "Bearer "+identity, "repository:alpha/app:pull"); a.status != http.StatusUnauthorized {
			t.Errorf("%s: exchanging the old identity token: %d; want 401", how, a.status)
		}
		if got := f.status(t, http.MethodGet, "/v2/alpha/app/manifests/v1", basic("alice", password), nil); got != http.StatusUnauthorized {
			t.Errorf("%s: the old password: %d; want 401", how, got)
		}
		// The new password, and tokens it gets, work.
		fresh := askToken(t, env, basic("alice", next), "repository:alpha/app:pull")
		if got := f.status(t, http.MethodGet, "/v2/alpha/app/manifests/v1", "Bearer "+fresh.Token, nil); got != http.StatusOK {
			t.Errorf("%s: a token from the new password: %d", how, got)
		}
	}
}

func TestRobotTakeoverRefused(t *testing.T) {
	t.Parallel()
	f := setupRobots(t)
	env := f.env
	env.CreateUser("pa", "pa-password")
	env.AddMember(f.alpha, "pa", "project_admin")
	// A robot that pushes, and a robot that may manage robots but only pull.
	pusher := f.createRobot(t, "pa", "pa-password", &f.alpha, "pusher", "alpha repository pull", "alpha repository push")
	puller := f.createRobot(t, "pa", "pa-password", &f.alpha, "puller", "alpha repository pull")
	manager := f.createRobot(t, "pa", "pa-password", &f.alpha, "manager",
		"alpha robot create", "alpha robot read", "alpha repository pull")
	as := basic(manager.Robot.Name, manager.Secret)

	for _, m := range []struct{ name, query string }{
		{"refreshRobotSecret", `mutation($id: ID!) { refreshRobotSecret(id: $id) { secret } }`},
		{"updateRobot disable", `mutation($id: ID!) { updateRobot(id: $id, input: {disabled: true}) { id } }`},
		{"updateRobot permissions", `mutation($id: ID!) { updateRobot(id: $id, input: {permissions: [{namespace: "alpha", resource: "repository", action: "pull"}]}) { id } }`},
		{"deleteRobot", `mutation($id: ID!) { deleteRobot(id: $id) }`},
	} {
		r := env.GraphQLWith(http.DefaultClient, func(r *http.Request) { r.Header.Set("Authorization", as) }, m.query, map[string]any{"id": pusher.id()})
		if r.Code() != "FORBIDDEN" || !strings.Contains(r.Errors[0].Message, "repository:push") {
			t.Errorf("GraphQL %s of the pushing robot by a pulling manager: %s %+v; want FORBIDDEN naming repository:push", m.name, r.Data, r.Errors)
		}
	}
	for _, m := range []struct{ method, body string }{
		{http.MethodPatch, `{}`}, {http.MethodPut, `{"disable": true}`}, {http.MethodDelete, ``},
	} {
		if got := f.rest(t, m.method, fmt.Sprintf("/robots/%d", pusher.id()), as, m.body, nil); got != http.StatusForbidden {
			t.Errorf("REST %s of the pushing robot by a pulling manager: %d; want 403", m.method, got)
		}
	}
	// The pusher is untouched: its secret still pushes.
	if got := f.status(t, http.MethodGet, "/v2/alpha/app/manifests/v1", basic(pusher.Robot.Name, pusher.Secret), nil); got != http.StatusOK {
		t.Errorf("the pusher after the refused takeover: %d", got)
	}
	// What the manager holds, it may manage; and a project admin manages the pusher.
	if got := f.rest(t, http.MethodPatch, fmt.Sprintf("/robots/%d", puller.id()), as, `{}`, nil); got != http.StatusOK {
		t.Errorf("the manager refreshing a robot with its own permissions: %d", got)
	}
	if r := env.GraphQL("pa", "pa-password", `mutation($id: ID!) { refreshRobotSecret(id: $id) { secret } }`, map[string]any{"id": pusher.id()}); len(r.Errors) > 0 {
		t.Errorf("the project admin refreshing the pusher: %+v", r.Errors)
	}
}

func TestScopedAPITokenReadsOnlyItsScope(t *testing.T) {
	t.Parallel()
	f := setupRobots(t)
	env := f.env
	env.CreateUser("alice", "alice-password")
	env.AddMember(f.alpha, "alice", "developer")
	exportOnly := f.createToken(t, "alice", "alice-password", "exports", "export-cve:create")
	readOnly := f.createToken(t, "alice", "alice-password", "browse", "project:read")

	reads := []struct{ query, leak string }{
		{`{ projects { totalCount edges { node { name } } } }`, "alpha"},
		{`{ project(name: "alpha") { name } }`, "alpha"},
		{`{ repositories { totalCount edges { node { name } } } }`, "alpha/app"},
		{`{ repository(name: "alpha/app") { name } }`, "alpha/app"},
		{`{ artifact(repository: "alpha/app", reference: "v1") { digest } }`, "sha256:"},
	}
	for _, q := range reads {
		r := f.bearerGraphQL(exportOnly.Secret, q.query, nil)
		if strings.Contains(string(r.Data), q.leak) {
			t.Errorf("an export-cve:create token read %s: %s", q.query, r.Data)
		}
		// With project:read the same reads work: the refusal above is the scope's.
		if r := f.bearerGraphQL(readOnly.Secret, q.query, nil); !strings.Contains(string(r.Data), q.leak) {
			t.Errorf("a project:read token could not read %s: %s %+v", q.query, r.Data, r.Errors)
		}
	}
	if got := f.rest(t, http.MethodGet, "/projects", "Bearer "+exportOnly.Secret, "", nil); got == http.StatusOK {
		var list []map[string]any
		f.rest(t, http.MethodGet, "/projects", "Bearer "+exportOnly.Secret, "", &list)
		if len(list) != 0 {
			t.Errorf("an export-cve:create token lists projects over REST: %v", list)
		}
	}
	if got := f.status(t, http.MethodGet, "/v2/alpha/app/manifests/v1", basic("alice", exportOnly.Secret), nil); got == http.StatusOK {
		t.Errorf("an export-cve:create token pulled a manifest")
	}

	// artifact.manifest is a pull: a token that sees the artifact but may not pull gets no manifest.
	r := f.bearerGraphQL(readOnly.Secret, `{ artifact(repository: "alpha/app", reference: "v1") { digest manifest } }`, nil)
	if r.Code() != "FORBIDDEN" || strings.Contains(string(r.Data), "schemaVersion") || !strings.Contains(string(r.Data), "sha256:") {
		t.Errorf("artifact.manifest without pull: %s %+v; want the artifact, no manifest, FORBIDDEN", r.Data, r.Errors)
	}
	if r := env.GraphQL("alice", "alice-password", `{ artifact(repository: "alpha/app", reference: "v1") { manifest } }`, nil); !strings.Contains(string(r.Data), "schemaVersion") {
		t.Errorf("artifact.manifest with pull: %s %+v", r.Data, r.Errors)
	}
}
