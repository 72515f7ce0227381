package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/auditlog"
	entevent "github.com/berth-registry/berth/ent/event"
	"github.com/berth-registry/berth/ent/retentionrun"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/retention"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// pushReferrer pushes an OCI 1.1 referrer (an SBOM-like artifact with a subject) of repo@subject
// and returns its digest.
func pushReferrer(t *testing.T, env *servertest.Env, repo, subject string) string {
	t.Helper()
	r, _ := name.NewRepository(env.Host+"/"+repo, name.Insecure)
	auth := remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword})
	desc, err := remote.Head(r.Digest(subject), auth)
	if err != nil {
		t.Fatal(err)
	}
	body := static.NewLayer([]byte(`{"spdxVersion":"SPDX-2.3","name":"`+subject+`"}`), "application/spdx+json")
	empty := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	if err := remote.WriteLayer(r, body, auth); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteLayer(r, empty, auth); err != nil {
		t.Fatal(err)
	}
	bd, _ := body.Digest()
	bs, _ := body.Size()
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json",`+
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/spdx+json","digest":"%s","size":%d}],`+
		`"subject":{"mediaType":"%s","digest":"%s","size":%d}}`, digest.FromString("{}"), bd, bs, desc.MediaType, subject, desc.Size)
	d := digest.FromString(manifest)
	if err := remote.Put(r.Digest(d.String()), rawTaggable{types.OCIManifestSchema1, []byte(manifest)}, auth); err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// A retention run's delete is a user delete: the artifact's accessories (a cosign-style
