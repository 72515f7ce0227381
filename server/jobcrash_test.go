package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// helperLease is the run lease of helper workers: short, so a killed one is noticed quickly.
const helperLease = 2 * time.Second

// helperWorker is a `berth worker` process (this test binary, re-executed) on env's database.
type helperWorker struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *bytes.Buffer
	mu     *sync.Mutex
}

// startHelperWorker starts a worker process; blockAfter blob deletes go through before every
// further one blocks (negative: never); modify may change the rest of its spec. It waits until the
// worker is running.
func startHelperWorker(t *testing.T, env *servertest.Env, blockAfter int64, modify ...func(*helperSpec)) *helperWorker {
	t.Helper()
	hs := helperSpec{DatabaseURL: env.DatabaseURL, DataDir: env.DataDir, JobLease: helperLease, BlockAfter: blockAfter}
	for _, m := range modify {
		m(&hs)
	}
	spec, _ := json.Marshal(hs)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(spec))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &helperWorker{cmd: cmd, lines: make(chan string, 16), stderr: new(bytes.Buffer), mu: new(sync.Mutex)}
	cmd.Stderr = lockedWriter{h.stderr, h.mu}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			h.mu.Lock()
			t.Logf("helper worker %d stderr:\n%s", cmd.Process.Pid, h.stderr)
			h.mu.Unlock()
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	h.expect(t, "READY", time.Minute)
	return h
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// expect waits for the worker to print line.
func (h *helperWorker) expect(t *testing.T, line string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				t.Fatalf("helper worker exited before printing %q", line)
			}
			if l == line {
				return
			}
		case <-deadline:
			t.Fatalf("helper worker did not print %q within %s", line, within)
		}
	}
}

// kill ends the worker with SIGKILL, as a crash or an OOM kill would: nothing of it runs after.
func (h *helperWorker) kill(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Wait()
}

// waitUntil polls cond every 200 ms until it holds, failing the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// scopedToken is a registry token for scope from env's token service, as user.
func scopedToken(t *testing.T, env *servertest.Env, user, password, scope string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/service/token?service=berth&scope="+scope, nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("token for %s: %v (status %d)", scope, err, resp.StatusCode)
	}
	return out.Token
}

// countRows runs a count query on env's database.
func countRows(t *testing.T, env *servertest.Env, query string, args ...any) int {
	t.Helper()
	rows, err := env.DB.QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// TestGCKilledMidSweepRecovers kills (SIGKILL) the worker process running a GC while it holds
// claims on blobs, some already deleted from storage, and checks that everything recovers: the
// run is ended (by the reconciler at the next worker's start, or by stopGC), every claimed blob
// is usable again (HEAD 200 while its data is stored; an upload of one whose data went works at
// once), and the next startGC runs and collects exactly the rest.
func TestGCKilledMidSweepRecovers(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"restart", "stopGC"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			testGCKilledMidSweep(t, how == "stopGC")
		})
	}
}

