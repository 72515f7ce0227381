package server_test

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

	"github.com/berth-registry/berth/server/servertest"
)

// syslogReceiver accepts RFC 5424 messages over TCP with octet-counting framing on a fixed
// loopback port, and can be stopped and started again on the same port.
type syslogReceiver struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	ln   net.Listener
	conn []net.Conn
	msgs []string
}

func newSyslogReceiver(t *testing.T) *syslogReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &syslogReceiver{t: t, addr: ln.Addr().String()}
	r.serve(ln)
	t.Cleanup(r.stop)
	return r
}

func (r *syslogReceiver) serve(ln net.Listener) {
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conn = append(r.conn, c)
			r.mu.Unlock()
			go r.read(c)
		}
	}()
}

// read takes octet-counted frames: "<length> <message>".
func (r *syslogReceiver) read(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		lenText, err := br.ReadString(' ')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenText))
		if err != nil {
			r.t.Errorf("bad frame length %q", lenText)
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, string(buf))
		r.mu.Unlock()
	}
}

func (r *syslogReceiver) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for _, c := range r.conn {
		c.Close()
	}
	r.conn = nil
}

func (r *syslogReceiver) restart() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("listen again on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

func (r *syslogReceiver) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// rfc5424 matches the header and structured data Berth sends.
var rfc5424 = regexp.MustCompile(`^<13[34]>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ berth - audit \[audit@32473 id="(\d+)" (.*)\] (.*)$`)

// forwardedIDs returns the audit ids in the messages, dropping repeats (a resend after a reconnect
// repeats the tail of what went before), checking every message's format on the way.
func forwardedIDs(t *testing.T, msgs []string) []int {
	t.Helper()
	var ids []int
	for _, m := range msgs {
		sm := rfc5424.FindStringSubmatch(m)
		if sm == nil {
			t.Fatalf("not the RFC 5424 message expected: %q", m)
		}
		id, _ := strconv.Atoi(sm[1])
		if len(ids) > 0 && id <= ids[len(ids)-1] {
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

func TestAuditForwardingSurvivesAnOutage(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	recv := newSyslogReceiver(t)

	// An unreachable endpoint is refused when saved; skipDatabase needs an endpoint.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	r := env.GraphQL("admin", servertest.AdminPassword, fmt.Sprintf(`mutation { updateAuditSettings(input: {forwardEndpoint: %q, forwardProtocol: TCP}) { forwardEndpoint } }`, deadAddr), nil)
	if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, deadAddr) {
		t.Fatalf("unreachable endpoint: %+v", r.Errors)
	}
	if r := env.GraphQL("admin", servertest.AdminPassword, `mutation { updateAuditSettings(input: {skipDatabase: true}) { skipDatabase } }`, nil); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("skipDatabase without an endpoint: %+v", r.Errors)
	}
	env.MustGraphQL("admin", servertest.AdminPassword, fmt.Sprintf(`mutation { updateAuditSettings(input: {forwardEndpoint: %q, forwardProtocol: TCP}) { forwardEndpoint } }`, recv.addr), nil, nil)

	makeEntries := func(from, to int) {
		for i := from; i < to; i++ {
			env.CreateProject(fmt.Sprintf("fwd-%03d", i), false)
		}
	}
	waitIDs := func(n int) []int {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ids := forwardedIDs(t, recv.messages())
			if len(ids) >= n || time.Now().After(deadline) {
				return ids
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	makeEntries(0, 10)
	waitIDs(11) // ten projects and the settings change

	recv.stop()
	makeEntries(10, 30)
	// The admin sees the outage: unhealthy, entries waiting, the error.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out struct {
			AuditSettings struct {
				Forwarder struct {
					Healthy   bool
					Behind    int
					LastError string
				}
			}
		}
		env.MustGraphQL("admin", servertest.AdminPassword, `{ auditSettings { forwarder { healthy behind lastError } } }`, nil, &out)
		f := out.AuditSettings.Forwarder
		if !f.Healthy && f.Behind >= 20 && f.LastError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("forwarder state during the outage: %+v", f)
		}
		time.Sleep(200 * time.Millisecond)
	}

	recv.restart()
	ids := waitIDs(31)
	// Every entry arrived, exactly in id order, none skipped.
	rows, err := env.DB.QueryContext(context.Background(), "SELECT id FROM audit_logs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for rows.Next() {
		var id int
		_ = rows.Scan(&id)
		want = append(want, id)
	}
	rows.Close()
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("forwarded ids %v\nwant %v", ids, want)
	}
	var out struct {
		AuditSettings struct {
			Forwarder struct {
				Healthy bool
				Behind  int
			}
		}
	}
	// The receiver has every entry; the forwarder marks them sent just after: wait for it.
	waitFor(t, "a healthy forwarder with nothing behind after recovery", func() bool {
		env.MustGraphQL("admin", servertest.AdminPassword, `{ auditSettings { forwarder { healthy behind } } }`, nil, &out)
		return out.AuditSettings.Forwarder.Healthy && out.AuditSettings.Forwarder.Behind == 0
	})
	var sawProject bool
	for _, m := range recv.messages() {
		if strings.Contains(m, `user="admin" operation="create" resource_type="project" resource="fwd-000" project="fwd-000"`) &&
			strings.Contains(m, `source_ip="127.0.0.1" result="success"`) {
			sawProject = true
		}
	}
	if !sawProject {
		t.Fatalf("no message carries the structured data of creating project fwd-000: %q", recv.messages()[0])
	}
}
