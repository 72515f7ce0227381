package syslog_test

import (
	"bufio"
	"bytes"
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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// message is an RFC 5424 message as the strict parser read it.
type message struct {
	Pri       int
	Timestamp string // as written; "-" is the NILVALUE
	Hostname  string
	AppName   string
	ProcID    string
	MsgID     string
	SD        []element // nil for the NILVALUE
	Msg       string
	HasMsg    bool

	Size int // bytes on the wire, without framing
	Conn int // which connection brought it (1, 2, …); 0 over UDP
}

type element struct {
	ID     string
	Params []param
}

type param struct{ Name, Value string }

// param returns the value of a parameter of the element sdID, and whether it is there once.
func (m message) param(sdID, name string) (string, bool) {
	var value string
	n := 0
	for _, e := range m.SD {
		if e.ID != sdID {
			continue
		}
		for _, p := range e.Params {
			if p.Name == name {
				value, n = p.Value, n+1
			}
		}
	}
	return value, n == 1
}

// auditParams returns the audit element's parameters as a map, failing on a repeated one.
func (m message) auditParams(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range m.SD {
		if e.ID != "audit@32473" {
			continue
		}
		for _, p := range e.Params {
			if _, dup := out[p.Name]; dup {
				t.Fatalf("parameter %s repeated", p.Name)
			}
			out[p.Name] = p.Value
		}
	}
	return out
}

// parse reads one message by the ABNF of RFC 5424 §6 and refuses anything it does not allow. It
// is stricter than a receiver must be in one respect: a backslash in a PARAM-VALUE that escapes
// nothing is refused, because a sender MUST escape every backslash (§6.3.3).
func parse(raw []byte) (message, error) {
	p := &parser{s: raw}
	m := message{Size: len(raw)}
	var err error
	// PRI = "<" PRIVAL ">"; PRIVAL = 1*3DIGIT, 0 to 191.
	if !p.take('<') {
		return m, errors.New("PRI: no '<'")
	}
	digits := p.digits(3)
	if digits == "" || !p.take('>') {
		return m, errors.New("PRI: want 1 to 3 digits between '<' and '>'")
	}
	if m.Pri, _ = strconv.Atoi(digits); m.Pri > 191 {
		return m, fmt.Errorf("PRI: %d is above 191", m.Pri)
	}
	// VERSION = NONZERO-DIGIT 0*2DIGIT; 1 is the only one defined.
	if v := p.digits(3); v != "1" {
		return m, fmt.Errorf("VERSION: %q, want 1", v)
	}
	fields := []struct {
		name string
		max  int
		dst  *string
	}{
		{"TIMESTAMP", 32, &m.Timestamp}, {"HOSTNAME", 255, &m.Hostname}, {"APP-NAME", 48, &m.AppName},
		{"PROCID", 128, &m.ProcID}, {"MSGID", 32, &m.MsgID},
	}
	for _, f := range fields {
		if !p.take(' ') {
			return m, fmt.Errorf("%s: want one SP before it", f.name)
		}
		if *f.dst, err = p.token(f.max); err != nil {
			return m, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if err := checkTimestamp(m.Timestamp); err != nil {
		return m, fmt.Errorf("TIMESTAMP %q: %w", m.Timestamp, err)
	}
	if !p.take(' ') {
		return m, errors.New("STRUCTURED-DATA: want one SP before it")
	}
	if m.SD, err = p.structuredData(); err != nil {
		return m, fmt.Errorf("STRUCTURED-DATA: %w", err)
	}
	if p.done() {
		return m, nil
	}
	if !p.take(' ') {
		return m, fmt.Errorf("MSG: want SP after STRUCTURED-DATA, got %q", p.s[p.i])
	}
	rest := p.s[p.i:]
	// MSG = MSG-ANY / MSG-UTF8; MSG-UTF8 = BOM UTF-8-STRING.
	if bytes.HasPrefix(rest, []byte("\xEF\xBB\xBF")) && !utf8.Valid(rest) {
		return m, errors.New("MSG: starts with a BOM but is not UTF-8")
	}
	m.Msg, m.HasMsg = string(rest), true
	return m, nil
}

type parser struct {
	s []byte
	i int
}

func (p *parser) done() bool { return p.i == len(p.s) }

func (p *parser) take(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// digits reads up to max DIGITs.
func (p *parser) digits(max int) string {
	start := p.i
	for p.i < len(p.s) && p.i-start < max && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return string(p.s[start:p.i])
}

// token reads 1*max PRINTUSASCII (%d33-126), up to the next SP.
func (p *parser) token(max int) (string, error) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ' ' {
		if c := p.s[p.i]; c < 33 || c > 126 {
			return "", fmt.Errorf("byte %#x is not PRINTUSASCII", c)
		}
		p.i++
	}
	switch n := p.i - start; {
	case n == 0:
		return "", errors.New("empty")
	case n > max:
		return "", fmt.Errorf("%d characters, at most %d allowed", n, max)
	}
	return string(p.s[start:p.i]), nil
}

// STRUCTURED-DATA = NILVALUE / 1*SD-ELEMENT; SD-ELEMENT = "[" SD-ID *(SP SD-PARAM) "]".
func (p *parser) structuredData() ([]element, error) {
	if p.take('-') {
		return nil, nil
	}
	var sd []element
	seen := map[string]bool{}
	for p.take('[') {
		id, err := p.sdName()
		if err != nil {
			return nil, fmt.Errorf("SD-ID: %w", err)
		}
		if err := checkSDID(id); err != nil {
			return nil, fmt.Errorf("SD-ID %q: %w", id, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("SD-ID %q appears twice", id)
		}
		seen[id] = true
		e := element{ID: id}
		for p.take(' ') {
			name, err := p.sdName()
			if err != nil {
				return nil, fmt.Errorf("PARAM-NAME in %s: %w", id, err)
			}
			if !p.take('=') || !p.take('"') {
				return nil, fmt.Errorf("%s: want =\" after the name", name)
			}
			value, err := p.paramValue()
			if err != nil {
				return nil, fmt.Errorf("PARAM-VALUE of %s: %w", name, err)
			}
			e.Params = append(e.Params, param{name, value})
		}
		if !p.take(']') {
			return nil, fmt.Errorf("element %s: want SP or ']'", id)
		}
		sd = append(sd, e)
	}
	if sd == nil {
		return nil, errors.New("want '-' or '['")
	}
	return sd, nil
}

// SD-NAME = 1*32PRINTUSASCII except '=', SP, ']' and '"'.
func (p *parser) sdName() (string, error) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '=' || c == ' ' || c == ']' || c == '"' {
			break
		}
		if c < 33 || c > 126 {
			return "", fmt.Errorf("byte %#x is not PRINTUSASCII", c)
		}
		p.i++
	}
	switch n := p.i - start; {
	case n == 0:
		return "", errors.New("empty")
	case n > 32:
		return "", fmt.Errorf("%d characters, at most 32 allowed", n)
	}
	return string(p.s[start:p.i]), nil
}

// paramValue reads UTF-8 up to the closing '"', undoing the escapes of '"', '\' and ']'.
func (p *parser) paramValue() (string, error) {
	var v []byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			if !utf8.Valid(v) {
				return "", errors.New("not UTF-8")
			}
			return string(v), nil
		case ']':
			return "", errors.New("']' not escaped")
		case '\\':
			if p.i == len(p.s) || !bytes.ContainsRune([]byte(`"\]`), rune(p.s[p.i])) {
				return "", errors.New("'\\' not escaped")
			}
			v = append(v, p.s[p.i])
			p.i++
		default:
			v = append(v, c)
		}
	}
	return "", errors.New("no closing '\"'")
}

