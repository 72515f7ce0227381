// Package syslog sends audit records to a syslog receiver as RFC 5424 messages, over TCP or TLS
// (octet-counting framing, RFC 6587 and RFC 5425) or UDP (one message per datagram, RFC 5426).
// It formats and delivers; what to send and when is the audit forwarder's business.
package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Record is one audit entry to forward.
type Record struct {
	ID           int64 // the audit row id: receivers can spot gaps and the repeats of a reconnect
	Time         time.Time
	User         string
	Project      string
	Operation    string
	ResourceType string
	Resource     string
	SourceIP     string
	Result       string // "success" or "failure"
}

// Protocol is how messages travel.
type Protocol string

// The protocols.
const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
	TLS Protocol = "tls"
)

// Endpoint is a receiver.
type Endpoint struct {
	Address  string // host:port
	Protocol Protocol
	TLS      *tls.Config // for TLS: roots, server name; nil means the system's roots
}

// ParseEndpoint validates "host:port" and a protocol name.
func ParseEndpoint(address, protocol string) (Endpoint, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil || host == "" {
		return Endpoint{}, fmt.Errorf("audit forward endpoint %q must be host:port, e.g. syslog.example.com:514", address)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Endpoint{}, fmt.Errorf("audit forward endpoint %q: port must be 1 to 65535", address)
	}
	p := Protocol(strings.ToLower(protocol))
	switch p {
	case TCP, UDP, TLS:
	case "":
		p = TCP
	default:
		return Endpoint{}, fmt.Errorf("audit forward protocol %q: use tcp, udp or tls", protocol)
	}
	return Endpoint{Address: address, Protocol: p}, nil
}

const (
	dialTimeout  = 5 * time.Second
	writeTimeout = 5 * time.Second
	// maxUDP keeps a datagram within what every receiver accepts (RFC 5426 §3.2 asks for 2048).
	maxUDP = 2048
)

func dial(ctx context.Context, e Endpoint, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	switch e.Protocol {
	case TLS:
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if e.TLS != nil {
			cfg = e.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(e.Address)
		}
		conn, err := (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", e.Address)
		return conn, err
	case UDP:
		return d.DialContext(ctx, "udp", e.Address)
	default:
		return d.DialContext(ctx, "tcp", e.Address)
	}
}

// Check dials the endpoint within timeout (for TLS, through the handshake), to validate a
// setting before it is saved. For UDP it sends an empty probe datagram and waits briefly for an
// ICMP "port unreachable", the only refusal UDP can give.
func Check(ctx context.Context, e Endpoint, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(ctx, e, timeout)
	if err != nil {
		return fmt.Errorf("cannot reach syslog endpoint %s over %s: %w", e.Address, e.Protocol, unwrapOp(err))
	}
	defer conn.Close()
	if e.Protocol == UDP {
		// A real (harmless) message, so that receivers that log everything show a clean line.
		probe := Format(Record{Time: time.Now(), User: "berth", Operation: "check", ResourceType: "configuration",
			Resource: "audit forwarding endpoint"}, "-")
		_ = conn.SetDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := conn.Write(probe); err == nil {
			_, err = conn.Read(make([]byte, 1))
			var ne net.Error
			if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
				return fmt.Errorf("cannot reach syslog endpoint %s over udp: %w", e.Address, unwrapOp(err))
			}
		}
	}
	return nil
}

// unwrapOp drops the "dial tcp 1.2.3.4:5:" prefix, which the caller's message already says.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// Sender keeps one connection to an endpoint and reconnects when it breaks.
type Sender struct {
	e        Endpoint
	hostname string
	conn     net.Conn
}

// NewSender returns a sender; it connects on the first Send.
func NewSender(e Endpoint, hostname string) *Sender { return &Sender{e: e, hostname: hostname} }

