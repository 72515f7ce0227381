package syslog_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/audit/syslog"
)

func record(id int64) syslog.Record {
	return syslog.Record{ID: id, Time: time.Date(2026, 11, 23, 1, 2, 3, 123456000, time.UTC), User: "admin",
		Project: "library", Operation: "create", ResourceType: "artifact", Resource: fmt.Sprintf("library/nginx:%d", id),
		SourceIP: "10.0.0.1", Result: "success"}
}

func TestFormatIsStrictRFC5424(t *testing.T) {
	t.Parallel()
	got := string(syslog.Format(record(7), "registry-1"))
	want := `<134>1 2026-11-23T01:02:03.123456Z registry-1 berth - audit [audit@32473 id="7" user="admin" operation="create" resource_type="artifact" resource="library/nginx:7" project="library" time="2026-11-23T01:02:03.123456Z" source_ip="10.0.0.1" result="success"] admin create artifact library/nginx:7`
	if got != want {
		t.Fatalf("Format =\n%s\nwant\n%s", got, want)
	}
	r := record(8)
	r.User, r.Resource, r.Result = `ünïcode "quoted"`, `a\b]c`, "failure"
	m, err := parse(string(syslog.Format(r, "host with spaces")))
	if err != nil {
		t.Fatalf("strict parse: %v", err)
	}
	if m.pri != 133 || m.hostname != "host-with-spaces" || m.params["user"] != r.User || m.params["resource"] != r.Resource || m.sdID != "audit@32473" {
		t.Fatalf("round trip: %+v", m)
	}
	for _, bad := range []string{
		`<134>2 2026-11-23T01:02:03Z h berth - audit [x a="b"] m`,  // version
		`<134>1 yesterday h berth - audit [x a="b"] m`,             // timestamp
		`<134>1 2026-11-23T01:02:03Z h berth - audit [x a="b]"] m`, // unescaped ]
		`<134>1 2026-11-23T01:02:03Z h berth - audit [x a=b] m`,    // unquoted value
		`134>1 2026-11-23T01:02:03Z h berth - audit [x a="b"] m`,   // no PRI
	} {
		if _, err := parse(bad); err == nil {
			t.Errorf("the test's parser accepted %q", bad)
		}
	}
}

func TestSendOverEveryProtocol(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"tcp", "udp", "tls"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			recv := newReceiver(t, proto)
			ep, err := syslog.ParseEndpoint(recv.addr, proto)
			if err != nil {
				t.Fatal(err)
			}
			if proto == "tls" {
				ep.TLS = trustOf(t, recv.tlsCfg)
			}
			if err := syslog.Check(context.Background(), ep, 2*time.Second); err != nil {
				t.Fatalf("check: %v", err)
			}
			s := syslog.NewSender(ep, "h")
			defer s.Close()
			var records []syslog.Record
			for i := range 100 {
				records = append(records, record(int64(i+1)))
			}
			if n, err := s.Send(context.Background(), records); n != 100 || err != nil {
				t.Fatalf("send: %d, %v", n, err)
			}
			got := recv.wait(t, 100)
			if proto == "udp" && len(got) > 0 && got[0].params["operation"] == "check" {
				got = got[1:] // Check's probe: UDP can only be checked by sending
			}
			// UDP may drop a datagram even on loopback (that is why TCP and TLS exist): it must
			// still deliver nearly all, in order; the stream protocols must deliver every one.
			if len(got) != 100 && (proto != "udp" || len(got) < 90) {
				t.Fatalf("received %d of 100 over %s", len(got), proto)
			}
			prev := 0
			for i, m := range got {
				var id int
				fmt.Sscan(m.params["id"], &id)
				if id <= prev || (proto != "udp" && id != i+1) || m.params["operation"] != "create" || m.app != "berth" || m.msgID != "audit" {
					t.Fatalf("message %d: %+v", i, m)
				}
				prev = id
			}
		})
	}
}

// After the receiver goes away and comes back, the sender resumes from the first unsent record:
// everything arrives, in order, repeats only at the reconnect.
func TestSendRecoversFromAnOutage(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, "tcp")
	ep, _ := syslog.ParseEndpoint(recv.addr, "tcp")
	s := syslog.NewSender(ep, "h")
	defer s.Close()
	var records []syslog.Record
	for i := range 60 {
		records = append(records, record(int64(i+1)))
	}
	if n, err := s.Send(context.Background(), records[:20]); n != 20 || err != nil {
		t.Fatalf("first batch: %d %v", n, err)
	}
	recv.wait(t, 20)
	recv.stop()
	// While the receiver is away, nothing counts as sent.
	if n, err := s.Send(context.Background(), records[20:40]); n != 0 || err == nil {
		t.Fatalf("send during the outage: %d, %v; want 0 and an error", n, err)
	}
	recv.start() // the same port
	next := 20
	for attempt := 0; next < 60 && attempt < 100; attempt++ {
		n, err := s.Send(context.Background(), records[next:])
		next += n
		if err != nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	got := recv.wait(t, 60)
	// A resend repeats the tail of what the receiver may already have: drop ids not above the last.
	var ids []string
	last := 0
	for _, m := range got {
		var id int
		fmt.Sscan(m.params["id"], &id)
		if id <= last {
			continue
		}
		last = id
		ids = append(ids, m.params["id"])
	}
	if strings.Join(ids, ",") != strings.Join(seq(1, 60), ",") {
		t.Fatalf("ids after de-duplicating repeats: %v; want 1..60 without a gap", ids)
	}
}

func seq(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

func TestCheckAndParseEndpointSayWhatIsWrong(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	for _, proto := range []string{"tcp", "tls"} {
		ep, _ := syslog.ParseEndpoint(closed, proto)
		err := syslog.Check(context.Background(), ep, time.Second)
		if err == nil || !strings.Contains(err.Error(), "cannot reach syslog endpoint "+closed+" over "+proto) {
			t.Errorf("%s check of a closed port: %v", proto, err)
		}
	}
	for addr, want := range map[string]string{
		"nohost":     "must be host:port",
		":514":       "must be host:port",
		"host:0":     "port must be 1 to 65535",
		"host:99999": "port must be 1 to 65535",
	} {
		if _, err := syslog.ParseEndpoint(addr, "tcp"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseEndpoint(%q) = %v, want %q", addr, err, want)
		}
	}
	if _, err := syslog.ParseEndpoint("h:514", "sctp"); err == nil || !strings.Contains(err.Error(), "use tcp, udp or tls") {
		t.Errorf("unknown protocol: %v", err)
	}
}
