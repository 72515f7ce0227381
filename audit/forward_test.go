package audit_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/event"
)

// receiver is a syslog receiver (TCP, octet counting) that keeps the audit ids it is sent.
type receiver struct {
	addr string
	mu   sync.Mutex
	ids  []int64
	bad  []string
}

var auditID = regexp.MustCompile(`^<13[34]>1 \S+ \S+ berth - audit \[audit@32473 id="(\d+)" `)

func newReceiver(t *testing.T) *receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{addr: ln.Addr().String()}
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go r.read(c)
		}
	}()
	return r
}

func (r *receiver) read(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		lenText, err := br.ReadString(' ')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenText))
		if err != nil {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		r.mu.Lock()
		if m := auditID.FindSubmatch(buf); m != nil {
			id, _ := strconv.ParseInt(string(m[1]), 10, 64)
			r.ids = append(r.ids, id)
		} else {
			r.bad = append(r.bad, string(buf))
		}
		r.mu.Unlock()
	}
}

func (r *receiver) received() ([]int64, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.ids...), append([]string(nil), r.bad...)
}

// forwardingTo turns forwarding on and starts a forwarder until the test ends.
func (b bundle) forwardingTo(t *testing.T, r *receiver) {
	t.Helper()
	if err := b.settings.Save(context.Background(), audit.Config{ForwardEndpoint: r.addr, ForwardProtocol: "tcp", LogPulls: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := audit.NewForwarder(b.pool, b.settings, b.log)
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// consume records one project-creation event through the consumer in its own transaction, and
// returns the transaction, open.
func (b bundle) consumeOpen(t *testing.T, name string) func() {
	t.Helper()
	ctx := context.Background()
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = audit.NewConsumer().Consume(ctx, tx, []event.Event{{Type: event.ProjectCreated, ProjectName: name, Operator: "admin", OccurredAt: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := tx.Commit(ctx); err != nil {
			t.Error(err)
		}
	}
}

// checkForwarded waits until the receiver has every audit row, then checks that the ids came in
// the order of the rows (which commit in id order), each once.
func (b bundle) checkForwarded(t *testing.T, r *receiver) {
	t.Helper()
	var want []int64
	rows, err := b.pool.Query(context.Background(), "SELECT id FROM audit_logs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		want = append(want, id)
	}
	rows.Close()
	deadline := time.Now().Add(30 * time.Second)
	var got []int64
	for {
		var bad []string
		got, bad = r.received()
		if len(bad) > 0 {
			t.Fatalf("not the RFC 5424 audit message expected: %q", bad[0])
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("id %d forwarded after %d: not in commit order (or twice)\nreceived %v", got[i], got[i-1], got)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received ids %v\nwant every row, once: %v", got, want)
	}
}

// A transaction that took its audit ids early and commits late (the event dispatcher's) must not
// have its rows forwarded after rows that two writers (two replicas) committed meanwhile.
func TestForwardingFollowsCommitOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t)
	b.forwardingTo(t, recv)
	w1 := b.newWriter(t, b.pool, t.TempDir())
	w2 := b.newWriter(t, b.pool, t.TempDir())

	commit := b.consumeOpen(t, "early")
	for i := range 10 {
		_ = w1.Record(context.Background(), entry(i))
		_ = w2.Record(context.Background(), entry(100+i))
	}
	// Either the writers' rows commit while the early transaction is open (and the forwarder
	// sends them), or the writers wait for it: either way, then commit it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ids, _ := recv.received()
		var waiting int
		err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) > 0 || waiting >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writers neither committed nor waited")
		}
		time.Sleep(20 * time.Millisecond)
	}
	commit()
	waitRows(t, b.pool, 21, 30*time.Second)
	b.checkForwarded(t, recv)
}

// Twenty concurrent producers (two writers and consumer transactions of varying length, as
// several replicas make them) while forwarding: the receiver sees every id once, in order.
func TestForwardingUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t)
	b.forwardingTo(t, recv)
	writers := []*audit.Writer{b.newWriter(t, b.pool, t.TempDir()), b.newWriter(t, b.pool, t.TempDir())}
	const producers, each = 20, 15
	var wg sync.WaitGroup
	for g := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if (g+i)%3 == 0 {
					commit := b.consumeOpen(t, fmt.Sprintf("p%d-%d", g, i))
					time.Sleep(time.Duration(i%4) * 5 * time.Millisecond) // a dispatch doing other work before it commits
					commit()
					continue
				}
				_ = writers[g%2].Record(context.Background(), entry(g*1000+i))
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	waitRows(t, b.pool, producers*each, 30*time.Second)
	b.checkForwarded(t, recv)
}
