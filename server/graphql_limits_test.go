package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/berth-registry/berth/graph"
	"github.com/berth-registry/berth/server/servertest"
)

// zeros is an endless-looking body of n bytes that allocates nothing: the client side of the test
// must not be what uses memory.
type zeros struct{ left int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.left)
	for i := range p[:n] {
		p[i] = ' '
	}
	z.left -= n
	return int(n), nil
}

// TestGraphQLBodyCap: a 100 MB body is refused with 413 and the server does not hold it: the
// process allocates far less than the body while refusing it, whether the length is declared or
// the body is streamed in chunks. It does not run in parallel, so that the allocation count is
// this test's own.
func TestGraphQLBodyCap(t *testing.T) {
	env := servertest.Start(t)
	const size = 100 << 20
	for _, declared := range []bool{true, false} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/graphql", &zeros{left: size})
		req.Header.Set("Content-Type", "application/json")
		if declared {
			req.ContentLength = size
		} else {
			req.ContentLength = -1 // chunked
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "BERTH_GRAPHQL_MAX_BODY_BYTES") {
				t.Errorf("100 MB body (declared %v): %d %s, want 413 naming the setting", declared, resp.StatusCode, body)
			}
		} // else the server closed the connection while the client was still sending: refused too
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 40<<20 {
			t.Errorf("refusing a 100 MB body (declared %v) allocated %d MiB; the cap is 1 MiB", declared, grew>>20)
		} else {
			t.Logf("refusing a 100 MB body (declared %v) allocated %d KiB in the whole process", declared, grew>>10)
		}
	}
	// A body under the cap is answered: padding is not a query's cost.
	padded := `{"query": "{ __typename }"` + strings.Repeat(" ", 900<<10) + `}`
	resp, err := http.Post(env.URL+"/graphql", "application/json", strings.NewReader(padded))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a 900 KiB body: %d", resp.StatusCode)
	}
}

// TestGraphQLNestedListsRefusedBeforeRunning: page sizes count at every level, so a nested query
// for a million rows is refused before any statement runs, whether it asks with sizes above the
// page limit (at the top or nested) or with allowed sizes that multiply, or with no sizes at all.
func TestGraphQLNestedListsRefusedBeforeRunning(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	for _, c := range []struct{ name, query, code, message string }{
		{"1000 x 1000", `{ projects(first: 1000) { edges { node { repositories(first: 1000) { edges { node { name } } } } } } }`,
			"BAD_USER_INPUT", "page size 1000 is out of range: ask for 0 to 100 items"},
		{"nested page over the limit", `{ projects(first: 1) { edges { node { repositories(first: 1000) { totalCount } } } } }`,
			"BAD_USER_INPUT", "page size 1000 is out of range"},
		{"nested page from a variable", `query($n: Int) { projects(first: 1) { edges { node { repositories(last: $n) { totalCount } } } } }`,
			"BAD_USER_INPUT", "page size 5000 is out of range"},
		{"100 x 100 x 100", `{ projects(first: 100) { edges { node { repositories(first: 100) { edges { node {
			artifacts(first: 100) { edges { node { digest } } } } } } } } } }`, "COMPLEXITY_LIMIT_EXCEEDED", "exceeds the limit of 5000"},
		{"100 x 100", `{ projects(first: 100) { edges { node { repositories(first: 100) { edges { node { name pullCount } } } } } } }`,
			"COMPLEXITY_LIMIT_EXCEEDED", "ask for smaller pages"},
		{"default pages nested", `{ projects { edges { node { repositories { edges { node { artifacts { edges { node { digest size } } } } } } } } } }`,
			"COMPLEXITY_LIMIT_EXCEEDED", "exceeds the limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := env.Server.QueryCount()
			r := env.GraphQL("", "", c.query, map[string]any{"n": 5000})
			ran := env.Server.QueryCount() - before
			if r.Code() != c.code || !strings.Contains(r.Errors[0].Message, c.message) || r.Data != nil && string(r.Data) != "null" {
				t.Fatalf("%+v (data %s), want %s saying %q", r.Errors, r.Data, c.code, c.message)
			}
			if ran != 0 {
				t.Errorf("%d statements ran for a refused query", ran)
			}
		})
	}
	// What the dashboard asks stays within the limits: a page of 100 artifacts, with their tags
	// and scan overview.
	q := `query($name: String!) { repository(name: $name) { id artifacts(first: 100) { totalCount pageInfo { hasNextPage endCursor }
		edges { node { id digest mediaType artifactType size pushTime pullTime pullCount tags { id name } signed
		scanOverview { status total summary { critical high medium low none unknown } } } } } } }`
	if r := env.GraphQL("admin", servertest.AdminPassword, q, map[string]any{"name": "library/x"}); len(r.Errors) > 0 {
		t.Errorf("the dashboard's artifact page at 100 rows: %+v", r.Errors)
	}
}

