// Package servertest starts a real Berth for tests: a fresh PostgreSQL database, a temporary data
// directory, the whole server on a loopback port. Tests talk to it over HTTP with real clients.
package servertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/cache"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/migrations"
	"github.com/berth-registry/berth/server"
)

// AdminPassword is the password of the admin account of every test server. It keeps the
// password rules, as BERTH_ADMIN_PASSWORD must.
const AdminPassword = "Admin-Password-4-tests"

// Env is one running test server.
type Env struct {
	URL         string // http://127.0.0.1:port
	Host        string // 127.0.0.1:port, for registry references
	DataDir     string
	DatabaseURL string
	Config      server.Config
	Server      *server.Server
	// DB is a direct client on the server's database, for arranging and checking state.
	DB *ent.Client

	t    testing.TB
	logs *testWriter
}

// BaseDatabaseURL is the PostgreSQL server tests create their databases on.
func BaseDatabaseURL() string {
	if u := os.Getenv("BERTH_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabase creates an empty database that is dropped when the test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(BaseDatabaseURL())
	if err != nil {
		t.Fatalf("BERTH_TEST_DATABASE_URL: %v", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to PostgreSQL (start it, or set BERTH_TEST_DATABASE_URL): %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "berth_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.ConnectConfig(context.Background(), cfg)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(BaseDatabaseURL())
	if err != nil {
		t.Fatalf("BERTH_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewPool returns a pool (of at most four connections) on a new database with every migration
// applied (Berth's and River's), closed and dropped when the test ends: for tests of a package's
// SQL and services without a whole server.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, NewDatabase(t)+"&pool_max_conns=4")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := migrations.Apply(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("migrate the test database: %v", err)
	}
	return pool
}

// Start runs a fresh Berth until the test ends. modify, if given, may change the configuration.
func Start(t testing.TB, modify ...func(*server.Config)) *Env {
	t.Helper()
	cfg := server.Defaults()
	cfg.DatabaseURL = NewDatabase(t)
	cfg.DataDir = t.TempDir()
	cfg.AdminPassword = AdminPassword
	cfg.LogLevel = "warn"
	// Tests' receivers (webhooks, scanner adapters) listen on loopback, which Berth refuses to
	// reach by default; a test of that refusal sets this back to "".
	cfg.OutboundAllowCIDRs = "127.0.0.0/8,::1/128"
	for _, m := range modify {
		m(&cfg)
	}
	logs := &testWriter{t: t}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("start berth: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server shutdown: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Errorf("server did not shut down within 40s")
		}
	})
	// The test's own client needs few connections: many servers run in parallel on one PostgreSQL
	// (and a developer's `make run` beside them), within its default 100 connections.
	testCfg := cfg
	testCfg.DatabaseURL = withPoolSize(cfg.DatabaseURL, 2)
	_, _, db, err := server.Database(context.Background(), testCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// The test's own writes are a second writer: permission changes notify every replica, and
	// this one at once, as the server's own writes do.
	db.Use(cache.AccessHook(srv.ForgetAccessDecisions))
	host := ln.Addr().String()
	return &Env{URL: "http://" + host, Host: host, DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL,
		Config: cfg, Server: srv, DB: db, t: t, logs: logs}
}

// Logs returns what the server has logged so far (warnings and errors).
func (e *Env) Logs() string {
	e.logs.mu.Lock()
	defer e.logs.mu.Unlock()
	return e.logs.buf.String()
}

// withPoolSize sets the most connections a pool over databaseURL opens.
func withPoolSize(databaseURL string, n int) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return databaseURL
	}
	q := u.Query()
	q.Set("pool_max_conns", fmt.Sprint(n))
	u.RawQuery = q.Encode()
	return u.String()
}

// testWriter sends server logs to the test log, so they show only for failing tests, and keeps
// them for Logs.
type testWriter struct {
	t   testing.TB
	mu  sync.Mutex
	buf strings.Builder
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Client is an HTTP client with its own cookie jar.
func Client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 60 * time.Second}
}

// GraphQLResponse is a decoded GraphQL response.
type GraphQLResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	Status int `json:"-"`
}

// Code is the extensions.code of the first error, or "".
func (r *GraphQLResponse) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// GraphQL posts a query as the given user (Basic auth; "" for anonymous) and decodes the answer.
func (e *Env) GraphQL(user, password, query string, vars map[string]any) *GraphQLResponse {
	e.t.Helper()
	return e.GraphQLWith(http.DefaultClient, func(r *http.Request) {
		if user != "" {
			r.SetBasicAuth(user, password)
		}
	}, query, vars)
}