func testGCKilledMidSweep(t *testing.T, stopIt bool) {
	const pw = servertest.AdminPassword
	env := servertest.Start(t, func(c *server.Config) {
		c.RunJobs = false // jobs run in helper worker processes only
		c.GCWindow = time.Hour
	})
	seed := newSeedRepo(t, env)
	// 150 unreferenced blobs, two hours old: the sweep's batches are 50, the worker's deletes
	// block after 60, so it dies with the first batch gone, the second claimed and 10 of those
	// already deleted from storage, and the third untouched.
	content := seed.unreferenced(t, 150)
	repo, call, upload := seed.repo, seed.call, seed.upload
	first := startHelperWorker(t, env, 60)
	var started struct{ StartGC gcRunResult }
	env.MustGraphQL("admin", pw, `mutation { startGC(input: {workers: 1}) { id } }`, nil, &started)
	first.expect(t, "BLOCKED", time.Minute)
	claimed := map[string]bool{}
	rows, err := env.DB.QueryContext(context.Background(), `SELECT digest FROM blobs WHERE status = 'deleting'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		_ = rows.Scan(&d)
		claimed[d] = true
	}
	rows.Close()
	if len(claimed) != 50 {
		t.Fatalf("%d blobs claimed when the worker blocked; want the second batch of 50", len(claimed))
	}
	first.kill(t)

	run := func() (r gcRunResult) {
		rows, err := env.DB.QueryContext(context.Background(), `SELECT status, log FROM gc_runs WHERE id = $1`, started.StartGC.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		if rows.Next() {
			_ = rows.Scan(&r.Status, &r.Log)
		}
		return r
	}
	if stopIt {
		// No worker runs: stopGC itself ends the run once the dead worker's lease has expired.
		waitUntil(t, time.Minute, "stopGC ends the dead worker's run", func() bool {
			env.MustGraphQL("admin", pw, `mutation($id: ID!) { stopGC(id: $id) { id } }`, map[string]any{"id": started.StartGC.ID}, nil)
			return run().Status == "STOPPED"
		})
	} else {
		startHelperWorker(t, env, -1)
		waitUntil(t, time.Minute, "the reconciler ends the dead worker's run", func() bool { return run().Status != "RUNNING" })
		if r := run(); r.Status != "ERROR" || !strings.Contains(r.Log, "ended by the reconciler") || !strings.Contains(r.Log, "stopped") {
			t.Fatalf("run after the reconciler = %s\n%s", r.Status, r.Log)
		}
	}

	// Every claimed blob is usable: served if its data is still stored, uploaded again at once
	// if it went (the guard voids the dead worker's claims, whether or not a reconciler ran).
	gone := 0
	for d := range claimed {
		head := call(http.MethodHead, repo+"blobs/"+d, nil)
		if _, err := os.Stat(filepath.Join(env.DataDir, "registry", "docker", "registry", "v2", "blobs", "sha256", d[7:9], d[7:], "data")); err == nil {
			if head.status != http.StatusOK {
				t.Fatalf("HEAD of stored claimed blob %s = %d; want 200", d, head.status)
			}
			continue
		}
		gone++
		if head.status != http.StatusNotFound {
			t.Fatalf("HEAD of deleted claimed blob %s = %d; want 404", d, head.status)
		}
		began := time.Now()
		if a := upload(content[d]); a.status != http.StatusCreated {
			t.Fatalf("re-upload of claimed blob %s: %d %s", d, a.status, a.body)
		}
		if took := time.Since(began); took > 30*time.Second {
			t.Fatalf("re-upload of claimed blob %s waited %s for a dead collector", d, took)
		}
		if get := call(http.MethodGet, repo+"blobs/"+d, nil); get.status != http.StatusOK || !bytes.Equal(get.body, content[d]) {
			t.Fatalf("GET of re-uploaded blob %s = %d", d, get.status)
		}
	}
	if gone != 10 {
		t.Fatalf("%d claimed blobs were deleted from storage before the kill; want 10", gone)
	}

	// The next GC runs (no CONFLICT) and collects exactly the untouched third batch: the claimed
	// blobs were just used, so the window keeps them.
	if stopIt {
		startHelperWorker(t, env, -1)
	}
	var next struct{ StartGC gcRunResult }
	if r := env.GraphQL("admin", pw, `mutation { startGC(input: {workers: 2}) { id } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("startGC after the crash: %+v", r.Errors)
	} else if err := json.Unmarshal(r.Data, &next); err != nil {
		t.Fatal(err)
	}
	g := &gcBundle{env: env}
	if r := g.wait(t, next.StartGC.ID); r.Status != "SUCCESS" || r.BlobsDeleted != 50 || r.Failures != 0 {
		t.Fatalf("gc after the crash = %+v; want SUCCESS deleting the 50 blobs never claimed", r)
	}
	for d := range claimed {
		if head := call(http.MethodHead, repo+"blobs/"+d, nil); head.status != http.StatusOK {
			t.Fatalf("HEAD of once-claimed blob %s after the next gc = %d", d, head.status)
		}
	}
	if left := countRows(t, env, `SELECT count(*) FROM blobs WHERE status = 'deleting'`); left != 0 {
		t.Fatalf("%d blobs still deleting", left)
	}
}

// seedRepo is library/seed on a test server, reached with a bearer token (Basic auth would hash
// the password on each of the hundreds of requests).
type seedRepo struct {
	env   *servertest.Env
	repo  string // the repository's /v2 URL, with a trailing slash
	token string
}

func newSeedRepo(t *testing.T, env *servertest.Env) *seedRepo {
	return &seedRepo{env: env, repo: env.URL + "/v2/library/seed/",
		token: scopedToken(t, env, "admin", servertest.AdminPassword, "repository:library/seed:pull,push")}
}

func (s *seedRepo) call(method, url string, body []byte) answer {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return answer{status: -1, body: []byte(err.Error())}
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{status: -1, body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

// upload pushes b monolithically: POST for an upload, PUT with the digest.
func (s *seedRepo) upload(b []byte) answer {
	a := s.call(http.MethodPost, s.repo+"blobs/uploads/", nil)
	if a.status != http.StatusAccepted {
		return a
	}
	return s.call(http.MethodPut, s.env.URL+a.header.Get("Location")+"&digest="+digestOf(b), b)
}

// unreferenced uploads n blobs no manifest references and makes every blob two hours old, past
// the GC window; it returns their content by digest.
func (s *seedRepo) unreferenced(t *testing.T, n int) map[string][]byte {
	t.Helper()
	content := map[string][]byte{}
	for i := range n {
		b := []byte(fmt.Sprintf("blob %d of %s", i, t.Name()))
		if a := s.upload(b); a.status != http.StatusCreated {
			t.Fatalf("upload blob %d: %d %s", i, a.status, a.body)
		}
		content[digestOf(b)] = b
	}
	if _, err := s.env.DB.ExecContext(context.Background(), `UPDATE blobs SET updated_at = now() - interval '2 hours'`); err != nil {
		t.Fatal(err)
	}
	return content
}

// TestShutdownCancelsRunningGC stops (SIGTERM) a worker process in the middle of a slow GC: after
// the job stop timeout the GC is cancelled, finishes the batch in hand, records STOPPED with the
// reason, leaves no blob claimed, and the process exits; the next GC runs.
func TestShutdownCancelsRunningGC(t *testing.T) {
	t.Parallel()
	const pw = servertest.AdminPassword
	env := servertest.Start(t, func(c *server.Config) {
		c.RunJobs = false
		c.GCWindow = time.Hour
	})
	newSeedRepo(t, env).unreferenced(t, 150)
	w := startHelperWorker(t, env, -1, func(s *helperSpec) {
		s.DeleteDelay = 40 * time.Millisecond // 2 s a batch of 50, 6 s the whole sweep
		s.StopTimeout = 300 * time.Millisecond
	})
	var started struct{ StartGC gcRunResult }
	env.MustGraphQL("admin", pw, `mutation { startGC(input: {workers: 1}) { id } }`, nil, &started)
	waitUntil(t, time.Minute, "the sweep claims blobs", func() bool {
		return countRows(t, env, `SELECT count(*) FROM blobs WHERE status = 'deleting'`) > 0
	})
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- w.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("worker exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not exit within 30 s of SIGTERM")
	}
	var status, log string
	if err := queryRow(env, `SELECT status, log FROM gc_runs WHERE id = $1`, []any{started.StartGC.ID}, &status, &log); err != nil {
		t.Fatal(err)
	}
	if status != "STOPPED" || !strings.Contains(log, "shut down") {
		t.Fatalf("gc after the shutdown: %s\n%s", status, log)
	}
	if n := countRows(t, env, `SELECT count(*) FROM blobs WHERE status = 'deleting'`); n != 0 {
		t.Fatalf("%d blobs left deleting", n)
	}
	var state, errs string
	if err := queryRow(env, `SELECT j.state::text, j.errors::text || j.metadata::text FROM river_job j JOIN gc_runs r ON r.job_id = j.id WHERE r.id = $1`,
		[]any{started.StartGC.ID}, &state, &errs); err != nil || state != "cancelled" {
		t.Fatalf("the gc's job after the shutdown: %q %s (%v); want cancelled", state, errs, err)
	}
	startHelperWorker(t, env, -1)
	var next struct{ StartGC gcRunResult }
	env.MustGraphQL("admin", pw, `mutation { startGC(input: {workers: 2}) { id } }`, nil, &next)
	if r := (&gcBundle{env: env}).wait(t, next.StartGC.ID); r.Status != "SUCCESS" || r.BlobsDeleted == 0 {
		t.Fatalf("gc after the shutdown = %+v", r)
	}
}
