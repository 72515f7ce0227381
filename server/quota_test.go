package server_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// incompressibleLayer is a layer of n random (incompressible) bytes, so its stored size is about n.
func incompressibleLayer(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return layerTar(t, "random.bin", string(b))
}

type projectQuota struct {
	Limit, Used, Reserved int64
}

func readQuota(t *testing.T, env *servertest.Env, name string) (q projectQuota, exact int64) {
	t.Helper()
	var got struct {
		Project struct {
			StorageUsed int64
			Quota       projectQuota
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `query($n: String) { project(name: $n) { storageUsed quota { limit used reserved } } }`,
		map[string]any{"n": name}, &got)
	return got.Project.Quota, got.Project.StorageUsed
}

// recompute runs the quota recompute job of a project and waits for River to complete it.
func recompute(t *testing.T, env *servertest.Env, projectID int) {
	t.Helper()
	var out struct{ RecomputeProjectQuota string }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { recomputeProjectQuota(projectID: $p) }`,
		map[string]any{"p": projectID}, &out)
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := env.DB.QueryContext(t.Context(), `SELECT state FROM river_job WHERE id = $1`, out.RecomputeProjectQuota)
		if err != nil {
			t.Fatal(err)
		}
		var state string
		if rows.Next() {
			_ = rows.Scan(&state)
		}
		rows.Close()
		if state == "completed" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("recompute job %s is %q after 30 s", out.RecomputeProjectQuota, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// storedBlobBytes is what the storage holds in blob files.
func storedBlobBytes(t *testing.T, env *servertest.Env) int64 {
	t.Helper()
	var onDisk int64
	err := filepath.WalkDir(filepath.Join(env.DataDir, "registry"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "data" && strings.Contains(path, string(filepath.Separator)+"blobs"+string(filepath.Separator)) {
			info, err := d.Info()
			if err != nil {
				return err
			}
			onDisk += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return onDisk
}

// Two pushes that each fit the quota but not together run at once: one wins, the other is
// refused with DENIED naming the project, limit and usage, and leaves nothing behind; the live
// usage equals both the exact recompute and what storage holds.
func TestQuotaConcurrentPushesCannotOvershoot(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	id := env.CreateProject("quota", false)
	const layer = 300 << 10
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!, $l: Int!) { setProjectQuota(projectID: $p, limit: $l) { limit } }`,
		map[string]any{"p": id, "l": 450 << 10}, nil)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { setQuotaConfig(input: {defaultLimit: -1, warningPercent: 50}) { warningPercent } }`, nil, nil)
	layers := []string{incompressibleLayer(t, layer), incompressibleLayer(t, layer)}

	var wg sync.WaitGroup
	outs, errs := make([]string, 2), make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = crane("append", "-f", layers[i], "-t", fmt.Sprintf("%s/quota/app%d:v1", env.Host, i))
		}()
	}
	wg.Wait()
	won, refused := 0, 0
	for i := range 2 {
		switch {
		case errs[i] == nil:
			won++
		case strings.Contains(outs[i], "DENIED") && strings.Contains(outs[i], "quota exceeded: project quota has a limit of 450.0 KiB"):
			refused++
		default:
			t.Fatalf("push %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	if won != 1 || refused != 1 {
		t.Fatalf("%d pushes won and %d were refused, want 1 and 1: %q", won, refused, outs)
	}

	q, exact := readQuota(t, env, "quota")
	if q.Used != exact || q.Used < layer || q.Used > 450<<10 {
		t.Fatalf("live usage %d, exact %d: want them equal, between %d and the limit", q.Used, exact, layer)
	}
	// The refused upload left no blob in storage (it was cancelled, not committed). Blobs of the
	// refused push accepted before it (a small config, depending on the order) are exactly what
	// is still reserved: released after the TTL, then garbage-collected.
	if disk := storedBlobBytes(t, env); disk != exact+q.Reserved {
		t.Fatalf("storage holds %d bytes of blobs, the project's artifacts %d and reservations %d", disk, exact, q.Reserved)
	}
	// The winner crossed the warning share (50 %), the loser met the limit: one event each.
	for typ, want := range map[string]int{"QUOTA_WARNING": 1, "QUOTA_EXCEED": 1} {
		rows, err := env.DB.QueryContext(t.Context(), `SELECT count(*) FROM events WHERE type = $1 AND project_name = 'quota'`, typ)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if rows.Next() {
			_ = rows.Scan(&n)
		}
		rows.Close()
		if n < want {
			t.Fatalf("%d %s events, want %d", n, typ, want)
		}
	}
	recompute(t, env, id)
	after, _ := readQuota(t, env, "quota")
	if after.Used != q.Used {
		t.Fatalf("the recompute found %d bytes, the live counter said %d", after.Used, q.Used)
	}

	// Deleting the winner gives its room back: the other push now fits.
	loser := 0
	if errs[0] == nil {
		loser = 1
	}
	winner := 1 - loser
	ref := fmt.Sprintf("%s/quota/app%d", env.Host, winner)
	dgst, err := crane("digest", ref+":v1")
	if err != nil {
		t.Fatalf("digest: %v\n%s", err, dgst)
	}
	if out, err := crane("delete", ref+"@"+strings.TrimSpace(dgst)); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if q, _ := readQuota(t, env, "quota"); q.Used != 0 {
		t.Fatalf("usage after deleting the only artifact: %d", q.Used)
	}
	if out, err := crane("append", "-f", layers[loser], "-t", fmt.Sprintf("%s/quota/app%d:v1", env.Host, loser)); err != nil {
		t.Fatalf("push after the delete: %v\n%s", err, out)
	}
	q, exact = readQuota(t, env, "quota")
	if q.Used != exact {
		t.Fatalf("live usage %d, exact %d", q.Used, exact)
	}
}

// A shared layer counts once: an image that only adds a tag or reuses the layers costs nothing more.
func TestQuotaCountsSharedBlobsOnce(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	env.CreateProject("shared", false)
	base := env.Host + "/shared/app:v1"
	if out, err := crane("append", "-f", incompressibleLayer(t, 100<<10), "-t", base); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	first, _ := readQuota(t, env, "shared")
	if out, err := crane("copy", base, env.Host+"/shared/other:v1"); err != nil {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	if out, err := crane("append", "-b", base, "-f", incompressibleLayer(t, 10<<10), "-t", env.Host+"/shared/app:v2"); err != nil {
		t.Fatalf("push v2: %v\n%s", err, out)
	}
	q, exact := readQuota(t, env, "shared")
	if q.Used != exact || q.Used < first.Used+10<<10 || q.Used > first.Used+12<<10 {
		t.Fatalf("usage %d (exact %d) after a copy and a one-layer addition to %d bytes", q.Used, exact, first.Used)
	}
}

// A push abandoned after its blob upload (a client or process killed before the manifest) holds
// its reservation only until the TTL: the recompute (and the periodic sweep) release it, and the
// room is there for the next push.
func TestQuotaLeakedReservationIsReleased(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.QuotaReservationTTL = time.Second })
	id := env.CreateProject("leak", false)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!, $l: Int!) { setProjectQuota(projectID: $p, limit: $l) { limit } }`,
		map[string]any{"p": id, "l": 200 << 10}, nil)

	// The abandoned push: one monolithic blob upload of 150 KiB, then nothing.
	blob := make([]byte, 150<<10)
	_, _ = rand.Read(blob)
	uploadBlob(t, env, "leak/app", blob)
	if q, _ := readQuota(t, env, "leak"); q.Reserved != 150<<10 || q.Used != 0 {
		t.Fatalf("after the upload: %+v, want 150 KiB reserved", q)
	}
	// Within the TTL the reservation holds: another 150 KiB does not fit.
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	if out, err := crane("append", "-f", incompressibleLayer(t, 150<<10), "-t", env.Host+"/leak/other:v1"); err == nil || !strings.Contains(out, "quota exceeded") {
		t.Fatalf("a push over the reserved room: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		recompute(t, env, id)
		if q, _ := readQuota(t, env, "leak"); q.Reserved == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the abandoned reservation was never released")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, err := crane("append", "-f", incompressibleLayer(t, 150<<10), "-t", env.Host+"/leak/other:v1"); err != nil {
		t.Fatalf("push once the reservation was released: %v\n%s", err, out)
	}
}

// uploadBlob uploads blob into repo in one PUT, as admin, the way a client starts a push.
func uploadBlob(t *testing.T, env *servertest.Env, repo string, blob []byte) {
	t.Helper()
	do := func(method, url string, body io.Reader) *http.Response {
		req, _ := http.NewRequest(method, url, body)
		req.SetBasicAuth("admin", servertest.AdminPassword)
		req.Header.Set("Content-Type", "application/octet-stream")
		res, err := servertest.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := do(http.MethodPost, env.URL+"/v2/"+repo+"/blobs/uploads/", nil)
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("start upload: %d", res.StatusCode)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = env.URL + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	res = do(http.MethodPut, loc+sep+"digest="+digest.FromBytes(blob).String(), strings.NewReader(string(blob)))
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", res.StatusCode, body)
	}
}
