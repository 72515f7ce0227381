package syslog_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/audit/syslog"
)

func TestCheckLiveEndpoint(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"tcp", "udp", "tls"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			b := setup(t, proto)
			if err := syslog.Check(context.Background(), b.ep, 2*time.Second); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if proto != "udp" {
				return
			}
			// UDP can only be checked by sending: the probe must be a valid message that is
			// not an audit entry.
			m := b.recv.wait(1)[0]
			if m.MsgID != "check" || m.SD != nil || m.AppName != "berth" || m.Pri != 16*8+7 {
				t.Fatalf("probe: %+v", m)
			}
		})
	}
}

func TestCheckClosedPort(t *testing.T) {
	t.Parallel()
	tcpAddr, udpAddr := closedPort(t, "tcp"), closedPort(t, "udp")
	for proto, addr := range map[string]string{"tcp": tcpAddr, "tls": tcpAddr, "udp": udpAddr} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			ep, err := syslog.ParseEndpoint(addr, proto)
			if err != nil {
				t.Fatal(err)
			}
			err = syslog.Check(context.Background(), ep, 2*time.Second)
			want := "cannot reach syslog endpoint " + addr + " over " + proto + ": connection refused"
			if err == nil || err.Error() != want || !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("Check = %v; want %q", err, want)
			}
		})
	}
}

// closedPort returns a loopback address that nothing listens on.
func closedPort(t *testing.T, network string) string {
	t.Helper()
	var addr string
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = pc.LocalAddr().String()
		pc.Close()
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	return addr
}

// Check completes the TLS handshake, so a certificate the sender would refuse is caught when the
// endpoint is saved; the TLS settings of Endpoint are honoured.
func TestCheckTLSHandshake(t *testing.T) {
	t.Parallel()
	b := setup(t, "tls")
	trusted := b.recv.clientTLS()
	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		wantOK bool
		is     any
	}{
		{name: "system roots do not know a self-signed certificate", cfg: nil, is: &x509.UnknownAuthorityError{}},
		{name: "server name other than the certificate's", cfg: &tls.Config{RootCAs: trusted.RootCAs, ServerName: "syslog.example.com"}, is: &x509.HostnameError{}},
		{name: "server name defaults to the host", cfg: &tls.Config{RootCAs: trusted.RootCAs}, wantOK: true},
		{name: "verification skipped on request", cfg: &tls.Config{InsecureSkipVerify: true}, wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ep := b.ep
			ep.TLS = tc.cfg
			err := syslog.Check(context.Background(), ep, 2*time.Second)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			prefix := "syslog endpoint " + b.recv.addr + " over tls: TLS handshake failed: "
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("Check = %v; want %q…", err, prefix)
			}
			switch want := tc.is.(type) {
			case *x509.UnknownAuthorityError:
				if !errors.As(err, want) {
					t.Fatalf("not an unknown authority: %v", err)
				}
			case *x509.HostnameError:
				if !errors.As(err, want) {
					t.Fatalf("not a host name mismatch: %v", err)
				}
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ address, protocol, wantAddr, wantProto string }{
		{"syslog.example.com:514", "tcp", "syslog.example.com:514", "tcp"},
		{"10.0.0.1:514", "UDP", "10.0.0.1:514", "udp"},
		{"[2001:db8::1]:6514", "tls", "[2001:db8::1]:6514", "tls"},
		{" logs_1.internal:601 ", "", "logs_1.internal:601", "tcp"},
	} {
		ep, err := syslog.ParseEndpoint(tc.address, tc.protocol)
		if err != nil || ep.Address != tc.wantAddr || string(ep.Protocol) != tc.wantProto || ep.TLS != nil {
			t.Errorf("ParseEndpoint(%q, %q) = %+v, %v", tc.address, tc.protocol, ep, err)
		}
	}
	for _, tc := range []struct{ address, protocol, want string }{
		{"nohost", "tcp", `audit forward endpoint "nohost" must be host:port, e.g. syslog.example.com:514`},
		{":514", "tcp", `audit forward endpoint ":514" must be host:port, e.g. syslog.example.com:514`},
		{"", "tcp", `audit forward endpoint "" must be host:port, e.g. syslog.example.com:514`},
		{"udp://syslog.example.com:514", "udp", `audit forward endpoint "udp://syslog.example.com:514" must be host:port, e.g. syslog.example.com:514`},
		{"host:0", "tcp", `audit forward endpoint "host:0": port must be 1 to 65535, e.g. syslog.example.com:514`},
		{"host:99999", "tcp", `audit forward endpoint "host:99999": port must be 1 to 65535, e.g. syslog.example.com:514`},
		{"host:syslog", "tcp", `audit forward endpoint "host:syslog": port must be 1 to 65535, e.g. syslog.example.com:514`},
		{"sys log:514", "tcp", `audit forward endpoint "sys log:514": "sys log" is neither a host name nor an IP address; write host:port, e.g. syslog.example.com:514`},
		{"host:514", "sctp", `audit forward protocol "sctp" is not supported: use tcp, udp or tls`},
	} {
		if _, err := syslog.ParseEndpoint(tc.address, tc.protocol); err == nil || err.Error() != tc.want {
			t.Errorf("ParseEndpoint(%q, %q) = %v\nwant %s", tc.address, tc.protocol, err, tc.want)
		}
	}
}
