package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

const (
	dialTimeout  = 5 * time.Second
	writeTimeout = 5 * time.Second
	// udpRefusalWait is how long Check waits for an ICMP "port unreachable" after its probe
	// datagram. On a LAN it comes back within a millisecond or two.
	udpRefusalWait = 500 * time.Millisecond
)

// Check connects to the endpoint within timeout, to validate a setting when it is saved. Over TCP
// it connects; over TLS it also completes the handshake, so an untrusted certificate is caught
// here; over UDP it resolves the address, "connects" the socket and sends one probe message (MSGID
// "check", severity debug, no structured data), then waits briefly for the ICMP refusal that is
// the only answer a UDP port can give. A UDP endpoint that drops datagrams silently passes.
//
// Errors say what failed, e.g. "cannot reach syslog endpoint 127.0.0.1:5514 over tcp: connection
// refused" or "syslog endpoint logs.example.com:6514 over tls: TLS handshake failed: …".
func Check(ctx context.Context, e Endpoint, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(ctx, e)
	if err != nil {
		return err
	}
	defer conn.Close()
	if e.Protocol != UDP {
		return nil
	}
	deadline := time.Now().Add(udpRefusalWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	_, err = conn.Write(checkMessage(time.Now()))
	if err == nil {
		// Nothing is expected back: a read that times out means no refusal came.
		_, err = conn.Read(make([]byte, 1))
	}
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("cannot reach syslog endpoint %s over udp: %w", e.Address, unwrapOp(err))
	}
	return nil
}

// checkMessage is the datagram Check sends: valid RFC 5424, so a receiver that logs it shows a
// clean line, but with its own MSGID and no audit structured data, so it is not taken for an entry.
func checkMessage(now time.Time) []byte {
	return fmt.Appendf(nil, "<%d>1 %s - %s - check - Berth audit forwarding: endpoint check",
		facilityLocal0*8+7, now.UTC().Format(timeLayout), appName)
}

// dial connects to e, through the TLS handshake for TLS, within dialTimeout and ctx.
func dial(ctx context.Context, e Endpoint) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	network := "tcp"
	switch e.Protocol {
	case TCP, TLS:
	case UDP:
		network = "udp"
	default:
		return nil, fmt.Errorf("syslog endpoint %s: unknown protocol %q: use tcp, udp or tls", e.Address, e.Protocol)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, e.Address)
	if err != nil {
		return nil, fmt.Errorf("cannot reach syslog endpoint %s over %s: %w", e.Address, e.Protocol, unwrapOp(err))
	}
	if e.Protocol != TLS {
		return conn, nil
	}
	tc := tls.Client(conn, tlsConfig(e))
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("syslog endpoint %s over tls: TLS handshake failed: %w", e.Address, unwrapOp(err))
	}
	return tc, nil
}

// tlsConfig is e.TLS with the defaults Endpoint documents filled in.
func tlsConfig(e Endpoint) *tls.Config {
	cfg := &tls.Config{}
	if e.TLS != nil {
		cfg = e.TLS.Clone()
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(e.Address)
	}
	return cfg
}

// unwrapOp drops the "dial tcp 127.0.0.1:5514: connect:" prefixes that the caller's own message
// already says, keeping the cause ("connection refused") and its identity for errors.Is. Other
// operations keep their name: "remote error: tls: bad certificate" says who refused.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil && (op.Op == "dial" || op.Op == "read" || op.Op == "write") {
		err = op.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) && sys.Err != nil {
		err = sys.Err
	}
	return err
}
