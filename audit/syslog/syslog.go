// Package syslog sends audit records to a syslog receiver as RFC 5424 messages: over TCP or TLS
// with octet-counting framing (RFC 6587 §3.4.1, RFC 5425), or over UDP as one message per datagram
// (RFC 5426). It owns the wire format, the connection and its reconnection, and the check run when
// an endpoint is saved. It does not decide what to send or when, and keeps no record of what was
// sent: the audit forwarder (package audit) reads the backlog, calls Send, and remembers how far it
// got. Nothing here touches the database.
package syslog

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Record is one audit entry to forward.
type Record struct {
	ID           int64 // the audit row id; carried in the message so receivers can spot gaps and duplicates
	Time         time.Time
	User         string // username, robot name, or "anonymous"
	Project      string // project name, may be empty
	Operation    string // create, delete, pull, login, update, …
	ResourceType string // project, repository, artifact, tag, user, member, webhook, configuration, …
	Resource     string // e.g. "library/nginx:1.25" or "library/nginx@sha256:…"
	SourceIP     string
	Result       string // "success" or "failure"
}

// Protocol is how messages travel to the receiver.
type Protocol string

// The protocols a receiver can speak.
const (
	TCP Protocol = "tcp" // octet-counted frames on a TCP stream (RFC 6587)
	UDP Protocol = "udp" // one message per datagram (RFC 5426); a datagram lost is lost
	TLS Protocol = "tls" // octet-counted frames inside TLS (RFC 5425)
)

// Endpoint is a syslog receiver.
type Endpoint struct {
	Address  string // host:port
	Protocol Protocol
	// TLS applies to the tls protocol only. RootCAs nil means the system's roots; ServerName
	// empty means the host of Address; InsecureSkipVerify is honoured. A nil TLS means all of
	// these defaults.
	TLS *tls.Config
}

// ParseEndpoint validates a "host:port" address and a protocol name (tcp, udp or tls; empty
// means tcp), as an administrator types them. Its errors say what to write instead.
func ParseEndpoint(address, protocol string) (Endpoint, error) {
	address = strings.TrimSpace(address)
	host, port, err := net.SplitHostPort(address)
	if err != nil || host == "" {
		return Endpoint{}, fmt.Errorf("audit forward endpoint %q must be host:port, e.g. syslog.example.com:514", address)
	}
	if !validHost(host) {
		return Endpoint{}, fmt.Errorf("audit forward endpoint %q: %q is neither a host name nor an IP address; write host:port, e.g. syslog.example.com:514", address, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Endpoint{}, fmt.Errorf("audit forward endpoint %q: port must be 1 to 65535, e.g. syslog.example.com:514", address)
	}
	p := Protocol(strings.ToLower(strings.TrimSpace(protocol)))
	switch p {
	case TCP, UDP, TLS:
	case "":
		p = TCP
	default:
		return Endpoint{}, fmt.Errorf("audit forward protocol %q is not supported: use tcp, udp or tls", protocol)
	}
	return Endpoint{Address: address, Protocol: p}, nil
}

// validHost accepts an IP address (IPv6 with a zone too) or a name made of the characters DNS
// names and /etc/hosts entries use; whether the name resolves is Check's question.
func validHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if len(host) > 253 {
		return false
	}
	for _, c := range []byte(host) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
		if !ok {
			return false
		}
	}
	return !strings.HasPrefix(host, ".") && !strings.Contains(host, "..")
}
