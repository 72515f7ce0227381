package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/gc"
)

// gcTestDriver is the filesystem driver with deletes that fail on demand: a delete whose path
// contains a line of the file failFile fails. delay slows every delete, to widen race windows.
type gcTestDriver struct {
	storagedriver.StorageDriver
	failFile string
	delay    time.Duration
}

func (d gcTestDriver) Delete(ctx context.Context, path string) error {
	time.Sleep(d.delay)
	if b, err := os.ReadFile(d.failFile); err == nil {
		for _, l := range strings.Fields(string(b)) {
			if strings.Contains(path, l) {
				return fmt.Errorf("injected failure deleting %s", path)
			}
		}
	}
	return d.StorageDriver.Delete(ctx, path)
}

type gcTestDriverFactory struct{}

func (gcTestDriverFactory) Create(_ context.Context, params map[string]any) (storagedriver.StorageDriver, error) {
	failFile, _ := params["failfile"].(string)
	delay, _ := params["delay"].(time.Duration)
	fsd, err := filesystem.FromParameters(map[string]any{"rootdirectory": params["rootdirectory"]})
	if err != nil {
		return nil, err
	}
	return gcTestDriver{StorageDriver: fsd, failFile: failFile, delay: delay}, nil
}

func init() { factory.Register("gctest", gcTestDriverFactory{}) }

// gcBundle is a server whose storage is the gctest driver.
type gcBundle struct {
	env      *servertest.Env
	crane    func(args ...string) (string, error)
	blobsDir string
	failFile string
}

func setupGC(t *testing.T, window, deleteDelay time.Duration) *gcBundle {
	t.Helper()
	dataDir := t.TempDir()
	failFile := filepath.Join(t.TempDir(), "fail")
	env := servertest.Start(t, func(c *server.Config) {
		c.DataDir = dataDir
		c.GCWindow = window
		c.Storage = map[string]map[string]any{"gctest": {
			"rootdirectory": filepath.Join(dataDir, "registry"), "failfile": failFile, "delay": deleteDelay}}
	})
	return &gcBundle{env: env, crane: setupCrane(t, env, "admin", servertest.AdminPassword),
		blobsDir: filepath.Join(dataDir, "registry", "docker", "registry", "v2", "blobs"), failFile: failFile}
}

// randomLayer writes a layer tarball of n random bytes.
func randomLayer(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return layerTar(t, "data-"+hex.EncodeToString(b[:4]), hex.EncodeToString(b))
}

// push appends layers to an empty image and pushes it as ref.
func (g *gcBundle) push(t *testing.T, ref string, layers ...string) {
	t.Helper()
	args := []string{"append", "-t", g.env.Host + "/" + ref}
	for _, l := range layers {
		args = append(args, "-f", l)
	}
	if out, err := g.crane(args...); err != nil {
		t.Fatalf("push %s: %v\n%s", ref, err, out)
	}
}

// blobsOf returns an image's manifest digest and every blob digest it stands on (manifest included).
func (g *gcBundle) blobsOf(t *testing.T, ref string) (string, []string) {
	t.Helper()
	dgst, err := g.crane("digest", g.env.Host+"/"+ref)
	if err != nil {
		t.Fatalf("digest %s: %v", ref, err)
	}
	raw, err := g.crane("manifest", g.env.Host+"/"+ref)
	if err != nil {
		t.Fatalf("manifest %s: %v", ref, err)
	}
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	d := strings.TrimSpace(dgst)
	out := []string{d, m.Config.Digest}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return d, out
}