// GraphQLWith posts a query with client, letting prepare set credentials.
func (e *Env) GraphQLWith(client *http.Client, prepare func(*http.Request), query string, vars map[string]any) *GraphQLResponse {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if prepare != nil {
		prepare(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out GraphQLResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("graphql: decode %q: %v", raw, err)
	}
	out.Status = resp.StatusCode
	return &out
}

// MustGraphQL is GraphQL that fails the test on any error and decodes data into out.
func (e *Env) MustGraphQL(user, password, query string, vars map[string]any, out any) {
	e.t.Helper()
	r := e.GraphQL(user, password, query, vars)
	if len(r.Errors) > 0 {
		e.t.Fatalf("graphql errors: %+v", r.Errors)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			e.t.Fatalf("graphql: decode data: %v", err)
		}
	}
}

// CreateUser makes a user through GraphQL as admin and returns its id. Fixture passwords need not
// keep the password rules, so tests can name them plainly: the user is created (and audited) with
// a placeholder that does, and a password the rules refuse is then written to the database directly.
func (e *Env) CreateUser(username, password string) int {
	e.t.Helper()
	var out struct {
		CreateUser struct {
			ID string `json:"id"`
		} `json:"createUser"`
	}
	created := password
	if auth.CheckPasswordRules(password) != nil {
		created = "Fixture-Placeholder-1"
	}
	e.MustGraphQL("admin", AdminPassword, `mutation($u: String!, $p: String!) { createUser(input: {username: $u, password: $p}) { id } }`,
		map[string]any{"u": username, "p": created}, &out)
	var id int
	fmt.Sscan(out.CreateUser.ID, &id)
	if created != password {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			e.t.Fatalf("fixture password of %s: %v", username, err)
		}
		if err := e.DB.User.UpdateOneID(id).SetPasswordHash(string(hash)).Exec(context.Background()); err != nil {
			e.t.Fatalf("fixture password of %s: %v", username, err)
		}
	}
	return id
}

// CreateProject makes a project as admin and returns its id.
func (e *Env) CreateProject(name string, public bool) int {
	e.t.Helper()
	var out struct {
		CreateProject struct {
			ID string `json:"id"`
		} `json:"createProject"`
	}
	e.MustGraphQL("admin", AdminPassword, `mutation($n: String!, $p: Boolean) { createProject(input: {name: $n, public: $p}) { id } }`,
		map[string]any{"n": name, "p": public}, &out)
	var id int
	fmt.Sscan(out.CreateProject.ID, &id)
	return id
}

// AddMember gives a user a role ("developer", …, in GraphQL's upper case) in a project, as admin.
func (e *Env) AddMember(projectID int, username, role string) {
	e.t.Helper()
	e.MustGraphQL("admin", AdminPassword, `mutation($p: ID!, $u: String!, $r: Role!) { addMember(projectID: $p, username: $u, role: $r) { id } }`,
		map[string]any{"p": projectID, "u": username, "r": strings.ToUpper(role)}, nil)
}

// Tool returns the path of a client tool (crane, oras, skopeo, conformance) from PATH or the
// project's tools/bin. A missing tool skips the test, unless BERTH_REQUIRE_TOOLS is set (as
// `make test` does), where it fails: `make test` installs every tool first.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; dir != "/"; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, "tools", "bin", name)
			if _, err := os.Stat(p); err == nil {
				return p
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
		}
	}
	Missing(t, "%s is not installed: run `make tools` (make test does)", name)
	return ""
}

// Missing ends a test that needs something absent from this machine (a tool, a service): it
// skips, unless BERTH_REQUIRE_TOOLS is set (as `make test` does, having installed and started
// everything), where a green run must not hide an untested part, so it fails.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("BERTH_REQUIRE_TOOLS") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Run runs a command and fails the test if it fails, returning its combined output.
func Run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// RunErr runs a command and returns its combined output and error.
func RunErr(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// InsertJob queues a River job on the server's database, as a periodic schedule or another
// replica would, for the server's workers to run.
func (e *Env) InsertJob(args river.JobArgs) {
	e.t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, e.DatabaseURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer pool.Close()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := client.Insert(ctx, args, nil); err != nil {
		e.t.Fatalf("insert %s job: %v", args.Kind(), err)
	}
}