// checkSDID allows the SD-IDs IANA registered and "name@enterprise-number" (§6.3.2, §7).
func checkSDID(id string) error {
	name, number, private := strings.Cut(id, "@")
	if !private {
		switch id {
		case "timeQuality", "origin", "meta":
			return nil
		}
		return errors.New("neither registered with IANA nor name@enterprise-number")
	}
	if name == "" || strings.Contains(number, "@") || !enterpriseNumber.MatchString(number) {
		return errors.New("want name@enterprise-number")
	}
	return nil
}

var (
	enterpriseNumber = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)
	// FULL-DATE "T" FULL-TIME, TIME-SECFRAC at most 6 digits, "T" and "Z" upper case (§6.2.3).
	timestampSyntax = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$`)
)

func checkTimestamp(ts string) error {
	if ts == "-" {
		return nil
	}
	if !timestampSyntax.MatchString(ts) {
		return errors.New("not FULL-DATE \"T\" FULL-TIME")
	}
	// The ranges: month 01-12, day within the month, no leap second, zone within ±23:59.
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		return err
	}
	return nil
}

// receiver collects RFC 5424 messages on 127.0.0.1 over tcp or tls (octet-counted frames) or udp
// (one per datagram), each through the strict parser. It can stop and start again on its port.
type receiver struct {
	proto  string
	addr   string
	cert   *x509.Certificate
	server *tls.Config

	// dropAt, when set, makes the receiver shut itself down abruptly (unread data and all) as
	// soon as it has read the message with that id, as a crashing receiver would.
	dropAt int64
	// noRead makes the receiver accept connections and never read them.
	noRead bool

	mu     sync.Mutex
	ln     net.Listener
	pc     net.PacketConn
	conns  []net.Conn
	nconns int
	msgs   []message
	bad    []string
	wg     sync.WaitGroup
}

// newReceiver starts a receiver; the test's end stops it and fails the test if anything it
// received was malformed.
func newReceiver(t *testing.T, proto string, opts ...func(*receiver)) *receiver {
	t.Helper()
	r := &receiver{proto: proto, addr: "127.0.0.1:0"}
	for _, o := range opts {
		o(r)
	}
	if proto == "tls" {
		r.server, r.cert = selfSigned(t)
	}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.stop()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, b := range r.bad {
			t.Errorf("receiver: %s", b)
		}
	})
	return r
}

// clientTLS trusts the receiver's certificate and nothing else.
func (r *receiver) clientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(r.cert)
	return &tls.Config{RootCAs: pool}
}

// start listens, on the same port as before after a stop.
func (r *receiver) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proto == "udp" {
		pc, err := net.ListenPacket("udp", r.addr)
		if err != nil {
			return err
		}
		r.pc, r.addr = pc, pc.LocalAddr().String()
		r.wg.Add(1)
		go r.readDatagrams(pc)
		return nil
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return err
	}
	r.ln, r.addr = ln, ln.Addr().String()
	r.wg.Add(1)
	go r.accept(ln)
	return nil
}

func (r *receiver) accept(ln net.Listener) {
	defer r.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		// A bounded buffer (Linux would grow it to megabytes) keeps what the kernel acknowledges
		// for us close to what we have read, so that dropAt loses data that the sender cannot
		// have seen acknowledged. It stays well above the loopback MSS (64 KiB), or the sender
		// would crawl on zero-window probes.
		_ = c.(*net.TCPConn).SetReadBuffer(256 << 10)
		if r.server != nil {
			c = tls.Server(c, r.server)
		}
		r.mu.Lock()
		if r.ln != ln { // stopped meanwhile
			r.mu.Unlock()
			c.Close()
			return
		}
		r.conns = append(r.conns, c)
		r.nconns++
		n := r.nconns
		r.wg.Add(1)
		r.mu.Unlock()
		go r.readFrames(c, n)
	}
}

// readFrames reads octet-counted frames: MSG-LEN SP SYSLOG-MSG, MSG-LEN = NONZERO-DIGIT *DIGIT.
func (r *receiver) readFrames(c net.Conn, n int) {
	defer r.wg.Done()
	if r.noRead {
		return
	}
	br := bufio.NewReader(c)
	for {
		var size int
		for digits := 0; ; digits++ {
			b, err := br.ReadByte()
			if err != nil {
				return // the end of the stream, or of the receiver
			}
			if b == ' ' && digits > 0 {
				break
			}
			if b < '0' || b > '9' || (digits == 0 && b == '0') || digits == 9 {
				r.fail("connection %d: bad MSG-LEN byte %q", n, b)
				c.Close()
				return
			}
			size = size*10 + int(b-'0')
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(br, buf); err != nil {
			return // cut off mid-frame: the sender was interrupted or the receiver stopped
		}
		m, ok := r.add(buf, n)
		if ok && r.dropAt != 0 {
			if id, _ := m.param("audit@32473", "id"); id == strconv.FormatInt(r.dropAt, 10) {
				r.shut()
				return
			}
		}
	}
}

func (r *receiver) readDatagrams(pc net.PacketConn) {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		r.add(append([]byte(nil), buf[:n]...), 0)
	}
}

func (r *receiver) add(raw []byte, conn int) (message, bool) {
	m, err := parse(raw)
	if err != nil {
		r.fail("malformed message %q: %v", raw, err)
		return m, false
	}
	m.Conn = conn
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	return m, true
}

func (r *receiver) fail(format string, args ...any) {
	r.mu.Lock()
	r.bad = append(r.bad, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// shut closes the listener and every connection at once, without waiting for the readers.
func (r *receiver) shut() {
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
		if tc, ok := c.(*tls.Conn); ok {
			c = tc.NetConn() // a crash sends no close_notify
		}
		c.Close()
	}
	r.conns = nil
}

// dropConnections closes every connection but keeps listening, as a receiver that closes idle
// connections does.
func (r *receiver) dropConnections() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// stop shuts the receiver and waits until its goroutines are done.
func (r *receiver) stop() {
	r.shut()
	r.wg.Wait()
}

// messages returns what has arrived so far.
func (r *receiver) messages() []message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]message(nil), r.msgs...)
}

// wait returns the messages once at least n have arrived, or after 10 seconds.
func (r *receiver) wait(n int) []message {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.messages()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and a server configuration that presents it.
func selfSigned(t *testing.T) (*tls.Config, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "berth test syslog receiver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, cert
}