// stored returns the size of every blob in storage, by digest.
func (g *gcBundle) stored(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(g.blobsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "data" {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out["sha256:"+filepath.Base(filepath.Dir(p))] = fi.Size()
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func total(m map[string]int64) (n int64) {
	for _, s := range m {
		n += s
	}
	return n
}

type gcRunResult struct {
	ID               string `json:"id"`
	Status           string `json:"status"`
	BlobsDeleted     int64  `json:"blobsDeleted"`
	ManifestsDeleted int64  `json:"manifestsDeleted"`
	ArtifactsDeleted int64  `json:"artifactsDeleted"`
	BytesFreed       int64  `json:"bytesFreed"`
	Orphans          int64  `json:"orphans"`
	OrphanBytes      int64  `json:"orphanBytes"`
	UploadsPurged    int64  `json:"uploadsPurged"`
	Failures         int64  `json:"failures"`
	Log              string `json:"log"`
}

const gcRunFields = `id status blobsDeleted manifestsDeleted artifactsDeleted bytesFreed orphans orphanBytes uploadsPurged failures log`

// gc starts a GC with input and waits for it to end.
func (g *gcBundle) gc(t *testing.T, input map[string]any) gcRunResult {
	t.Helper()
	var out struct{ StartGC gcRunResult }
	g.env.MustGraphQL("admin", servertest.AdminPassword, `mutation($i: GCInput!) { startGC(input: $i) { `+gcRunFields+` } }`,
		map[string]any{"i": input}, &out)
	return g.wait(t, out.StartGC.ID)
}

func (g *gcBundle) wait(t *testing.T, id string) gcRunResult {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var out struct{ GcRun gcRunResult }
		g.env.MustGraphQL("admin", servertest.AdminPassword, `query($id: ID!) { gcRun(id: $id) { `+gcRunFields+` } }`,
			map[string]any{"id": id}, &out)
		if s := out.GcRun.Status; s != "PENDING" && s != "RUNNING" {
			return out.GcRun
		}
		if time.Now().After(deadline) {
			t.Fatalf("gc run %s did not end: %+v", id, out.GcRun)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// blobStatus returns a blob's GC status, or "" if the database does not know it.
func (g *gcBundle) blobStatus(t *testing.T, dgst string) string {
	t.Helper()
	rows, err := g.env.DB.QueryContext(context.Background(), "SELECT status FROM blobs WHERE digest = $1", dgst)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		return ""
	}
	var s string
	_ = rows.Scan(&s)
	return s
}

func (g *gcBundle) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := g.env.DB.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestGCFreesExactlyWhatNothingNeeds pushes images, deletes one and untags another, plants an
// orphan blob, and checks that a dry run changes nothing yet predicts exactly what the real run
// then frees: storage shrinks by exactly those bytes, and the kept images pull bit-for-bit.
func TestGCFreesExactlyWhatNothingNeeds(t *testing.T) {
	t.Parallel()
	g := setupGC(t, time.Millisecond, 0)
	shared, a1, b1, c1, e1 := randomLayer(t, 3000), randomLayer(t, 2000), randomLayer(t, 5000), randomLayer(t, 1000), randomLayer(t, 4000)
	g.push(t, "library/a:v1", shared, a1)
	g.push(t, "library/b:v1", shared, b1)
	g.push(t, "library/c:v1", c1)
	g.push(t, "library/e:v1", shared, e1)
	_, keptA := g.blobsOf(t, "library/a:v1")
	_, keptC := g.blobsOf(t, "library/c:v1")
	bDigest, bBlobs := g.blobsOf(t, "library/b:v1")
	_, eBlobs := g.blobsOf(t, "library/e:v1")
	manifestA, _ := g.crane("manifest", g.env.Host+"/library/a:v1")
	manifestC, _ := g.crane("manifest", g.env.Host+"/library/c:v1")

	// b is deleted; e loses its only tag (an untagged artifact GC may delete).
	if out, err := g.crane("delete", g.env.Host+"/library/b@"+bDigest); err != nil {
		t.Fatalf("delete b: %v\n%s", err, out)
	}
	var tagID int
	rows, err := g.env.DB.QueryContext(context.Background(), `SELECT t.id FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = 'library/e'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		_ = rows.Scan(&tagID)
	}
	rows.Close()
	g.env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { deleteTag(id: $id) }`, map[string]any{"id": tagID}, nil)

	// An orphan: a blob in storage the database never knew, older than the window.
	orphanData := []byte("an orphan nobody pushed through the registry")
	orphanHex := hex.EncodeToString(randomBytes(32))
	orphanDir := filepath.Join(g.blobsDir, "sha256", orphanHex[:2], orphanHex)
	if err := os.MkdirAll(orphanDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(orphanDir, "data"), orphanData, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	_ = os.Chtimes(filepath.Join(orphanDir, "data"), old, old)

	before := g.stored(t)
	shared0 := strings.TrimSpace(bBlobs[2]) // the shared layer: a still needs it
	var want int64
	wantGone := map[string]bool{}
	for _, d := range append(append([]string{}, bBlobs...), eBlobs...) {
		if d != shared0 && !wantGone[d] {
			wantGone[d] = true
			want += before[d]
		}
	}
	wantGone["sha256:"+orphanHex] = true
	want += int64(len(orphanData))
	time.Sleep(5 * time.Millisecond) // past the 1 ms window

	input := map[string]any{"deleteUntagged": true, "dryRun": true, "workers": 4, "removeOrphans": true}
	dry := g.gc(t, input)
	if dry.Status != "SUCCESS" || dry.ArtifactsDeleted != 1 || dry.BlobsDeleted != int64(len(wantGone)-1) ||
		dry.Orphans != 1 || dry.BytesFreed != want || dry.ManifestsDeleted != 2 {
		t.Fatalf("dry run = %+v; want 1 artifact, %d blobs (2 manifests), 1 orphan, %d bytes", dry, len(wantGone)-1, want)
	}
	if after := g.stored(t); total(after) != total(before) || len(after) != len(before) {
		t.Fatalf("dry run changed storage: %d → %d bytes", total(before), total(after))
	}
	for d := range wantGone {
		if s := g.blobStatus(t, d); s != "none" && s != "" {
			t.Fatalf("dry run left blob %s %s", d, s)
		}
	}

	input["dryRun"] = false
	run := g.gc(t, input)
	if run.Status != "SUCCESS" || run.Failures != 0 || run.ArtifactsDeleted != 1 || run.BytesFreed != want {
		t.Fatalf("gc = %+v; want 1 artifact and %d bytes freed", run, want)
	}
	after := g.stored(t)
	if freed := total(before) - total(after); freed != want {
		t.Fatalf("storage shrank by %d bytes; want %d", freed, want)
	}
	for d := range wantGone {
		if _, ok := after[d]; ok {
			t.Errorf("blob %s is still stored", d)
		}
		if s := g.blobStatus(t, d); s != "" {
			t.Errorf("blob %s still in the database (%s)", d, s)
		}
	}
	for _, d := range append(keptA, keptC...) {
		if after[d] != before[d] || g.blobStatus(t, d) != "none" {
			t.Errorf("kept blob %s: %d bytes, status %q", d, after[d], g.blobStatus(t, d))
		}
	}
	for ref, manifest := range map[string]string{"library/a:v1": manifestA, "library/c:v1": manifestC} {
		if got, _ := g.crane("manifest", g.env.Host+"/"+ref); got != manifest {
			t.Errorf("%s manifest changed", ref)
		}
		if out, err := g.crane("validate", "--remote", g.env.Host+"/"+ref); err != nil {
			t.Errorf("%s does not pull whole after gc: %v\n%s", ref, err, out)
		}
	}

	// Nothing is left to collect, and a second GC while none runs is allowed; one while one runs is not.
	again := g.gc(t, map[string]any{"workers": 1})
	if again.BlobsDeleted != 0 || again.BytesFreed != 0 {
		t.Errorf("second gc deleted %d blobs, %d bytes; want nothing", again.BlobsDeleted, again.BytesFreed)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// TestGCToleratesStorageFailures makes storage refuse to delete one blob: GC marks it
// deletefailed, logs it, deletes everything else, and the next GC deletes it.
func TestGCToleratesStorageFailures(t *testing.T) {
	t.Parallel()
	g := setupGC(t, time.Millisecond, 0)
	g.push(t, "library/gone:v1", randomLayer(t, 1000), randomLayer(t, 1000), randomLayer(t, 1000))
	dgst, blobs := g.blobsOf(t, "library/gone:v1")
	if out, err := g.crane("delete", g.env.Host+"/library/gone@"+dgst); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	failing := blobs[2] // the first layer
	if err := os.WriteFile(g.failFile, []byte(strings.TrimPrefix(failing, "sha256:")), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	run := g.gc(t, map[string]any{"workers": 2})
	if run.Status != "SUCCESS" || run.Failures != 1 || run.BlobsDeleted != int64(len(blobs)-1) ||
		!strings.Contains(run.Log, failing) || !strings.Contains(run.Log, "injected failure") {
		t.Fatalf("gc = %+v; want %d blobs deleted and one failure logged for %s", run, len(blobs)-1, failing)
	}
	if s := g.blobStatus(t, failing); s != "deletefailed" {
		t.Fatalf("failed blob status %q; want deletefailed", s)
	}
	stored := g.stored(t)
	for _, d := range blobs {
		if _, ok := stored[d]; ok != (d == failing) {
			t.Errorf("blob %s stored = %t", d, ok)
		}
	}
	if err := os.WriteFile(g.failFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run = g.gc(t, map[string]any{"workers": 1})
	if run.Status != "SUCCESS" || run.Failures != 0 || run.BlobsDeleted != 1 {
		t.Fatalf("second gc = %+v; want the failed blob deleted", run)
	}
	if _, ok := g.stored(t)[failing]; ok || g.blobStatus(t, failing) != "" {
		t.Fatalf("blob %s survived the second gc", failing)
	}
}

// TestGCRacesPushes runs GC over blobs that are unreferenced and past the window while many
// clients push images made of those same layers: every push must succeed and pull whole
// afterwards. Deletes are slowed so that pushes meet blobs in every GC state.
func TestGCRacesPushes(t *testing.T) {
	t.Parallel()
	g := setupGC(t, 2*time.Hour, 150*time.Millisecond)
	pool := make([]string, 12)
	for i := range pool {
		pool[i] = randomLayer(t, 2000+i)
	}
	// Seed: every pool layer pushed, then the images deleted, so each layer is unreferenced.
	for i := 0; i < len(pool); i += 3 {
		ref := fmt.Sprintf("library/seed%d:v1", i)
		g.push(t, ref, pool[i], pool[i+1], pool[i+2])
		dgst, _ := g.blobsOf(t, ref)
		if out, err := g.crane("delete", g.env.Host+"/library/seed"+fmt.Sprint(i)+"@"+dgst); err != nil {
			t.Fatalf("delete seed: %v\n%s", err, out)
		}
	}
	// …and old enough to be collected.
	g.exec(t, `UPDATE blobs SET updated_at = now() - interval '3 hours'`)

	var out struct{ StartGC gcRunResult }
	g.env.MustGraphQL("admin", servertest.AdminPassword, `mutation { startGC(input: {workers: 4}) { id } }`, nil, &out)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	refs := make([]string, 16)
	for i := range refs {
		refs[i] = fmt.Sprintf("library/racer%d:v1", i)
		layers := []string{randomLayer(t, 500)}
		for j := 0; j < 3; j++ {
			n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(pool))))
			layers = append(layers, pool[n.Int64()])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"append", "-t", g.env.Host + "/" + refs[i]}
			for _, l := range layers {
				args = append(args, "-f", l)
			}
			if out, err := g.crane(args...); err != nil {
				errs <- fmt.Errorf("push %s during gc: %v\n%s", refs[i], err, out)
			}
		}()
	}
	wg.Wait()
	run := g.wait(t, out.StartGC.ID)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if run.Status != "SUCCESS" || run.Failures != 0 {
		t.Fatalf("gc = %+v", run)
	}
	t.Logf("gc deleted %d blobs while 16 pushes ran", run.BlobsDeleted)
	for _, ref := range refs {
		if out, err := g.crane("validate", "--remote", g.env.Host+"/"+ref); err != nil {
			t.Errorf("%s does not pull whole: %v\n%s", ref, err, out)
		}
	}
	// A later GC (with the window still 2h) must not touch anything those pushes use.
	run = g.gc(t, map[string]any{"workers": 2})
	for _, ref := range refs {
		if out, err := g.crane("validate", "--remote", g.env.Host+"/"+ref); err != nil {
			t.Errorf("%s does not pull whole after a second gc: %v\n%s", ref, err, out)
		}
	}
}

// TestGCAdminsOnlyHistoryScheduleEvents checks who may run GC, one GC at a time, the schedule, the
// history and the events a run leaves.
func TestGCAdminsOnlyHistoryScheduleEvents(t *testing.T) {
	t.Parallel()
	g := setupGC(t, time.Millisecond, 0)
	g.env.CreateUser("dev", "dev-password-1")
	for _, q := range []string{
		`mutation { startGC(input: {}) { id } }`,
		`mutation { purgeUploads { id } }`,
		`mutation { setGCSchedule(input: {kind: HOURLY}) { kind } }`,
		`query { gcRuns { totalCount } }`,
		`query { gcSchedule { kind } }`,
	} {
		if r := g.env.GraphQL("dev", "dev-password-1", q, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("%s as a non-admin: code %q; want FORBIDDEN", q, r.Code())
		}
	}
	if r := g.env.GraphQL("admin", servertest.AdminPassword, `mutation { startGC(input: {workers: 11}) { id } }`, nil); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("11 workers: code %q; want BAD_USER_INPUT", r.Code())
	}

	run := g.gc(t, map[string]any{"workers": 3})
	if run.Status != "SUCCESS" || !strings.Contains(run.Log, "workers 3") {
		t.Fatalf("gc = %+v", run)
	}
	// The completion event commits after the run's status: wait for it rather than read once.
	var types []string
	complete := func() bool {
		types = nil
		rows, err := g.env.DB.QueryContext(context.Background(), `SELECT type FROM events WHERE job_id = $1 ORDER BY id`, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var typ string
			_ = rows.Scan(&typ)
			types = append(types, typ)
		}
		return len(types) >= 2 && types[0] == "GC_STARTED" && types[len(types)-1] == "GC_COMPLETED"
	}
	waitFor(t, "GC_STARTED … GC_COMPLETED for run "+run.ID, complete)

	// One GC at a time: while one is queued or running (River's job state says so), another is
	// refused. This one's job is scheduled an hour ahead, so it stays queued.
	queueGCJob(t, g.env, time.Hour)
	if r := g.env.GraphQL("admin", servertest.AdminPassword, `mutation { startGC(input: {}) { id } }`, nil); r.Code() != "CONFLICT" {
		t.Errorf("second gc while one runs: code %q; want CONFLICT", r.Code())
	}
	var hist struct {
		GcRuns struct {
			TotalCount int
			Edges      []struct{ Node struct{ ID, Status string } }
		}
	}
	g.env.MustGraphQL("admin", servertest.AdminPassword, `query { gcRuns(kind: GC) { totalCount edges { node { id status } } } }`, nil, &hist)
	if hist.GcRuns.TotalCount != 2 || hist.GcRuns.Edges[1].Node.ID != run.ID || hist.GcRuns.Edges[0].Node.Status != "RUNNING" {
		t.Errorf("history = %+v; want the running one, then run %s", hist, run.ID)
	}

	if r := g.env.GraphQL("admin", servertest.AdminPassword, `mutation { setGCSchedule(input: {kind: CUSTOM, cron: "every day"}) { kind } }`, nil); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("bad cron: code %q; want BAD_USER_INPUT", r.Code())
	}
	var sched struct {
		GcSchedule struct {
			Kind      string
			Cron      string
			Workers   int
			DryRun    bool
			NextRunAt *time.Time
		}
	}
	g.env.MustGraphQL("admin", servertest.AdminPassword, `mutation { setGCSchedule(input: {kind: CUSTOM, cron: "30 4 * * *", workers: 5, dryRun: true}) { kind } }`, nil, nil)
	g.env.MustGraphQL("admin", servertest.AdminPassword, `query { gcSchedule { kind cron workers dryRun nextRunAt } }`, nil, &sched)
	s := sched.GcSchedule
	if s.Kind != "CUSTOM" || s.Cron != "30 4 * * *" || s.Workers != 5 || !s.DryRun || s.NextRunAt == nil ||
		s.NextRunAt.UTC().Hour() != 4 || s.NextRunAt.UTC().Minute() != 30 {
		t.Errorf("schedule = %+v", s)
	}
}

// TestUploadPurge starts uploads, ages one, and checks that a dry run lists only the old one and
// a real purge removes only it.
func TestUploadPurge(t *testing.T) {
	t.Parallel()
	g := setupGC(t, time.Millisecond, 0)
	start := func() string {
		req, _ := newRequest("POST", g.env.URL+"/v2/library/up/blobs/uploads/", "")
		req.SetBasicAuth("admin", servertest.AdminPassword)
		resp, err := servertest.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("start upload: %d", resp.StatusCode)
		}
		return resp.Header.Get("Docker-Upload-UUID")
	}
	oldID, newID := start(), start()
	uploads := filepath.Join(filepath.Dir(g.blobsDir), "repositories", "library", "up", "_uploads")
	startedAt := filepath.Join(uploads, oldID, "startedat")
	if err := os.WriteFile(startedAt, []byte(time.Now().Add(-200*time.Hour).UTC().Format(time.RFC3339)), 0o644); err != nil {
		t.Fatal(err)
	}
	purge := func(dry bool) gcRunResult {
		var out struct{ PurgeUploads gcRunResult }
		g.env.MustGraphQL("admin", servertest.AdminPassword, `mutation($d: Boolean) { purgeUploads(dryRun: $d) { id } }`,
			map[string]any{"d": dry}, &out)
		return g.wait(t, out.PurgeUploads.ID)
	}
	dry := purge(true)
	if dry.Status != "SUCCESS" || dry.UploadsPurged != 1 {
		t.Fatalf("dry run = %+v; want one upload", dry)
	}
	if _, err := os.Stat(filepath.Join(uploads, oldID)); err != nil {
		t.Fatalf("dry run removed the upload: %v", err)
	}
	run := purge(false)
	if run.Status != "SUCCESS" || run.UploadsPurged != 1 || run.Failures != 0 {
		t.Fatalf("purge = %+v; want one upload", run)
	}
	if _, err := os.Stat(filepath.Join(uploads, oldID)); !os.IsNotExist(err) {
		t.Errorf("old upload still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(uploads, newID)); err != nil {
		t.Errorf("new upload removed: %v", err)
	}
}

func newRequest(method, url, body string) (*http.Request, error) {
	return http.NewRequest(method, url, strings.NewReader(body))
}

// TestStopGCBetweenBatches stops a slow GC: it ends STOPPED, the batch in hand finished, no blob
// left `deleting`, and every blob it did not reach still stored and still in the database.
func TestStopGCBetweenBatches(t *testing.T) {
	t.Parallel()
	g := setupGC(t, time.Millisecond, 40*time.Millisecond)
	const n = 200
	g.seedBlobs(t, n)
	var out struct{ StartGC gcRunResult }
	g.env.MustGraphQL("admin", servertest.AdminPassword, `mutation { startGC(input: {workers: 1}) { id } }`, nil, &out)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var s struct{ GcRun gcRunResult }
		g.env.MustGraphQL("admin", servertest.AdminPassword, `query($id: ID!) { gcRun(id: $id) { status } }`, map[string]any{"id": out.StartGC.ID}, &s)
		if s.GcRun.Status == "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gc never ran: %+v", s.GcRun)
		}
	}
	g.env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { stopGC(id: $id) { id } }`, map[string]any{"id": out.StartGC.ID}, nil)
	run := g.wait(t, out.StartGC.ID)
	if run.Status != "STOPPED" || run.BlobsDeleted >= n || run.BlobsDeleted%50 != 0 {
		t.Fatalf("stopped gc = %+v; want STOPPED after whole batches of 50, short of %d", run, n)
	}
	var deleting, left int
	rows, err := g.env.DB.QueryContext(context.Background(), `SELECT count(*) FILTER (WHERE status = 'deleting'), count(*) FROM blobs`)
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()
	_ = rows.Scan(&deleting, &left)
	rows.Close()
	if deleting != 0 || int64(left) != n-run.BlobsDeleted || len(g.stored(t)) != left {
		t.Fatalf("after the stop: %d deleting, %d rows, %d stored; want 0, %d, %d", deleting, left, len(g.stored(t)), n-run.BlobsDeleted, n-run.BlobsDeleted)
	}
}

// seedBlobs stores n small unreferenced blobs, known to the database and an hour old.
func (g *gcBundle) seedBlobs(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		data := []byte(fmt.Sprintf("blob %d", i))
		h := sha256Hex(data)
		dir := filepath.Join(g.blobsDir, "sha256", h[:2], h)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "data"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		g.exec(t, `INSERT INTO blobs (digest, media_type, size, status, version, created_at, updated_at)
VALUES ($1, 'application/octet-stream', $2, 'none', 0, now() - interval '1 hour', now() - interval '1 hour')`, "sha256:"+h, len(data))
	}
}

// TestGCProgressIsPublished follows a GC through the events subscription and gcProgress.
func TestGCProgressIsPublished(t *testing.T) {
	t.Parallel()
	g := setupGC(t, time.Millisecond, 0)
	g.seedBlobs(t, 120)
	admin := dialGraphQLWS(t, g.env, "admin", servertest.AdminPassword)
	admin.subscribe(g.env, "1", `subscription { events(types: [GC_COMPLETED]) { type jobID count } }`, nil)

	var out struct{ StartGC gcRunResult }
	g.env.MustGraphQL("admin", servertest.AdminPassword, `mutation { startGC(input: {workers: 2}) { id } }`, nil, &out)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := admin.next(ctx)
	b, _ := json.Marshal(m["payload"])
	if !strings.Contains(string(b), `"type":"GC_COMPLETED"`) || !strings.Contains(string(b), `"jobID":`+out.StartGC.ID) ||
		!strings.Contains(string(b), `"count":120`) {
		t.Fatalf("completion event = %s (run %s)", b, out.StartGC.ID)
	}
	admin.send(map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{
		"query": `subscription($id: ID!) { gcProgress(id: $id) { status blobsDeleted } }`, "variables": map[string]any{"id": out.StartGC.ID}}})
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
	if len(got) == 0 || !strings.Contains(got[len(got)-1], `"status":"SUCCESS"`) || !strings.Contains(got[len(got)-1], `"blobsDeleted":120`) {
		t.Fatalf("gcProgress sent %v", got)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// queueGCJob records a RUNNING GC run whose River job is queued to run after in, as a GC queued
// on another replica is.
func queueGCJob(t *testing.T, env *servertest.Env, in time.Duration) (runID int) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, env.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	opts := gc.Args{}.InsertOpts()
	opts.ScheduledAt = time.Now().Add(in)
	// An earlier GC's job may not be recorded as completed yet (River does that just after its run
	// ends): until then it is still the one GC. Each try is its own transaction, which must end
	// for River to complete that job.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO gc_runs (kind, status, trigger, log, operator, created_at)
VALUES ('GC', 'RUNNING', 'MANUAL', '', 'x', now()) RETURNING id`).Scan(&runID); err != nil {
			t.Fatal(err)
		}
		res, err := client.InsertTx(ctx, tx, gc.Args{RunID: runID, RunKind: "GC"}, &opts)
		if err != nil {
			t.Fatalf("queue gc job: %v", err)
		}
		if res.UniqueSkippedAsDuplicate {
			_ = tx.Rollback(ctx)
			if time.Now().After(deadline) {
				t.Fatalf("queue gc job: another gc job stays active: %+v", res.Job)
			}
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE gc_runs SET job_id = $1 WHERE id = $2`, res.Job.ID, runID); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return runID
	}
}

// TestGCDryRunWithNothingUntaggedEqualsRealRun: with no untagged artifact to spare, the dry run
// still counts only unreferenced blobs (a nil list of spared artifacts once reached SQL as NULL
// in `<> ALL(...)` and made every blob look like garbage), and the real run frees exactly that.
func TestGCDryRunWithNothingUntaggedEqualsRealRun(t *testing.T) {
	t.Parallel()
	g := setupGC(t, time.Millisecond, 0)
	g.push(t, "library/keep:v1", randomLayer(t, 3000), randomLayer(t, 2000))
	_, kept := g.blobsOf(t, "library/keep:v1")
	g.seedBlobs(t, 20)
	for _, untagged := range []bool{false, true} {
		before := g.stored(t)
		dry := g.gc(t, map[string]any{"dryRun": true, "deleteUntagged": untagged})
		if dry.Status != "SUCCESS" || dry.BlobsDeleted != 20 || dry.ArtifactsDeleted != 0 || dry.ManifestsDeleted != 0 {
			t.Fatalf("dry run (delete untagged %t) = %+v; want SUCCESS counting the 20 unreferenced blobs only", untagged, dry)
		}
		if after := g.stored(t); len(after) != len(before) {
			t.Fatalf("the dry run deleted %d blobs", len(before)-len(after))
		}
		if !untagged {
			continue // the real run after the second dry run frees them
		}
		g.dryRunMatches(t, dry, before)
	}
	for _, d := range kept {
		if _, ok := g.stored(t)[d]; !ok {
			t.Fatalf("kept image's blob %s is gone", d)
		}
	}
}

// dryRunMatches runs the real GC the dry run predicted and checks it freed exactly that.
func (g *gcBundle) dryRunMatches(t *testing.T, dry gcRunResult, before map[string]int64) {
	t.Helper()
	real := g.gc(t, map[string]any{"deleteUntagged": true})
	if real.Status != "SUCCESS" || real.BlobsDeleted != dry.BlobsDeleted || real.ManifestsDeleted != dry.ManifestsDeleted ||
		real.ArtifactsDeleted != dry.ArtifactsDeleted || real.BytesFreed != dry.BytesFreed {
		t.Fatalf("real run = %+v\ndry run  = %+v; want the same counts", real, dry)
	}
	if freed := total(before) - total(g.stored(t)); freed != real.BytesFreed {
		t.Fatalf("storage shrank by %d bytes; the run says %d", freed, real.BytesFreed)
	}
}
