package servertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a PostgreSQL cluster of the test's own (initdb and pg_ctl into a temporary
// directory, listening on a free loopback port), for tests that stop and start the database
// under a running Berth. The shared server is never touched.
type Postgres struct {
	Port int
	dir  string
	bin  string
	cred *syscall.Credential // the postgres account, when the test runs as root
	t    testing.TB
}

// StartPostgres creates and starts a private cluster that is removed when the test ends. It skips
// the test when PostgreSQL's server binaries are not installed (fails under BERTH_REQUIRE_TOOLS).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		if os.Getenv("BERTH_REQUIRE_TOOLS") != "" {
			t.Fatal("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
		}
		t.Skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
	}
	pg := &Postgres{bin: bin, t: t}
	// PostgreSQL refuses to run as root: run it as the postgres account then, in a directory
	// that account owns (a test's own TempDir is not reachable by it).
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and there is no postgres account to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "berth-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg.dir = dir
	t.Cleanup(func() {
		_ = pg.ctl("stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	if pg.cred != nil {
		if err := os.Chown(dir, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pg.Port = ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	if out, err := pg.run(filepath.Join(bin, "initdb"), "-D", pg.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = ''\nfsync = off\n"+
		"synchronous_commit = off\nfull_page_writes = off\nmax_connections = 40\nshared_buffers = 16MB\n", pg.Port)
	f, err := os.OpenFile(filepath.Join(pg.data(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	pg.Start()
	return pg
}

// URL is the connection URL of database name on the cluster.
func (pg *Postgres) URL(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: "127.0.0.1:" + strconv.Itoa(pg.Port), Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// Stop shuts the cluster down (fast mode: sessions are ended) and waits until it is down.
func (pg *Postgres) Stop() {
	pg.t.Helper()
	if err := pg.ctl("stop", "-m", "fast"); err != nil {
		pg.t.Fatalf("pg_ctl stop: %v", err)
	}
}

// Start starts the cluster and waits until it accepts connections.
func (pg *Postgres) Start() {
	pg.t.Helper()
	if err := pg.ctl("start", "-l", filepath.Join(pg.dir, "server.log")); err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.dir, "server.log"))
		pg.t.Fatalf("pg_ctl start: %v\n%s", err, log)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, pg.URL("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			pg.t.Fatalf("private PostgreSQL did not accept connections: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (pg *Postgres) data() string { return filepath.Join(pg.dir, "data") }

func (pg *Postgres) ctl(args ...string) error {
	args = append(args, "-D", pg.data(), "-w", "-t", "60")
	out, err := pg.run(filepath.Join(pg.bin, "pg_ctl"), args...)
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

func (pg *Postgres) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = pg.dir
	if pg.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl start leaves the server running with our stdout: do not wait on the pipe for it.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

// postgresBin is the newest installed PostgreSQL server's bin directory, or "".
func postgresBin() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	return ""
}
