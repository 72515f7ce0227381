package syslog_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// message is an RFC 5424 message, parsed strictly.
type message struct {
	pri                                          int
	timestamp, hostname, app, procID, msgID, msg string
	sdID                                         string
	params                                       map[string]string
}

// parse follows the ABNF of RFC 5424 §6 and refuses anything else.
func parse(raw string) (message, error) {
	var m message
	rest, ok := strings.CutPrefix(raw, "<")
	if !ok {
		return m, errors.New("no PRI")
	}
	end := strings.IndexByte(rest, '>')
	if end < 1 || end > 3 {
		return m, errors.New("bad PRI")
	}
	pri, err := strconv.Atoi(rest[:end])
	if err != nil || pri > 191 || (end > 1 && rest[0] == '0') {
		return m, errors.New("bad PRI value")
	}
	m.pri = pri
	rest = rest[end+1:]
	if !strings.HasPrefix(rest, "1 ") {
		return m, errors.New("VERSION must be 1")
	}
	rest = rest[2:]
	fields := make([]string, 5) // TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
	limits := []int{64, 255, 48, 128, 32}
	for i := range fields {
		sp := strings.IndexByte(rest, ' ')
		if sp < 1 {
			return m, fmt.Errorf("header field %d missing", i)
		}
		f := rest[:sp]
		if len(f) > limits[i] {
			return m, fmt.Errorf("header field %d too long", i)
		}
		for _, c := range []byte(f) {
			if c < 33 || c > 126 {
				return m, fmt.Errorf("header field %d not PRINTUSASCII", i)
			}
		}
		fields[i] = f
		rest = rest[sp+1:]
	}
	m.timestamp, m.hostname, m.app, m.procID, m.msgID = fields[0], fields[1], fields[2], fields[3], fields[4]
	if _, err := time.Parse(time.RFC3339Nano, m.timestamp); err != nil {
		return m, fmt.Errorf("TIMESTAMP: %v", err)
	}
	if !strings.HasPrefix(rest, "[") {
		return m, errors.New("expected one SD-ELEMENT")
	}
	rest = rest[1:]
	sp := strings.IndexAny(rest, " ]")
	if sp < 1 {
		return m, errors.New("bad SD-ID")
	}
	m.sdID, rest = rest[:sp], rest[sp:]
	m.params = map[string]string{}
	for strings.HasPrefix(rest, " ") {
		rest = rest[1:]
		eq := strings.IndexByte(rest, '=')
		if eq < 1 || eq > 32 {
			return m, errors.New("bad PARAM-NAME")
		}
		name := rest[:eq]
		if strings.ContainsAny(name, `= ]"`) {
			return m, errors.New("bad PARAM-NAME")
		}
		rest = rest[eq+1:]
		if !strings.HasPrefix(rest, `"`) {
			return m, errors.New("PARAM-VALUE not quoted")
		}
		rest = rest[1:]
		var v strings.Builder
		closed := false
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			if c == '\\' && i+1 < len(rest) && strings.IndexByte(`"\]`, rest[i+1]) >= 0 {
				v.WriteByte(rest[i+1])
				i++
				continue
			}
			if c == ']' {
				return m, errors.New("unescaped ']' in PARAM-VALUE")
			}
			if c == '"' {
				rest, closed = rest[i+1:], true
				break
			}
			v.WriteByte(c)
		}
		if !closed {
			return m, errors.New("unterminated PARAM-VALUE")
		}
		m.params[name] = v.String()
	}
	if !strings.HasPrefix(rest, "]") {
		return m, errors.New("SD-ELEMENT not closed")
	}
	rest = rest[1:]
	if rest != "" {
		if !strings.HasPrefix(rest, " ") {
			return m, errors.New("MSG must follow a space")
		}
		m.msg = rest[1:]
	}
	return m, nil
}

// receiver collects messages on loopback over tcp, tls or udp.
type receiver struct {
	t      *testing.T
	proto  string
	addr   string
	tlsCfg *tls.Config
	mu     sync.Mutex
	ln     net.Listener
	pc     net.PacketConn
	conns  []net.Conn
	msgs   []message
}

func newReceiver(t *testing.T, proto string) *receiver {
	r := &receiver{t: t, proto: proto, addr: "127.0.0.1:0"}
	if proto == "tls" {
		r.tlsCfg = selfSignedTLS(t)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *receiver) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proto == "udp" {
		pc, err := net.ListenPacket("udp", r.addr)
		if err != nil {
			r.t.Fatal(err)
		}
		r.pc, r.addr = pc, pc.LocalAddr().String()
		go func() {
			buf := make([]byte, 65536)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				r.add(string(buf[:n]))
			}
		}()
		return
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	if r.tlsCfg != nil {
		ln = tls.NewListener(ln, r.tlsCfg)
	}
	r.ln, r.addr = ln, ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns = append(r.conns, c)
			r.mu.Unlock()
			go r.readFrames(c)
		}
	}()
}

func (r *receiver) readFrames(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		n, err := br.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil || size <= 0 {
			r.t.Errorf("bad octet count %q", n)
			return
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		r.add(string(buf))
	}
}

func (r *receiver) add(raw string) {
	m, err := parse(raw)
	if err != nil {
		r.t.Errorf("receiver got a malformed message %q: %v", raw, err)
		return
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *receiver) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	if r.pc != nil {
		r.pc.Close()
		r.pc = nil
	}
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

func (r *receiver) wait(t *testing.T, n int) []message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]message(nil), r.msgs...)
		r.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func trustOf(t *testing.T, cfg *tls.Config) *tls.Config {
	cert, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{RootCAs: pool}
}
