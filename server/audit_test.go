package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

type auditRow struct {
	Username     string
	ProjectName  string
	Operation    string
	ResourceType string
	Resource     string
	SourceIP     string
	Result       string
}

// auditRows returns every entry the admin sees for the query arguments, oldest first.
func auditRows(t *testing.T, env *servertest.Env, args string) []auditRow {
	t.Helper()
	var out struct {
		AuditLogs struct {
			Edges []struct{ Node auditRow }
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `{ auditLogs(first: 100, orderBy: {field: OCCURRED_AT, direction: ASC}`+args+`) {
		edges { node { username projectName operation resourceType resource sourceIP result } } } }`, nil, &out)
	rows := make([]auditRow, len(out.AuditLogs.Edges))
	for i, e := range out.AuditLogs.Edges {
		rows[i] = e.Node
	}
	return rows
}

func hasEntry(rows []auditRow, want auditRow) bool {
	for _, r := range rows {
		if r == want {
			return true
		}
	}
	return false
}

// waitEntries polls until every wanted entry is there (entries are written off the request path).
func waitEntries(t *testing.T, env *servertest.Env, args string, want ...auditRow) []auditRow {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rows := auditRows(t, env, args)
		missing := 0
		for _, w := range want {
			if !hasEntry(rows, w) {
				missing++
			}
		}
		if missing == 0 {
			return rows
		}
		if time.Now().After(deadline) {
			for _, w := range want {
				if !hasEntry(rows, w) {
					t.Errorf("missing audit entry %+v", w)
				}
			}
			t.Fatalf("audit log holds: %+v", rows)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestAuditRecordsEveryOperation(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	env.CreateProject("audited", false)
	env.CreateUser("dev", "dev-password")
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	ref := env.Host + "/audited/app:v1"
	if out, err := crane("append", "-f", layerTar(t, "f", "1"), "-t", ref); err != nil {
		t.Fatalf("push: %v %s", err, out)
	}
	digest, _ := crane("digest", ref)
	digest = strings.TrimSpace(digest)
	if out, err := crane("manifest", ref); err != nil {
		t.Fatalf("pull: %v %s", err, out)
	}
	var art struct{ Artifact struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `{ artifact(repository: "audited/app", reference: "v1") { id } }`, nil, &art)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($a: ID!) { createTag(artifactID: $a, name: "v2") { id } }`,
		map[string]any{"a": art.Artifact.ID}, nil)
	// What `docker login` does: ask the token service for a token without a scope.
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/service/token?service=berth", nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("docker-style login: %v %v", resp, err)
	}
	if out, err := crane("delete", env.Host+"/audited/app@"+digest); err != nil {
		t.Fatalf("delete: %v %s", err, out)
	}
	env.GraphQL("", "", `mutation { login(username: "dev", password: "wrong-password") { kind } }`, nil)

	ip := "127.0.0.1"
	waitEntries(t, env, "",
		auditRow{"admin", "audited", "create", "project", "audited", ip, "SUCCESS"},
		auditRow{"admin", "", "create", "user", "dev", ip, "SUCCESS"},
		auditRow{"admin", "", "login", "session", "admin", ip, "SUCCESS"}, // the token service without a scope
		auditRow{"admin", "audited", "create", "artifact", "audited/app:v1", ip, "SUCCESS"},
		auditRow{"admin", "audited", "pull", "artifact", "audited/app:v1", ip, "SUCCESS"},
		auditRow{"admin", "audited", "create", "tag", "audited/app:v2", ip, "SUCCESS"},
		auditRow{"admin", "audited", "delete", "artifact", "audited/app@" + digest, ip, "SUCCESS"},
		auditRow{"dev", "", "login", "session", "dev", ip, "FAILURE"},
	)
}

func TestAuditPullSwitchFiltersAndPermissions(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	projectID := env.CreateProject("seen", false)
	otherID := env.CreateProject("unseen", false)
	for _, u := range []struct{ name, role string }{{"dev", "developer"}, {"lguest", "limited_guest"}} {
		env.CreateUser(u.name, u.name+"-password")
		env.AddMember(projectID, u.name, u.role)
	}
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	for _, ref := range []string{"/seen/a:1", "/unseen/b:1"} {
		if out, err := crane("append", "-f", layerTar(t, "f", ref), "-t", env.Host+ref); err != nil {
			t.Fatalf("push: %v %s", err, out)
		}
	}
	if _, err := crane("manifest", env.Host+"/seen/a:1"); err != nil {
		t.Fatal(err)
	}
	waitEntries(t, env, `, where: {operation: "pull"}`, auditRow{"admin", "seen", "pull", "artifact", "seen/a:1", "127.0.0.1", "SUCCESS"})

	// Pull logging off: pulls leave no entry, everything else still does.
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { updateAuditSettings(input: {logPulls: false}) { logPulls } }`, nil, nil)
	if _, err := crane("manifest", env.Host+"/unseen/b:1"); err != nil {
		t.Fatal(err)
	}
	env.CreateProject("after-switch", true)
	waitEntries(t, env, "", auditRow{"admin", "after-switch", "create", "project", "after-switch", "127.0.0.1", "SUCCESS"})
	if rows := auditRows(t, env, `, resourceGlob: "unseen/*"`); hasEntry(rows, auditRow{"admin", "unseen", "pull", "artifact", "unseen/b:1", "127.0.0.1", "SUCCESS"}) {
		t.Fatal("a pull was recorded with pull logging off")
	}

	// Globs and filters.
	rows := auditRows(t, env, `, resourceGlob: "{seen,unseen}/?:*"`)
	var resources []string
	for _, r := range rows {
		resources = append(resources, r.Operation+" "+r.Resource)
	}
	sort.Strings(resources)
	if strings.Join(resources, ",") != "create seen/a:1,create unseen/b:1,pull seen/a:1" {
		t.Fatalf("glob {seen,unseen}/?:* matched %v", resources)
	}
	if r := env.GraphQL("admin", servertest.AdminPassword, `{ auditLogs(resourceGlob: "{seen") { totalCount } }`, nil); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "unmatched") {
		t.Fatalf("bad glob: %+v", r.Errors)
	}
	since := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if rows := auditRows(t, env, `, where: {occurredAtGTE: "`+since+`"}`); len(rows) != 0 {
		t.Fatalf("time filter in the future matched %d entries", len(rows))
	}

	// Who may read what.
	q := `query($p: ID) { auditLogs(projectID: $p, first: 100) { edges { node { projectName } } } }`
	r := env.GraphQL("dev", "dev-password", q, map[string]any{"p": projectID})
	var devOut struct {
		AuditLogs struct {
			Edges []struct{ Node struct{ ProjectName string } }
		}
	}
	_ = json.Unmarshal(r.Data, &devOut)
	if len(r.Errors) > 0 || len(devOut.AuditLogs.Edges) == 0 {
		t.Fatalf("developer reading the project log: %+v", r.Errors)
	}
	for _, e := range devOut.AuditLogs.Edges {
		if e.Node.ProjectName != "seen" {
			t.Fatalf("developer saw an entry of %q", e.Node.ProjectName)
		}
	}
	for _, c := range []struct {
		user    string
		project any
		code    string
	}{
		{"lguest", projectID, "FORBIDDEN"}, // limited guests may not read logs
		{"dev", otherID, "NOT_FOUND"},      // not a member
		{"dev", nil, "FORBIDDEN"},          // the global log is for admins
	} {
		if r := env.GraphQL(c.user, c.user+"-password", q, map[string]any{"p": c.project}); r.Code() != c.code {
			t.Errorf("%s reading project %v: %+v, want %s", c.user, c.project, r.Errors, c.code)
		}
	}
	if r := env.GraphQL("dev", "dev-password", `{ auditSettings { logPulls } }`, nil); r.Code() != "FORBIDDEN" {
		t.Errorf("developer reading audit settings: %+v", r.Errors)
	}
}

type purgeRun struct {
	ID         string
	Status     string
	RowsPurged int
	Log        string
}

func waitPurge(t *testing.T, env *servertest.Env, id string) purgeRun {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out struct{ PurgeRun purgeRun }
		env.MustGraphQL("admin", servertest.AdminPassword, `query($id: ID!) { purgeRun(id: $id) { id status rowsPurged log } }`, map[string]any{"id": id}, &out)
		if s := out.PurgeRun.Status; s != "PENDING" && s != "RUNNING" {
			return out.PurgeRun
		}
		if time.Now().After(deadline) {
			t.Fatalf("purge %s still %s", id, out.PurgeRun.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAuditPurge(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	ctx := context.Background()
	// 300 old pulls, 50 old creates, 20 recent pulls.
	_, err := env.DB.ExecContext(ctx, `
INSERT INTO audit_logs (occurred_at, username, project_name, operation, resource_type, resource, source_ip, result, forwarded)
SELECT now() - interval '48 hours', 'u', 'library', CASE WHEN g <= 300 THEN 'pull' ELSE 'create' END, 'artifact', 'library/x:' || g, '', 'SUCCESS', true
FROM generate_series(1, 350) g
UNION ALL
SELECT now(), 'u', 'library', 'pull', 'artifact', 'library/y:' || g, '', 'SUCCESS', true FROM generate_series(1, 20) g`)
	if err != nil {
		t.Fatal(err)
	}
	count := func(where string) int {
		rows, err := env.DB.QueryContext(ctx, "SELECT count(*) FROM audit_logs WHERE username = 'u' AND "+where)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var n int
		rows.Next()
		_ = rows.Scan(&n)
		return n
	}
	start := func(input string) (string, *servertest.GraphQLResponse) {
		r := env.GraphQL("admin", servertest.AdminPassword, `mutation { purgeAuditLogs(input: `+input+`) { id status } }`, nil)
		var out struct{ PurgeAuditLogs purgeRun }
		_ = json.Unmarshal(r.Data, &out)
		return out.PurgeAuditLogs.ID, r
	}

	for input, msg := range map[string]string{
		`{retentionHours: 0, operations: ["pull"]}`:      "between 1 and 240000",
		`{retentionHours: 240001, operations: ["pull"]}`: "between 1 and 240000",
		`{retentionHours: 24, operations: ["drop"]}`:     `unknown operation "drop"`,
	} {
		if _, r := start(input); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, msg) {
			t.Errorf("purge %s: %+v, want a message with %q", input, r.Errors, msg)
		}
	}

	id, r := start(`{retentionHours: 24, operations: ["pull"], dryRun: true}`)
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	if run := waitPurge(t, env, id); run.Status != "SUCCESS" || run.RowsPurged != 300 || !strings.Contains(run.Log, "would be purged") {
		t.Fatalf("dry run = %+v, want SUCCESS counting 300", run)
	}
	if n := count("true"); n != 370 {
		t.Fatalf("dry run deleted entries: %d left of 370", n)
	}

	id, _ = start(`{retentionHours: 24, operations: ["pull"]}`)
	if run := waitPurge(t, env, id); run.Status != "SUCCESS" || run.RowsPurged != 300 {
		t.Fatalf("purge = %+v, want SUCCESS with 300 purged", run)
	}
	if old, creates, recent := count("operation = 'pull' AND occurred_at < now() - interval '24 hours'"),
		count("operation = 'create'"), count("occurred_at > now() - interval '1 hour'"); old != 0 || creates != 50 || recent != 20 {
		t.Fatalf("after purge: %d old pulls, %d creates, %d recent; want 0, 50, 20", old, creates, recent)
	}

	id, _ = start(`{retentionHours: 24, operations: []}`)
	if run := waitPurge(t, env, id); run.Status != "SUCCESS" || run.RowsPurged != 0 || !strings.Contains(run.Log, "nothing to purge") {
		t.Fatalf("purge without operations = %+v", run)
	}
	var history struct {
		PurgeRuns struct{ Edges []struct{ Node purgeRun } }
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `{ purgeRuns(first: 10) { edges { node { id status rowsPurged } } } }`, nil, &history)
	if len(history.PurgeRuns.Edges) != 3 || history.PurgeRuns.Edges[0].Node.ID != id {
		t.Fatalf("history = %+v, want the three runs, newest first", history.PurgeRuns.Edges)
	}
	if r := env.GraphQL("admin", servertest.AdminPassword, `mutation { setPurgeSchedule(input: {kind: CUSTOM, cron: "61 * * * *", retentionHours: 24, operations: ["pull"]}) { kind } }`, nil); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "cron") {
		t.Fatalf("bad cron: %+v", r.Errors)
	}
	var sched struct {
		SetPurgeSchedule struct {
			Kind      string
			NextRunAt time.Time
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { setPurgeSchedule(input: {kind: DAILY, retentionHours: 720, operations: ["pull", "login"]}) { kind nextRunAt } }`, nil, &sched)
	if next := sched.SetPurgeSchedule.NextRunAt; sched.SetPurgeSchedule.Kind != "DAILY" || next.Hour() != 0 || next.Minute() != 0 || next.Before(time.Now()) || next.After(time.Now().Add(25*time.Hour)) {
		t.Fatalf("daily schedule = %+v", sched.SetPurgeSchedule)
	}
}

// A purge whose job has not started yet (no process works jobs here) is stopped at once.
func TestStopPendingPurge(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.RunJobs = false })
	var out struct{ PurgeAuditLogs purgeRun }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { purgeAuditLogs(input: {retentionHours: 1, operations: ["pull"]}) { id status } }`, nil, &out)
	if out.PurgeAuditLogs.Status != "PENDING" {
		t.Fatalf("new run is %s", out.PurgeAuditLogs.Status)
	}
	var stopped struct{ StopPurge purgeRun }
	env.MustGraphQL("admin", servertest.AdminPassword, fmt.Sprintf(`mutation { stopPurge(id: %s) { status log } }`, out.PurgeAuditLogs.ID), nil, &stopped)
	if stopped.StopPurge.Status != "STOPPED" {
		t.Fatalf("stopped run = %+v", stopped.StopPurge)
	}
}

// Purges report progress and completion on the event bus, to admins only; purgeProgress streams a
// run until it ends.
func TestPurgeProgressIsPublished(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	_, err := env.DB.ExecContext(context.Background(), `
INSERT INTO audit_logs (occurred_at, username, project_name, operation, resource_type, resource, source_ip, result, forwarded)
SELECT now() - interval '48 hours', 'u', '', 'pull', 'artifact', 'r' || g, '', 'SUCCESS', true FROM generate_series(1, 1234) g`)
	if err != nil {
		t.Fatal(err)
	}
	admin := dialGraphQLWS(t, env, "admin", servertest.AdminPassword)
	admin.subscribe(env, "1", `subscription { events(types: [PURGE_COMPLETED]) { type jobID count } }`, nil)

	var run struct{ PurgeAuditLogs purgeRun }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { purgeAuditLogs(input: {retentionHours: 24, operations: ["pull"]}) { id } }`, nil, &run)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := admin.next(ctx)
	b, _ := json.Marshal(m["payload"])
	if !strings.Contains(string(b), `"type":"PURGE_COMPLETED"`) || !strings.Contains(string(b), `"jobID":`+run.PurgeAuditLogs.ID) ||
		!strings.Contains(string(b), `"count":1234`) {
		t.Fatalf("completion event = %s (run %s)", b, run.PurgeAuditLogs.ID)
	}

	// purgeProgress on a finished run sends its final state and completes.
	admin.send(map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{
		"query": `subscription($id: ID!) { purgeProgress(id: $id) { status rowsPurged } }`, "variables": map[string]any{"id": run.PurgeAuditLogs.ID}}})
	var got []string
	for {
		m := admin.next(ctx)
		if m["id"] != "2" {
			continue
		}
		if m["type"] == "complete" {
			break
		}
		b, _ := json.Marshal(m["payload"])
		got = append(got, string(b))
	}
	if len(got) == 0 || !strings.Contains(got[len(got)-1], `"status":"SUCCESS"`) || !strings.Contains(got[len(got)-1], `"rowsPurged":1234`) {
		t.Fatalf("purgeProgress sent %v", got)
	}

	// Someone else's subscription gets no system events.
	env.CreateUser("dev", "dev-password")
	if r := env.GraphQL("dev", "dev-password", `mutation { purgeAuditLogs(input: {retentionHours: 24, operations: ["pull"]}) { id } }`, nil); r.Code() != "FORBIDDEN" {
		t.Fatalf("developer starting a purge: %+v", r.Errors)
	}
}
