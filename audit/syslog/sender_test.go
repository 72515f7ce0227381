package syslog_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/berth-registry/berth/audit/syslog"
)

type bundle struct {
	recv   *receiver
	ep     syslog.Endpoint
	sender *syslog.Sender
}

// setup starts a receiver for proto and a sender to it (trusting the receiver's certificate for
// tls), both stopped when the test ends.
func setup(t *testing.T, proto string, opts ...func(*receiver)) bundle {
	t.Helper()
	recv := newReceiver(t, proto, opts...)
	ep, err := syslog.ParseEndpoint(recv.addr, proto)
	if err != nil {
		t.Fatal(err)
	}
	if proto == "tls" {
		ep.TLS = recv.clientTLS()
	}
	s := syslog.NewSender(ep, "registry-1")
	t.Cleanup(func() { s.Close() })
	return bundle{recv: recv, ep: ep, sender: s}
}

func noRead(r *receiver) { r.noRead = true }

// records returns records from..to (ids), varied enough that a mix-up would show.
func records(from, to int) []syslog.Record {
	var out []syslog.Record
	base := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	for id := from; id <= to; id++ {
		r := syslog.Record{
			ID: int64(id), Time: base.Add(time.Duration(id) * time.Millisecond), User: "admin", Project: "library",
			Operation: "create", ResourceType: "artifact", Resource: fmt.Sprintf("library/nginx:%d", id),
			SourceIP: "10.0.0.1", Result: "success",
		}
		if id%3 == 0 {
			r.User, r.Operation, r.Resource = `robot$ci "deploy"`, "pull", fmt.Sprintf("library/app@sha256:%064d", id)
		}
		if id%7 == 0 {
			r.Result, r.Project = "failure", ""
		}
		out = append(out, r)
	}
	return out
}

// wantParams is the structured data a record must arrive with.
func wantParams(r syslog.Record) map[string]string {
	p := map[string]string{
		"id": strconv.FormatInt(r.ID, 10), "user": r.User, "operation": r.Operation, "resource_type": r.ResourceType,
		"resource": r.Resource, "time": r.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), "source_ip": r.SourceIP, "result": r.Result,
	}
	if r.Project != "" {
		p["project"] = r.Project
	}
	return p
}

func id(m message) int {
	v, _ := m.param("audit@32473", "id")
	n, _ := strconv.Atoi(v)
	return n
}

func TestSendOverEachProtocol(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"tcp", "udp", "tls"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			b := setup(t, proto)
			sent := records(1, 100)
			if n, err := b.sender.Send(context.Background(), sent); n != 100 || err != nil {
				t.Fatalf("Send = %d, %v; want 100, nil", n, err)
			}
			// Loopback does not lose datagrams that fit the socket's buffer, so UDP too must
			// deliver every one.
			got := b.recv.wait(100)
			if len(got) != 100 {
				t.Fatalf("received %d of 100", len(got))
			}
			for i, m := range got {
				want := wantParams(sent[i])
				p := m.auditParams(t)
				if fmt.Sprint(p) != fmt.Sprint(want) {
					t.Fatalf("message %d: parameters\n%v\nwant\n%v", i, p, want)
				}
				wantPri := 134
				if sent[i].Result == "failure" {
					wantPri = 133
				}
				if m.Pri != wantPri || m.Hostname != "registry-1" || m.AppName != "berth" || m.MsgID != "audit" || m.Conn != got[0].Conn {
					t.Fatalf("message %d: %+v", i, m)
				}
			}
		})
	}
}

