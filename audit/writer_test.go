package audit_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/migrations"
	"github.com/berth-registry/berth/server/servertest"
)

type bundle struct {
	url      string // the test database
	pool     *pgxpool.Pool
	settings *audit.Settings
	log      *slog.Logger
}

func setup(t *testing.T) bundle {
	t.Helper()
	ctx := context.Background()
	dbURL := servertest.NewDatabase(t)
	// Room for a forwarder, two writers, a transaction held open and the test's own queries.
	pool, err := pgxpool.New(ctx, dbURL+"&pool_max_conns=8")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := migrations.Apply(ctx, pool, log); err != nil {
		t.Fatal(err)
	}
	settings, err := audit.LoadSettings(ctx, pool, log)
	if err != nil {
		t.Fatal(err)
	}
	return bundle{url: dbURL, pool: pool, settings: settings, log: log}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newWriter starts a writer on pool with a spool in dir, closed (with a generous deadline) when
// the test ends if the test has not closed it.
func (b bundle) newWriter(t *testing.T, pool *pgxpool.Pool, dir string) *audit.Writer {
	t.Helper()
	w, err := audit.NewWriter(pool, b.settings, b.log, audit.WriterOptions{SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	return w
}

func entry(i int) audit.Entry {
	return audit.Entry{User: "u", Operation: audit.OpPull, ResourceType: "artifact", Resource: fmt.Sprintf("library/x:%d", i)}
}

// resources returns the resources of the audit rows in id order.
func resources(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT resource FROM audit_logs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// checkInOrder fails unless the rows are exactly entries 0..n-1, in that order.
func checkInOrder(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d entries written, want %d", len(got), n)
	}
	for i, r := range got {
		if want := entry(i).Resource; r != want {
			t.Fatalf("entry %d is %q, want %q", i, r, want)
		}
	}
}

// waitRows waits until the table holds n rows.
func waitRows(t *testing.T, pool *pgxpool.Pool, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var got int
		err := pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_logs").Scan(&got)
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d audit rows after %v, want %d (last error %v)", got, within, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Everything recorded is written by Close, in the order it was recorded, even past what the
// in-memory queue holds (the rest goes through the spool).
func TestWriterFlushesInOrderOnClose(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.newWriter(t, b.pool, t.TempDir())
	const n = 25000 // more than the queue holds: Record must not wait, and nothing is dropped
	for i := range n {
		if err := w.Record(context.Background(), entry(i)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkInOrder(t, resources(t, b.pool), n)
	if err := w.Record(context.Background(), audit.Entry{}); err == nil {
		t.Fatal("a closed writer accepted an entry")
	}
}

// proxy stands between a pool and PostgreSQL, so that a test can take the database away (refuse
// connections, or accept them and never answer) and give it back.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	stall bool // accept, but never forward
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			stall := p.stall
			p.mu.Unlock()
			if stall {
				continue // held open, never answered
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut closes every connection and refuses new ones.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// hang closes every connection and accepts new ones that never answer: a database that stopped
// responding (or a network that drops packets).
func (p *proxy) hang() {
	p.cut()
	p.mu.Lock()
	p.stall = true
	p.mu.Unlock()
	p.listen()
}

// restore forwards again.
func (p *proxy) restore() {
	p.cut()
	p.mu.Lock()
	p.stall = false
	p.mu.Unlock()
	p.listen()
}

func (p *proxy) listen() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// poolThrough returns a pool on the test database that connects through the proxy.
func (b bundle) poolThrough(t *testing.T, p *proxy) *pgxpool.Pool {
	t.Helper()
	u, err := url.Parse(b.url)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	q.Set("pool_max_conns", "4")
	u.RawQuery = q.Encode()
	pool, err := pgxpool.New(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func dbHost(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// With the database gone, Record returns at once; the entries wait in the spool and reach
// PostgreSQL, in order, when it is back.
func TestWriterNeverBlocksWithoutDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := newProxy(t, dbHost(t, b.url))
	w := b.newWriter(t, b.poolThrough(t, p), t.TempDir())
	for _, outage := range []struct {
		name  string
		start func()
	}{{"refused", p.cut}, {"not answering", p.hang}} {
		_, _ = b.pool.Exec(context.Background(), "TRUNCATE audit_logs")
		outage.start()
		const n = 1000
		start := time.Now()
		for i := range n {
			if err := w.Record(context.Background(), entry(i)); err != nil {
				t.Fatalf("%s: record %d: %v", outage.name, i, err)
			}
		}
		took := time.Since(start)
		t.Logf("%s: %d Records in %v", outage.name, n, took)
		// The bound, generous for a busy machine: the old writer waited for the database.
		if took > time.Second {
			t.Fatalf("%s: %d Records took %v with the database away; want under 1s", outage.name, n, took)
		}
		p.restore()
		waitRows(t, b.pool, n, 60*time.Second)
		checkInOrder(t, resources(t, b.pool), n)
	}
}

// Close keeps to its deadline with the database not answering, and what it could not write is
// in the spool, which the next writer on it (the next start) writes to PostgreSQL.
func TestWriterCloseIsBoundedAndSpoolIsReplayed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := newProxy(t, dbHost(t, b.url))
	dir := t.TempDir()
	w, err := audit.NewWriter(b.poolThrough(t, p), b.settings, b.log, audit.WriterOptions{SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	p.hang()
	const n = 300
	for i := range n {
		if err := w.Record(context.Background(), entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	closeErr := w.Close(ctx)
	took := time.Since(start)
	t.Logf("Close with the database not answering, 2s deadline: returned after %v", took)
	// Close ends by its deadline; the slack is for a busy machine's scheduling.
	if took > 3*time.Second {
		t.Fatalf("Close took %v with a 2s deadline", took)
	}
	if closeErr != nil {
		t.Fatalf("Close did not finish spooling within its deadline: %v", closeErr)
	}
	if _, err := audit.NewWriter(b.pool, b.settings, b.log, audit.WriterOptions{SpoolDir: dir}); err != nil {
		t.Fatalf("a new writer on the spool: %v", err)
	}
	waitRows(t, b.pool, n, 30*time.Second)
	checkInOrder(t, resources(t, b.pool), n)
}

// A Record racing Close never panics (run with -race), and every entry Record accepted is
// written: none is lost silently.
func TestWriterRecordRacesClose(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.newWriter(t, b.pool, t.TempDir())
	var (
		accepted atomic.Int64
		refused  atomic.Int64
		wg       sync.WaitGroup
	)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				err := w.Record(context.Background(), audit.Entry{User: "u", Operation: audit.OpPull, ResourceType: "artifact",
					Resource: fmt.Sprintf("r%d-%d", g, i)})
				if err != nil {
					refused.Add(1)
					return
				}
				accepted.Add(1)
			}
		}()
	}
	for accepted.Load() < 2000 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	var rows int64
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM audit_logs").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != accepted.Load() {
		t.Fatalf("%d rows written; Record accepted %d (and refused %d after Close)", rows, accepted.Load(), refused.Load())
	}
}

// crashChildEnv names the spool the child process of TestWriterSpoolSurvivesACrash writes.
const crashChildEnv = "BERTH_AUDIT_CRASH_SPOOL"

// The child: a writer whose database is unreachable records entries, says when they are all in
// the spool, and waits to be killed.
func TestWriterCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("run by TestWriterSpoolSurvivesACrash")
	}
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	w, err := audit.NewWriter(pool, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), audit.WriterOptions{SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range crashEntries {
		if err := w.Record(context.Background(), entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	for spooledLines(t, dir) < crashEntries {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("SPOOLED")
	select {} // killed here
}

const crashEntries = 500

func spooledLines(t *testing.T, dir string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.spool"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(b), "\n")
	}
	return n
}

// A process killed (SIGKILL) while the database was away leaves its entries in the spool; the
// next start writes them, in order.
func TestWriterSpoolSurvivesACrash(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestWriterCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testLog{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	spooled := false
	for sc.Scan() {
		if sc.Text() == "SPOOLED" {
			spooled = true
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !spooled {
		t.Fatal("the child never reported its entries spooled")
	}
	// The crashed process's lock on the spool died with it.
	b.newWriter(t, b.pool, dir)
	waitRows(t, b.pool, crashEntries, 30*time.Second)
	checkInOrder(t, resources(t, b.pool), crashEntries)
	if left, _ := filepath.Glob(filepath.Join(dir, "*", "*.spool")); len(left) != 0 {
		deadline := time.Now().Add(10 * time.Second)
		for len(left) != 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			left, _ = filepath.Glob(filepath.Join(dir, "*", "*.spool"))
		}
		if len(left) != 0 {
			t.Fatalf("segments left after the spool was written: %v", left)
		}
	}
}

// Processes sharing a spool directory (replicas sharing a data directory) each take a slot of their
// own, and a slot left with entries by a process that is gone is adopted and written.
func TestWriterSpoolSlots(t *testing.T) {
	t.Parallel()
	b := setup(t)
	base := t.TempDir()
	// A leftover from a dead process in slot 1, and a live writer in slot 0.
	if err := os.MkdirAll(filepath.Join(base, "1"), 0o700); err != nil {
		t.Fatal(err)
	}
	line := `{"t":"2026-12-01T00:00:00Z","u":"u","o":"pull","rt":"artifact","r":"library/x:0"}` + "\n"
	if err := os.WriteFile(filepath.Join(base, "1", "00000000000000000001.spool"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	first, err := audit.NewWriter(b.pool, b.settings, b.log, audit.WriterOptions{SpoolDir: base})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close(context.Background())
	second := b.newWriter(t, b.pool, base)
	waitRows(t, b.pool, 1, 30*time.Second)
	if err := second.Record(context.Background(), entry(1)); err != nil {
		t.Fatal(err)
	}
	waitRows(t, b.pool, 2, 30*time.Second)
	checkInOrder(t, resources(t, b.pool), 2)
}

// A user name PostgreSQL would refuse (a NUL, invalid UTF-8) or that is absurdly long, as a failed
// login can bring, is cleaned and cut: it never fails its batch, and the entries after it are written.
func TestWriterStoresHostileStrings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.newWriter(t, b.pool, t.TempDir())
	for _, user := range []string{"a\x00b", "\xff\xfeadmin", strings.Repeat("é", 100000)} {
		if err := w.Record(context.Background(), audit.Entry{User: user, Operation: audit.OpLogin, ResourceType: "session", Failed: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Record(context.Background(), entry(0)); err != nil {
		t.Fatal(err)
	}
	waitRows(t, b.pool, 4, 30*time.Second)
	var users []string
	rows, err := b.pool.Query(context.Background(), "SELECT username FROM audit_logs ORDER BY id LIMIT 3")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		_ = rows.Scan(&u)
		users = append(users, u)
	}
	if len(users) != 3 || users[0] != "ab" || users[1] != "\uFFFDadmin" || len(users[2]) > 258 {
		t.Fatalf("stored user names %q", users)
	}
}