// TestGraphQLNestedPageDefault: a nested connection asked for without first or last gets the
// default page, not the whole table.
func TestGraphQLNestedPageDefault(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	projectID := env.CreateProject("many", true)
	for i := range 30 {
		if err := env.DB.Repository.Create().SetName(fmt.Sprintf("many/r%02d", i)).SetProjectID(projectID).Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	var out struct {
		Projects struct {
			Edges []struct {
				Node struct {
					Name         string
					Repositories struct {
						TotalCount int
						Edges      []struct{ Node struct{ Name string } }
					}
				}
			}
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `{ projects(where: {name: "many"}) { edges { node { name
		repositories { totalCount edges { node { name } } } } } } }`, nil, &out)
	if len(out.Projects.Edges) != 1 {
		t.Fatalf("projects: %+v", out.Projects.Edges)
	}
	repos := out.Projects.Edges[0].Node.Repositories
	if repos.TotalCount != 30 || len(repos.Edges) != 25 {
		t.Errorf("nested repositories without a page size: %d of %d, want the default page of 25", len(repos.Edges), repos.TotalCount)
	}
	// The same through variables left null, as the dashboard's pager sends them.
	env.MustGraphQL("admin", servertest.AdminPassword, `query($f: Int, $l: Int) { projects(where: {name: "many"}) { edges { node { name
		repositories(first: $f, last: $l) { totalCount edges { node { name } } } } } } }`, map[string]any{"f": nil}, &out)
	if repos := out.Projects.Edges[0].Node.Repositories; len(repos.Edges) != 25 {
		t.Errorf("nested repositories with null page variables: %d of %d, want the default page of 25", len(repos.Edges), repos.TotalCount)
	}
}

// TestGraphQLFloodsRefused: many fields or aliases in one operation are refused before they run,
// and a query too long to parse is stopped by the parser's token limit.
func TestGraphQLFloodsRefused(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	var aliases strings.Builder
	for i := range graph.MaxAliases + 1 {
		fmt.Fprintf(&aliases, " p%d: projects(first: 1) { totalCount }", i)
	}
	before := env.Server.QueryCount()
	if r := env.GraphQL("admin", servertest.AdminPassword, "{"+aliases.String()+" }", nil); r.Code() != "ALIAS_LIMIT_EXCEEDED" {
		t.Errorf("%d aliases: %+v", graph.MaxAliases+1, r.Errors)
	}
	fields := "{ me {" + strings.Repeat(" kind", graph.MaxFields+1) + " } }"
	if r := env.GraphQL("admin", servertest.AdminPassword, fields, nil); r.Code() != "FIELD_LIMIT_EXCEEDED" {
		t.Errorf("%d fields: %+v", graph.MaxFields+2, r.Errors)
	}
	flood := "{" + strings.Repeat(" a: __typename", 40000) + " }"
	if r := env.GraphQL("admin", servertest.AdminPassword, flood, nil); len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "token limit") {
		t.Errorf("40,000 aliases: %+v", r.Errors)
	}
	// Authentication of the three requests is all that touched the database.
	if ran := env.Server.QueryCount() - before; ran > 6 {
		t.Errorf("%d statements ran for three refused queries", ran)
	}
	if r := env.GraphQL("admin", servertest.AdminPassword, "{"+strings.Repeat(" a: __typename", graph.MaxAliases)+" }", nil); len(r.Errors) > 0 {
		t.Errorf("%d aliases (the limit): %+v", graph.MaxAliases, r.Errors)
	}
}

// TestGraphQLInternalErrorsMasked: a database error or a failed parse reaches the caller as
// INTERNAL with a request id and nothing else; the log has the cause under the same id.
func TestGraphQLInternalErrorsMasked(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	projectID := env.CreateProject("broken", false)
	conn, err := pgx.Connect(context.Background(), env.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `ALTER TABLE webhook_policies RENAME TO webhook_policies_gone`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, query string
		vars        map[string]any
		leak        []string // what the cause says, which must not reach the caller
	}{
		{"database error", `query($p: ID!) { webhookPolicies(projectID: $p) { id } }`, map[string]any{"p": projectID},
			[]string{"webhook_policies", "relation", "SQLSTATE", "pq:", "does not exist"}},
		{"parse error", `{ projects(after: "not-a-cursor!") { totalCount } }`, nil,
			[]string{"base64", "msgpack", "illegal", "cursor"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"query": c.query, "variables": c.vars})
			req, _ := http.NewRequest(http.MethodPost, env.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.SetBasicAuth("admin", servertest.AdminPassword)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var out servertest.GraphQLResponse
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			id := resp.Header.Get("X-Request-Id")
			if out.Code() != "INTERNAL" || id == "" || out.Errors[0].Extensions["requestId"] != id ||
				out.Errors[0].Message != "internal server error (request id "+id+")" {
				t.Fatalf("answer %s with request id %q, want INTERNAL naming that id", raw, id)
			}
			for _, word := range c.leak {
				if strings.Contains(strings.ToLower(string(raw)), strings.ToLower(word)) {
					t.Errorf("the answer leaks %q: %s", word, raw)
				}
			}
			if logs := env.Logs(); !strings.Contains(logs, "request_id="+id) {
				t.Errorf("request id %s is not in the log:\n%s", id, logs)
			}
		})
	}
}

// TestGraphQLNoSuggestionsNoAnonymousIntrospection: validation errors name the mistake but never
// suggest schema names, and an anonymous caller cannot introspect.
func TestGraphQLNoSuggestionsNoAnonymousIntrospection(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	for _, q := range []string{`{ projcts { totalCount } }`, `{ projects(frist: 1) { totalCount } }`,
		`{ projects(orderBy: {field: NAM}) { totalCount } }`, `query($x: Projct) { me { kind } }`, `{ me }`} {
		for _, user := range []string{"", "admin"} {
			r := env.GraphQL(user, servertest.AdminPassword, q, nil)
			if len(r.Errors) == 0 {
				t.Errorf("%s as %q: no error", q, user)
				continue
			}
			for _, e := range r.Errors {
				if strings.Contains(e.Message, "Did you mean") {
					t.Errorf("%s as %q: %q suggests", q, user, e.Message)
				}
			}
		}
	}
	if r := env.GraphQL("", "", `{ __schema { types { name } } }`, nil); len(r.Errors) == 0 {
		t.Errorf("anonymous introspection answered: %s", r.Data)
	}
	if r := env.GraphQL("admin", servertest.AdminPassword, `{ __schema { queryType { name } } }`, nil); len(r.Errors) > 0 {
		t.Errorf("introspection when signed in: %+v", r.Errors)
	}
}
