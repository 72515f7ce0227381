package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cache"
	"github.com/berth-registry/berth/ent/auditlog"
	entevent "github.com/berth-registry/berth/ent/event"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// A database outage says what it is on every door: 503 with Retry-After and a generic message,
// never 401 and never the driver's text; warm pulls the cache can answer keep working; nobody's
// login is recorded as failed; and everything works again once the database is back.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	pg := servertest.StartPostgres(t)
	env := servertest.Start(t, func(c *server.Config) { c.DatabaseURL = pg.URL("berth") })
	client := servertest.Client()
	pid := env.CreateProject("outage", false)
	env.CreateUser("dev", "dev-password-1")
	env.AddMember(pid, "dev", "developer")
	dgst := cacheImage(t, env, "outage/app:v1", "outage image")
	// Pushed (and read back) by admin: dev's access to this repository was never decided.
	cacheImage(t, env, "outage/cold:v1", "never pulled by dev")
	token := registryToken(t, env, "dev", "dev-password-1", "outage/app")

	basic := func(r *http.Request) { r.SetBasicAuth("dev", "dev-password-1") }
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	// appPulls counts the manifest pulls of outage/app that succeeded: each must reach the audit
	// log, those made during the outage once the database is back.
	var appPulls int
	do := func(method, path string, body []byte, prepare func(*http.Request)) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, env.URL+path, bytes.NewReader(body))
		req.Header.Set("Accept", manifestAccept)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if prepare != nil {
			prepare(req)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if method == http.MethodGet && path == "/v2/outage/app/manifests/v1" && resp.StatusCode == http.StatusOK {
			appPulls++
		}
		return resp.StatusCode, resp.Header, string(b)
	}
	// Every permission notification sent so far (the setup's, the listener's own start) must have
	// reached this replica before the cache is warmed: one arriving later rightly forgets the warmed
	// decisions. PostgreSQL delivers notifications in commit order, so once one sent now has
	// arrived, every earlier one has too.
	gen := env.Server.AccessGeneration()
	if _, err := env.DB.ExecContext(context.Background(), `SELECT pg_notify($1, 'test barrier')`, cache.AccessChannel); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); env.Server.AccessGeneration() == gen; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the access listener heard nothing for 20 s")
		}
	}
	// The pushes' events forget what the cache holds when they reach this replica, and once more
	// a second later: wait until every event is dispatched and its passes have run (and stay run
	// a moment, for a notification still on its way), or they would forget the warmed entries.
	quietSince := time.Time{}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		undispatched, err := env.DB.Event.Query().Where(entevent.DispatchedAtIsNil()).Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if undispatched > 0 || env.Server.CacheInvalidationsPending() > 0 {
			quietSince = time.Time{}
		} else if quietSince.IsZero() {
			quietSince = time.Now()
		} else if time.Since(quietSince) > 300*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events still undispatched or invalidating after 30 s (%d undispatched, %d pending)", undispatched, env.Server.CacheInvalidationsPending())
		}
	}
	// Warm the cache: the same credentials pull the same manifest the same ways as during the
	// outage, until a round of them needs no database statement (a load racing an invalidation
	// of the pushes above is not kept, so one round may not be enough).
	deadline := time.Now().Add(20 * time.Second)
	for {
		before := env.Server.QueryCount()
		for _, prepare := range []func(*http.Request){basic, bearer} {
			if status, h, body := do(http.MethodGet, "/v2/outage/app/manifests/v1", nil, prepare); status != http.StatusOK || h.Get("Docker-Content-Digest") != dgst {
				t.Fatalf("warm-up pull: %d %s", status, body)
			}
		}
		if env.Server.QueryCount() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pulls still query the database after 20 s of warming up")
		}
		time.Sleep(50 * time.Millisecond)
	}

	_, _, manifest := do(http.MethodGet, "/v2/outage/app/manifests/v1", nil, basic)
	var doc struct {
		Config struct{ Digest string } `json:"config"`
	}
	if err := json.Unmarshal([]byte(manifest), &doc); err != nil || doc.Config.Digest == "" {
		t.Fatalf("manifest %s: %v", manifest, err)
	}

	genBefore := env.Server.AccessGeneration()
	pg.Stop()

	t.Run("warm pulls still answer", func(t *testing.T) {
		for name, prepare := range map[string]func(*http.Request){"basic": basic, "bearer": bearer} {
			for range 3 {
				status, h, body := do(http.MethodGet, "/v2/outage/app/manifests/v1", nil, prepare)
				if status != http.StatusOK || h.Get("Docker-Content-Digest") != dgst {
					t.Errorf("warm pull (%s) with the database down: %d %q, want 200 with %s (access generation %d, %d before the outage)",
						name, status, body, dgst, env.Server.AccessGeneration(), genBefore)
				}
			}
		}
	})

	gql := []byte(`{"query":"{ projects(first: 10) { totalCount } }"}`)
	doors := []struct {
		name, method, path string
		body               []byte
		prepare            func(*http.Request)
	}{
		{"cold pull", http.MethodGet, "/v2/outage/cold/manifests/v1", nil, basic},
		{"pull of an unknown tag", http.MethodGet, "/v2/outage/app/manifests/v2", nil, basic},
		{"cold pull, other credentials", http.MethodGet, "/v2/outage/app/manifests/v1", nil, func(r *http.Request) { r.SetBasicAuth("admin", servertest.AdminPassword) }},
		{"anonymous cold pull", http.MethodGet, "/v2/outage/app/manifests/v1", nil, nil},
		// The blob guard that keeps garbage collection safe needs the database.
		{"blob pull", http.MethodGet, "/v2/outage/app/blobs/" + doc.Config.Digest, nil, basic},
		{"push", http.MethodPost, "/v2/outage/app/blobs/uploads/", nil, basic},
		{"push with a token", http.MethodPost, "/v2/outage/app/blobs/uploads/", nil, bearer},
		{"/v2/ check", http.MethodGet, "/v2/", nil, basic},
		{"docker login", http.MethodGet, "/service/token?service=berth", nil, basic},
		{"token with a scope", http.MethodGet, "/service/token?service=berth&scope=repository:outage/app:pull,push", nil, basic},
		{"anonymous token", http.MethodGet, "/service/token?service=berth&scope=repository:outage/app:pull", nil, nil},
		{"graphql", http.MethodPost, "/graphql", gql, basic},
		{"anonymous graphql", http.MethodPost, "/graphql", gql, nil},
		{"dashboard login", http.MethodPost, "/graphql", []byte(`{"query":"mutation { login(username: \"dev\", password: \"dev-password-1\") { kind } }"}`), nil},
		{"rest", http.MethodGet, "/api/v2.0/projects", nil, basic},
		{"anonymous rest", http.MethodGet, "/api/v2.0/projects", nil, nil},
	}
	leaks := []string{"dial", "connect", "postgres", "127.0.0.1:" + strconv.Itoa(pg.Port), "user=", "sqlstate"}
	for _, d := range doors {
		t.Run(d.name, func(t *testing.T) {
			status, h, body := do(d.method, d.path, d.body, d.prepare)
			if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
				t.Errorf("%s %s with the database down: %d (Retry-After %q) %s; want 503 with Retry-After", d.method, d.path, status, h.Get("Retry-After"), body)
			}
			if h.Get("WWW-Authenticate") != "" {
				t.Errorf("%s %s: a challenge (%s) would make clients ask for credentials again", d.method, d.path, h.Get("WWW-Authenticate"))
			}
			if !strings.Contains(body, "the registry's database is unavailable; retry shortly") {
				t.Errorf("%s %s: body %s lacks the outage message", d.method, d.path, body)
			}
			for _, leak := range leaks {
				if strings.Contains(strings.ToLower(body), leak) {
					t.Errorf("%s %s: body leaks %q: %s", d.method, d.path, leak, body)
				}
			}
			if strings.HasPrefix(d.path, "/graphql") && !strings.Contains(body, `"UNAVAILABLE"`) {
				t.Errorf("graphql: %s, want extensions.code UNAVAILABLE", body)
			}
		})
	}

	pg.Start()

	// Everything works again once the database is back (the pool reconnects on demand).
	deadline = time.Now().Add(30 * time.Second)
	for {
		status, _, body := do(http.MethodGet, "/v2/outage/cold/manifests/v1", nil, basic)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cold pull 30 s after the database came back: %d %s", status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range doors {
		if d.method != http.MethodGet || d.prepare == nil || strings.HasSuffix(d.path, "/v2") {
			continue
		}
		if status, _, body := do(d.method, d.path, d.body, d.prepare); status != http.StatusOK {
			t.Errorf("%s %s after the database came back: %d %s", d.method, d.path, status, body)
		}
	}
	if r := env.GraphQL("dev", "dev-password-1", `{ projects(first: 10) { totalCount } }`, nil); len(r.Errors) > 0 || r.Status != http.StatusOK {
		t.Errorf("graphql after the database came back: %d %+v", r.Status, r.Errors)
	}
	cacheImage(t, env, "outage/app:after", "pushed after the outage")

	// The pulls answered during the outage were audited: their entries waited in the spool and
	// are written now that the database is back.
	deadline = time.Now().Add(30 * time.Second)
	for {
		// The test's own pool may first hand out a connection the restart broke: ask again.
		n, err := env.DB.AuditLog.Query().Where(auditlog.Operation("pull"), auditlog.ResourceContains("outage/app")).Count(context.Background())
		if err == nil && n >= appPulls {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pull entries of outage/app in the audit log 30 s after the outage (%v); want the %d pulls answered", n, err, appPulls)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// No failed login for the outage. A real failed login after it is recorded, and the audit
	// writer keeps order, so once it is there anything queued before it would be too.
	if status, _, _ := do(http.MethodGet, "/service/token?service=berth", nil, func(r *http.Request) { r.SetBasicAuth("dev", "wrong-password") }); status != http.StatusUnauthorized {
		t.Fatalf("wrong password after the outage: %d, want 401", status)
	}
	ctx := context.Background()
	deadline = time.Now().Add(30 * time.Second)
	for {
		rows, err := env.DB.AuditLog.Query().Where(auditlog.Operation("login"), auditlog.ResultEQ(auditlog.ResultFailure)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) > 1 {
			t.Fatalf("failed logins recorded: %d, want only the one wrong password after the outage", len(rows))
		}
		if len(rows) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the failed login after the outage never reached the audit log")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