// sha256-<hex>.sig tag pushed with crane and an OCI referrer) go with it, and the deletes are
// ARTIFACT_DELETED events and audit entries naming the tag-retention principal. The
// retentionProgress subscription follows the run to its end.
func TestRetentionDeleteTakesAccessoriesAndIsAudited(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.RetentionGrace = 0 })
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	projectID := env.CreateProject("retacc", false)
	old := pushRandomImage(t, env, "retacc/app:old")
	keep := pushRandomImage(t, env, "retacc/app:keep")
	sigTag := strings.Replace(old, ":", "-", 1) + ".sig"
	if out, err := crane("append", "-f", layerTar(t, "sig.txt", "signature of "+old), "-t", env.Host+"/retacc/app:"+sigTag); err != nil {
		t.Fatalf("push the signature: %v\n%s", err, out)
	}
	sig, err := crane("digest", env.Host+"/retacc/app:"+sigTag)
	if err != nil {
		t.Fatal(err)
	}
	sig = strings.TrimSpace(sig)
	ref := pushReferrer(t, env, "retacc/app", old)
	if st := signatureState(t, env, "retacc/app", old); len(st.Accessories) != 2 {
		t.Fatalf("accessories before the run: %+v", st.Accessories)
	}
	env.DB.Artifact.Update().Where(artifact.Digest(old)).SetPushTime(time.Now().Add(-48 * time.Hour)).ExecX(t.Context())
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { setRetentionPolicy(projectID: $p, rules: [
		{template: "nDaysSinceLastPush", n: 1, repositoryPattern: "**", tagPattern: "**"}]) { template } }`,
		map[string]any{"p": projectID}, nil)

	admin := dialGraphQLWS(t, env, "admin", servertest.AdminPassword)
	admin.subscribe(env, "1", `subscription { events(types: [RETENTION_COMPLETED]) { type jobID count } }`, nil)
	var started struct{ StartRetention struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { startRetention(projectID: $p) { id } }`,
		map[string]any{"p": projectID}, &started)
	id := started.StartRetention.ID
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if m := admin.next(ctx); !strings.Contains(fmt.Sprint(m["payload"]), "RETENTION_COMPLETED") {
		t.Fatalf("completion event: %v", m)
	}
	// Subscribed to a finished run, retentionProgress sends its final state and completes.
	admin.send(map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{
		"query": `subscription($id: ID!) { retentionProgress(id: $id) { id status artifactsDeleted artifactsRetained } }`, "variables": map[string]any{"id": id}}})
	var got []string
	for {
		m := admin.next(ctx)
		if m["id"] != "2" {
			continue
		}
		if m["type"] == "complete" {
			break
		}
		if m["type"] == "error" {
			t.Fatalf("retentionProgress: %v", m)
		}
		b, _ := json.Marshal(m["payload"])
		got = append(got, string(b))
	}
	if len(got) == 0 || !strings.Contains(got[len(got)-1], `"status":"SUCCESS"`) || !strings.Contains(got[len(got)-1], `"artifactsDeleted":1`) ||
		!strings.Contains(got[len(got)-1], `"artifactsRetained":1`) {
		t.Fatalf("retentionProgress sent %v", got)
	}

	if r := waitRetention(t, env, id); r.Status != "SUCCESS" || r.ArtifactsDeleted != 1 {
		t.Fatalf("run: %+v", r)
	}
	for what, d := range map[string]string{"subject": old, "cosign signature": sig, "referrer": ref} {
		if n := env.DB.Artifact.Query().Where(artifact.Digest(d)).CountX(t.Context()); n != 0 {
			t.Errorf("the %s %s is still indexed", what, d)
		}
	}
	if n := env.DB.Artifact.Query().Where(artifact.Digest(keep)).CountX(t.Context()); n != 1 {
		t.Errorf("the kept image is gone")
	}
	if out, err := crane("ls", env.Host+"/retacc/app"); err != nil || strings.TrimSpace(out) != "keep" {
		t.Errorf("tags left: %q %v", out, err)
	}
	// Events in the outbox and audit entries (written by the audit consumer) for all three.
	deadline := time.Now().Add(30 * time.Second)
	for _, d := range []string{old, sig, ref} {
		n := env.DB.Event.Query().Where(entevent.TypeEQ(event.ArtifactDeleted), entevent.Digest(d), entevent.Operator("tag-retention")).CountX(t.Context())
		if n != 1 {
			t.Errorf("ARTIFACT_DELETED events of %s by tag-retention: %d", d, n)
		}
		for {
			n := env.DB.AuditLog.Query().Where(auditlog.Operation("delete"), auditlog.ResourceType("artifact"),
				auditlog.Resource("retacc/app@"+d), auditlog.Username("tag-retention")).CountX(t.Context())
			if n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit entries of the delete of %s: %d", d, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// The scheduler starts the run of a policy whose schedule is due (driven at a chosen time, not by
// waiting for River's minute), records it as the schedule's last run, and does not start it again
// at the same time.
func TestRetentionScheduleStartsDueRun(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.RetentionGrace = 0 })
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	projectID := env.CreateProject("retsched", false)
	other := env.CreateProject("retnosched", false)
	for _, tag := range []string{"a", "b"} {
		if out, err := crane("append", "-f", layerTar(t, tag+".txt", tag), "-t", env.Host+"/retsched/app:"+tag); err != nil {
			t.Fatalf("push %s: %v\n%s", tag, err, out)
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { setRetentionPolicy(projectID: $p, rules: [
		{template: "always", repositoryPattern: "app", tagPattern: "a"}]) { template } }`, map[string]any{"p": projectID}, nil)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { setRetentionSchedule(projectID: $p, kind: DAILY) { kind } }`,
		map[string]any{"p": projectID}, nil)
	// A policy without a schedule is never started by the scheduler.
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { setRetentionPolicy(projectID: $p, rules: [
		{template: "always", repositoryPattern: "**", tagPattern: "**"}]) { template } }`, map[string]any{"p": other}, nil)

	ctx := t.Context()
	pool, err := pgxpool.New(ctx, env.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{}) // inserts only; the server works the job
	if err != nil {
		t.Fatal(err)
	}
	sched := retention.NewScheduler(env.DB, pool, slog.Default())
	now := time.Now()
	if started, err := sched.StartDue(ctx, client, now); err != nil || len(started) != 0 {
		t.Fatalf("a daily schedule set just now is not due yet: started %v, %v", started, err)
	}
	later := now.Add(25 * time.Hour)
	started, err := sched.StartDue(ctx, client, later)
	if err != nil || len(started) != 1 || started[0] != projectID {
		t.Fatalf("due: started %v, %v; want [%d]", started, err, projectID)
	}
	rr := env.DB.RetentionRun.Query().Where(retentionrun.ProjectID(projectID)).OnlyX(ctx)
	if rr.Trigger != retentionrun.TriggerSchedule || rr.DryRun {
		t.Fatalf("scheduled run: %+v", rr)
	}
	if r := waitRetention(t, env, fmt.Sprint(rr.ID)); r.Status != "SUCCESS" || r.ArtifactsDeleted != 1 {
		t.Fatalf("scheduled run: %+v", r)
	}
	if out, err := crane("ls", env.Host+"/retsched/app"); err != nil || strings.TrimSpace(out) != "a" {
		t.Fatalf("left after the scheduled run: %q %v", out, err)
	}
	// The schedule recorded the run: the same moment is not due again.
	if started, err := sched.StartDue(ctx, client, later); err != nil || len(started) != 0 {
		t.Fatalf("again at the same time: started %v, %v", started, err)
	}
	var sc struct {
		RetentionSchedule struct {
			LastRunAt *time.Time
			NextRunAt *time.Time
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `query($p: ID!) { retentionSchedule(projectID: $p) { lastRunAt nextRunAt } }`,
		map[string]any{"p": projectID}, &sc)
	if sc.RetentionSchedule.LastRunAt == nil || sc.RetentionSchedule.LastRunAt.Sub(later).Abs() > time.Second {
		t.Fatalf("schedule after the run: %+v, want last run %v", sc.RetentionSchedule, later)
	}
	if n := env.DB.RetentionRun.Query().Where(retentionrun.ProjectID(other)).CountX(ctx); n != 0 {
		t.Fatalf("a project without a schedule got %d runs", n)
	}
}

// retentionProgress follows a run from before it starts: the first message is the pending run,
// the last its end (with the counts), and then the subscription completes.
func TestRetentionProgressFollowsARun(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) {
		c.RunJobs = false // the run waits until a helper worker is started
		c.RetentionGrace = 0
	})
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	projectID := env.CreateProject("retprog", false)
	for _, tag := range []string{"p1", "p2", "p3"} {
		if out, err := crane("append", "-f", layerTar(t, tag+".txt", tag), "-t", env.Host+"/retprog/app:"+tag); err != nil {
			t.Fatalf("push %s: %v\n%s", tag, err, out)
		}
	}
	env.DB.Artifact.Update().SetPushTime(time.Now().Add(-48 * time.Hour)).ExecX(t.Context()) // past the helper's grace
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { setRetentionPolicy(projectID: $p, rules: [
		{template: "always", repositoryPattern: "app", tagPattern: "p1"}]) { template } }`, map[string]any{"p": projectID}, nil)
	var started struct{ StartRetention struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { startRetention(projectID: $p) { id } }`,
		map[string]any{"p": projectID}, &started)

	admin := dialGraphQLWS(t, env, "admin", servertest.AdminPassword)
	admin.subscribe(env, "1", `subscription($id: ID!) { retentionProgress(id: $id) { status artifactsTotal artifactsDeleted } }`,
		map[string]any{"id": started.StartRetention.ID})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	first := admin.next(ctx)
	if b, _ := json.Marshal(first["payload"]); first["id"] != "1" || !strings.Contains(string(b), `"status":"PENDING"`) {
		t.Fatalf("first message: %v", first)
	}
	startHelperWorker(t, env, -1)
	var got []string
	for {
		m := admin.next(ctx)
		if m["type"] == "complete" {
			break
		}
		if m["type"] != "next" {
			t.Fatalf("retentionProgress: %v", m)
		}
		b, _ := json.Marshal(m["payload"])
		got = append(got, string(b))
	}
	if len(got) == 0 || !strings.Contains(got[len(got)-1], `"status":"SUCCESS"`) || !strings.Contains(got[len(got)-1], `"artifactsTotal":3`) ||
		!strings.Contains(got[len(got)-1], `"artifactsDeleted":2`) {
		t.Fatalf("retentionProgress after PENDING sent %v", got)
	}
}