// The receiver goes away between batches, comes back and crashes in the middle of one, and comes
// back for good. Resending from the first unsent record after each error delivers everything, in
// order; repeats appear only where a new connection starts.
func TestSendRecoversFromAnOutage(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"tcp", "tls"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			b := setup(t, proto)
			ctx := context.Background()
			const total = 5000
			all := records(1, total)

			if n, err := b.sender.Send(ctx, all[:20]); n != 20 || err != nil {
				t.Fatalf("first batch: %d, %v", n, err)
			}
			b.recv.wait(20)

			b.recv.stop()
			n, err := b.sender.Send(ctx, all[20:40])
			wantErr := "cannot reach syslog endpoint " + b.recv.addr + " over " + proto + ": connection refused"
			if n != 0 || err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("Send while the receiver is down = %d, %v; want 0 and %q", n, err, wantErr)
			}
			next := 20 + n

			// Back, but it crashes having read the record with id 500, leaving the rest unread.
			b.recv.dropAt = 500
			if err := b.recv.start(); err != nil {
				t.Fatal(err)
			}
			n, err = b.sender.Send(ctx, all[next:])
			if n >= total-next || err == nil {
				t.Fatalf("Send across a crash = %d, %v; want fewer than %d and an error", n, err, total-next)
			}
			t.Logf("the crash: %d of %d counted, %v", n, total-next, err)
			next += n
			b.recv.stop()
			b.recv.dropAt = 0

			if err := b.recv.start(); err != nil {
				t.Fatal(err)
			}
			for attempt := 0; next < total; attempt++ {
				if attempt == 50 {
					t.Fatalf("still %d records unsent", total-next)
				}
				n, err := b.sender.Send(ctx, all[next:min(next+500, total)])
				next += n
				if err != nil {
					t.Logf("resend: %v", err)
					time.Sleep(20 * time.Millisecond)
				}
			}
			got := waitFor(t, b.recv, func(ms []message) bool { return len(ms) > 0 && id(ms[len(ms)-1]) == total })
			assertInOrderAtLeastOnce(t, got, total)
		})
	}
}

// assertInOrderAtLeastOnce checks that ids 1..total all arrived in order: each connection carries
// consecutive ids, and a new connection starts at most one past where the previous one stopped
// (so it may repeat its tail, never skip).
func assertInOrderAtLeastOnce(t *testing.T, got []message, total int) {
	t.Helper()
	var unique []int
	repeats := 0
	for i, m := range got {
		cur := id(m)
		switch {
		case i == 0:
			if cur != 1 {
				t.Fatalf("the first id is %d", cur)
			}
		case m.Conn == got[i-1].Conn && cur != id(got[i-1])+1:
			t.Fatalf("message %d on connection %d: id %d after %d", i, m.Conn, cur, id(got[i-1]))
		case m.Conn != got[i-1].Conn && (cur < 1 || cur > id(got[i-1])+1):
			t.Fatalf("connection %d starts at id %d after %d: a gap", m.Conn, cur, id(got[i-1]))
		}
		if len(unique) > 0 && cur <= unique[len(unique)-1] {
			repeats++
			continue
		}
		unique = append(unique, cur)
	}
	if len(unique) != total || unique[0] != 1 || unique[len(unique)-1] != total {
		t.Fatalf("distinct ids: %d from %d to %d; want 1..%d", len(unique), unique[0], unique[len(unique)-1], total)
	}
	for i, v := range unique {
		if v != i+1 {
			t.Fatalf("after removing repeats, position %d holds id %d", i, v)
		}
	}
	t.Logf("%d messages over %d connections, %d of them repeats", len(got), got[len(got)-1].Conn, repeats)
}

func waitFor(t *testing.T, r *receiver, done func([]message) bool) []message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.messages()
		if done(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %d messages", len(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A receiver that closes idle connections (a restart, an idle timeout) costs no error: the next
// Send notices and connects again.
func TestSendReconnectsAfterAnIdleClose(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"tcp", "tls"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			b := setup(t, proto)
			if n, err := b.sender.Send(context.Background(), records(1, 10)); n != 10 || err != nil {
				t.Fatalf("Send = %d, %v", n, err)
			}
			b.recv.wait(10)
			b.recv.dropConnections()
			time.Sleep(50 * time.Millisecond) // for the FIN to arrive
			if n, err := b.sender.Send(context.Background(), records(11, 20)); n != 10 || err != nil {
				t.Fatalf("Send after the receiver closed the idle connection = %d, %v", n, err)
			}
			got := b.recv.wait(20)
			assertInOrderAtLeastOnce(t, got, 20)
			if got[10].Conn == got[9].Conn {
				t.Fatal("the second batch came on the closed connection")
			}
		})
	}
}

func TestSendStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, "tcp", noRead)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := b.sender.Send(ctx, records(1, 1)); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a cancelled context = %d, %v", n, err)
	}

	// A receiver that never reads fills every buffer between it and the sender; Send blocks until
	// the cancellation, well before the 5-second write deadline would end it.
	big := records(1, 2000)
	for i := range big {
		big[i].Resource = strings.Repeat("x", 4096)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	n, err := b.sender.Send(ctx, big)
	if elapsed := time.Since(start); n != 0 || !errors.Is(err, context.Canceled) || elapsed > 3*time.Second {
		t.Fatalf("Send cancelled after 200ms = %d, %v after %s", n, err, elapsed)
	}
}

// Over UDP a message longer than 2048 bytes loses the end of MSG, never any structured data;
// only a value too long for any datagram is cut.
func TestSendOverUDPKeepsStructuredDataWhole(t *testing.T) {
	t.Parallel()
	b := setup(t, "udp")
	sent := records(1, 4)
	sent[0].Resource = "library/" + strings.Repeat("é", 750) // 2-byte characters: the cut must not split one
	sent[1].Resource = strings.Repeat("x", 3000)             // structured data alone is over 2048
	sent[3].Resource = strings.Repeat(`"`, 70000)            // over 64 KiB, twice that escaped
	if n, err := b.sender.Send(context.Background(), sent); n != 4 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	got := b.recv.wait(4)
	if len(got) != 4 {
		t.Fatalf("received %d of 4", len(got))
	}
	if v, _ := got[3].param("audit@32473", "resource"); v != strings.Repeat(`"`, 4096) || got[3].HasMsg {
		t.Errorf("oversized value: %d bytes arrived, MSG present %v", len(v), got[3].HasMsg)
	}
	for i, m := range got[:3] {
		if p := m.auditParams(t); fmt.Sprint(p) != fmt.Sprint(wantParams(sent[i])) {
			t.Errorf("message %d: structured data %v", i, p)
		}
	}
	full, err := parse(syslog.Format(sent[0], "registry-1"))
	if err != nil {
		t.Fatal(err)
	}
	if m := got[0]; m.Size > 2048 || m.Size < 2040 || !utf8.ValidString(m.Msg) || !strings.HasPrefix(full.Msg, m.Msg) || len(m.Msg) >= len(full.Msg) {
		t.Errorf("long MSG: %d bytes on the wire, MSG %q", m.Size, m.Msg)
	}
	if m := got[1]; m.HasMsg {
		t.Errorf("MSG kept though the structured data fills the datagram: %d bytes", m.Size)
	}
	if m := got[2]; m.Size != len(syslog.Format(sent[2], "registry-1")) {
		t.Errorf("a short message was changed: %d bytes", m.Size)
	}
}

// Sends from several goroutines are serialised: each batch arrives whole and in order.
func TestSendIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	b := setup(t, "tcp")
	const workers, batches, size = 4, 10, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := range batches {
				from := w*1000 + k*size + 1
				if n, err := b.sender.Send(context.Background(), records(from, from+size-1)); n != size || err != nil {
					t.Errorf("worker %d: Send = %d, %v", w, n, err)
				}
			}
		})
	}
	wg.Wait()
	got := b.recv.wait(workers * batches * size)
	if len(got) != workers*batches*size {
		t.Fatalf("received %d", len(got))
	}
	last := map[int]int{}
	for i, m := range got {
		cur := id(m)
		w := cur / 1000
		if cur <= last[w] || (i%size != 0 && cur != id(got[i-1])+1) {
			t.Fatalf("message %d: id %d (previous of its worker %d)", i, cur, last[w])
		}
		last[w] = cur
	}
}