// Send writes records in order and returns how many it wrote before an error. The caller resends
// from the first unwritten one. Delivery is at least once and in order: after a broken TCP or TLS
// connection a receiver may get the last records again (each carries its id), never out of order
// and never with a gap.
//
// A write to a receiver that has gone away can succeed into the kernel's buffer and be lost, so
// on TCP and TLS the connection is probed before a batch (a receiver that closed has sent FIN)
// and after it (a dead receiver answers the first write with RST): if the second probe fails, the
// whole batch counts as unsent.
func (s *Sender) Send(ctx context.Context, records []Record) (int, error) {
	stream := s.e.Protocol != UDP
	if stream && s.conn != nil && !alive(s.conn, time.Millisecond) {
		s.Close()
	}
	n, err := s.write(ctx, records)
	if err != nil || !stream || n == 0 {
		return n, err
	}
	if !alive(s.conn, 20*time.Millisecond) {
		s.Close()
		return 0, fmt.Errorf("send to %s over %s: the receiver closed the connection; resending", s.e.Address, s.e.Protocol)
	}
	return n, nil
}

// alive reports whether a stream connection still stands: a read that times out without data
// means nothing has closed it.
func alive(conn net.Conn, wait time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	defer conn.SetReadDeadline(time.Time{}) //nolint:errcheck
	_, err := conn.Read(make([]byte, 1))
	var ne net.Error
	return err == nil || (errors.As(err, &ne) && ne.Timeout())
}

func (s *Sender) write(ctx context.Context, records []Record) (int, error) {
	for i, r := range records {
		if err := ctx.Err(); err != nil {
			return i, err
		}
		if s.conn == nil {
			conn, err := dial(ctx, s.e, dialTimeout)
			if err != nil {
				return i, fmt.Errorf("connect to %s over %s: %w", s.e.Address, s.e.Protocol, unwrapOp(err))
			}
			s.conn = conn
		}
		msg := Format(r, s.hostname)
		var frame []byte
		if s.e.Protocol == UDP {
			frame = truncateUDP(msg)
		} else {
			frame = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := s.conn.Write(frame); err != nil {
			s.conn.Close()
			s.conn = nil
			return i, fmt.Errorf("send to %s over %s: %w", s.e.Address, s.e.Protocol, unwrapOp(err))
		}
	}
	return len(records), nil
}

// Close closes the connection.
func (s *Sender) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// truncateUDP shortens the free-text MSG of an oversized message, keeping the header and the
// structured data whole.
func truncateUDP(msg []byte) []byte {
	if len(msg) <= maxUDP {
		return msg
	}
	return msg[:maxUDP]
}

// Format renders one record as an RFC 5424 message, without framing.
func Format(r Record, hostname string) []byte {
	pri := 16*8 + 6 // local0.info
	if r.Result == "failure" {
		pri = 16*8 + 5 // local0.notice
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s berth - audit [audit@32473", pri, r.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), headerField(hostname, 255))
	param := func(name, value string, always bool) {
		if value == "" && !always {
			return
		}
		b.WriteString(" " + name + `="` + escapeParam(value) + `"`)
	}
	param("id", strconv.FormatInt(r.ID, 10), true)
	param("user", r.User, true)
	param("operation", r.Operation, true)
	param("resource_type", r.ResourceType, true)
	param("resource", r.Resource, true)
	param("project", r.Project, false)
	param("time", r.Time.UTC().Format(time.RFC3339Nano), true)
	param("source_ip", r.SourceIP, false)
	param("result", r.Result, false)
	b.WriteString("] ")
	b.WriteString(strings.Join(nonEmpty(r.User, r.Operation, r.ResourceType, r.Resource), " "))
	return []byte(b.String())
}

// headerField makes a header field printable US-ASCII without spaces, or "-" when empty.
func headerField(s string, max int) string {
	if s == "" {
		return "-"
	}
	out := []byte(s)
	for i, c := range out {
		if c < 33 || c > 126 {
			out[i] = '-'
		}
	}
	if len(out) > max {
		out = out[:max]
	}
	return string(out)
}

// escapeParam escapes '"', '\' and ']' in a structured-data value (RFC 5424 §6.3.3).
func escapeParam(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

func nonEmpty(xs ...string) []string {
	out := xs[:0:0]
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}
