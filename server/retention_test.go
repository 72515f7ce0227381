package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

type retentionRun struct {
	ID                               string
	Status                           string
	DryRun                           bool
	ArtifactsTotal, ArtifactsDeleted int
	ArtifactsRetained                int
	Results                          []struct {
		Repository string
		Retained   int
		Deleted    []struct {
			Digest string
			Tags   []string
		}
	}
	Log string
}

const runFields = `id status dryRun artifactsTotal artifactsDeleted artifactsRetained results { repository retained deleted { digest tags } } log`

// waitRetention waits for run id to end and returns it.
func waitRetention(t *testing.T, env *servertest.Env, id string) retentionRun {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got struct{ RetentionRun retentionRun }
		env.MustGraphQL("admin", servertest.AdminPassword, `query($id: ID!) { retentionRun(id: $id) { `+runFields+` } }`, map[string]any{"id": id}, &got)
		if s := got.RetentionRun.Status; s != "PENDING" && s != "RUNNING" {
			return got.RetentionRun
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention run %s still %s after 60 s", id, got.RetentionRun.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A retention run keeps exactly what the rules keep (and what an immutable tag protects) and
// deletes the rest through the registry; its dry run reports the same and deletes nothing.
func TestRetentionRunDryAndReal(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.RetentionGrace = 0 })
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	projectID := env.CreateProject("ret", false)
	// app:c1…c6 pushed 1…6 days ago (c3 also pulled an hour ago); other:x untouched by the rules.
	tags := []string{"c1", "c2", "c3", "c4", "c5", "c6"}
	for _, tag := range tags {
		if out, err := crane("append", "-f", layerTar(t, tag+".txt", tag), "-t", env.Host+"/ret/app:"+tag); err != nil {
			t.Fatalf("push %s: %v\n%s", tag, err, out)
		}
	}
	if out, err := crane("append", "-f", layerTar(t, "x.txt", "x"), "-t", env.Host+"/ret/other:x"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	now := time.Now()
	digests := map[string]string{}
	for i, tag := range tags {
		d, err := crane("digest", env.Host+"/ret/app:"+tag)
		if err != nil {
			t.Fatal(err)
		}
		digests[tag] = strings.TrimSpace(d)
		upd := env.DB.Artifact.Update().Where(artifact.Digest(digests[tag])).SetPushTime(now.Add(-time.Duration(i+1) * 24 * time.Hour))
		if tag == "c3" {
			upd.SetPullTime(now.Add(-time.Hour))
		}
		upd.ExecX(t.Context())
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { setRetentionPolicy(projectID: $p, rules: [
		{template: "latestPushedK", n: 2, repositoryPattern: "app", tagPattern: "**"},
		{template: "nDaysSinceLastPull", n: 1, repositoryPattern: "app", tagPattern: "c*"}]) { template } }`,
		map[string]any{"p": projectID}, nil)
	// c6 is immutable: no rule keeps it, but the run may not delete it.
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { createImmutableRule(projectID: $p, input: {repositoryPattern: "**", tagPattern: "c6"}) { id } }`,
		map[string]any{"p": projectID}, nil)

	start := func(dry bool) retentionRun {
		var got struct{ StartRetention struct{ ID string } }
		env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!, $d: Boolean!) { startRetention(projectID: $p, dryRun: $d) { id } }`,
			map[string]any{"p": projectID, "d": dry}, &got)
		return waitRetention(t, env, got.StartRetention.ID)
	}
	wantDeleted := []string{"c4", "c5"}
	check := func(r retentionRun) {
		t.Helper()
		if r.Status != "SUCCESS" || r.ArtifactsTotal != 6 || r.ArtifactsDeleted != 2 || r.ArtifactsRetained != 4 || len(r.Results) != 1 || r.Results[0].Repository != "ret/app" {
			t.Fatalf("run: %+v", r)
		}
		var got []string
		for _, d := range r.Results[0].Deleted {
			got = append(got, d.Tags...)
		}
		slices.Sort(got)
		if !slices.Equal(got, wantDeleted) {
			t.Fatalf("deleted %v, want %v", got, wantDeleted)
		}
	}
	dry := start(true)
	check(dry)
	if out, _ := crane("ls", env.Host+"/ret/app"); len(strings.Fields(out)) != 6 {
		t.Fatalf("a dry run deleted something: %q", out)
	}
	real := start(false)
	check(real)
	out, err := crane("ls", env.Host+"/ret/app")
	if err != nil {
		t.Fatal(err)
	}
	left := strings.Fields(out)
	slices.Sort(left)
	if want := []string{"c1", "c2", "c3", "c6"}; !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	for _, tag := range wantDeleted {
		if n := env.DB.Artifact.Query().Where(artifact.Digest(digests[tag])).CountX(t.Context()); n != 0 {
			t.Fatalf("%s is still indexed", tag)
		}
	}
	if out, err := crane("ls", env.Host+"/ret/other"); err != nil || strings.TrimSpace(out) != "x" {
		t.Fatalf("a repository no rule scopes: %q %v", out, err)
	}
	// Harbor's REST view of the same policy and history.
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v2.0/retentions/%d/executions", env.URL, projectID), nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	res, err := servertest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var execs []struct {
		ID     int    `json:"id"`
		Status string `json:"status"`
		DryRun bool   `json:"dry_run"`
	}
	_ = json.NewDecoder(res.Body).Decode(&execs)
	res.Body.Close()
	if len(execs) != 2 || execs[0].Status != "Succeed" || execs[0].DryRun || !execs[1].DryRun {
		t.Fatalf("REST executions: %+v", execs)
	}
	req, _ = http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v2.0/retentions/%d", env.URL, projectID), nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	res, err = servertest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Rules []struct {
			Template string         `json:"template"`
			Params   map[string]int `json:"params"`
		} `json:"rules"`
	}
	_ = json.NewDecoder(res.Body).Decode(&policy)
	res.Body.Close()
	if len(policy.Rules) != 2 || policy.Rules[0].Template != "latestPushedK" || policy.Rules[0].Params["latestPushedK"] != 2 {
		t.Fatalf("REST policy: %+v", policy)
	}
	// A schedule: read back with its next run; a bad cron expression is the caller's error.
	var sc struct {
		SetRetentionSchedule struct {
			Kind      string
			NextRunAt *time.Time
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { setRetentionSchedule(projectID: $p, kind: DAILY) { kind nextRunAt } }`,
		map[string]any{"p": projectID}, &sc)
	if sc.SetRetentionSchedule.Kind != "DAILY" || sc.SetRetentionSchedule.NextRunAt == nil {
		t.Fatalf("schedule: %+v", sc)
	}
	if res := env.GraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { setRetentionSchedule(projectID: $p, kind: CUSTOM, cron: "not cron") { kind } }`,
		map[string]any{"p": projectID}); res.Code() != "BAD_USER_INPUT" {
		t.Fatalf("a bad cron expression: %s %+v", res.Code(), res.Errors)
	}
	// The history holds both, newest first.
	var runs struct{ RetentionRuns []struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `query($p: ID!) { retentionRuns(projectID: $p) { id } }`, map[string]any{"p": projectID}, &runs)
	if fmt.Sprint(runs.RetentionRuns) != fmt.Sprintf("[{%s} {%s}]", real.ID, dry.ID) {
		t.Fatalf("history %v", runs.RetentionRuns)
	}
}

// A retention run whose worker is killed mid-way (its artifact deletes blocked after two) is
// retried by the reconciler on another worker, which evaluates again and finishes: the same
// survivors as an uninterrupted run, and the run says it took a second attempt.
func TestRetentionKilledMidRunRecovers(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) {
		c.RunJobs = false // jobs run in helper worker processes only
		c.RetentionGrace = 0
	})
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	projectID := env.CreateProject("retkill", false)
	for i := 1; i <= 6; i++ {
		tag := fmt.Sprintf("k%d", i)
		if out, err := crane("append", "-f", layerTar(t, tag+".txt", tag), "-t", env.Host+"/retkill/app:"+tag); err != nil {
			t.Fatalf("push %s: %v\n%s", tag, err, out)
		}
	}
	// Older than the helper worker's grace window (the default hour).
	env.DB.Artifact.Update().SetPushTime(time.Now().Add(-48 * time.Hour)).ExecX(t.Context())
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { setRetentionPolicy(projectID: $p, rules: [
		{template: "always", repositoryPattern: "app", tagPattern: "k1"}]) { template } }`, map[string]any{"p": projectID}, nil)

	first := startHelperWorker(t, env, 2, func(s *helperSpec) { s.BlockPath = "/_manifests/revisions/" })
	var started struct{ StartRetention struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { startRetention(projectID: $p) { id } }`,
		map[string]any{"p": projectID}, &started)
	first.expect(t, "BLOCKED", time.Minute)
	first.kill(t)

	startHelperWorker(t, env, -1)
	r := waitRetention(t, env, started.StartRetention.ID)
	if r.Status != "SUCCESS" || !strings.Contains(r.Log, "attempt 2") {
		t.Fatalf("run after the kill: %+v", r)
	}
	out, err := crane("ls", env.Host+"/retkill/app")
	if err != nil || strings.TrimSpace(out) != "k1" {
		t.Fatalf("left after the recovered run: %q %v", out, err)
	}
}
