package egress_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/egress"
)

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	refused := map[string]string{
		"127.0.0.1":              "loopback",
		"127.1.2.3":              "loopback",
		"::1":                    "loopback",
		"::ffff:127.0.0.1":       "loopback",
		"169.254.169.254":        "metadata",
		"::ffff:169.254.169.254": "metadata",
		"fd00:ec2::254":          "metadata",
		"169.254.1.1":            "link-local",
		"fe80::1":                "link-local",
		"fe80::1%eth0":           "link-local",
		"10.1.2.3":               "private",
		"172.16.0.1":             "private",
		"172.31.255.255":         "private",
		"192.168.1.1":            "private",
		"fd12:3456::1":           "private",
		"100.64.0.1":             "carrier-grade NAT",
		"0.0.0.0":                "unspecified",
		"::":                     "unspecified",
		"224.0.0.1":              "multicast",
		"ff02::1":                "multicast",
		"255.255.255.255":        "reserved",
		"::127.0.0.1":            "IPv4-compatible",
		"64:ff9b::7f00:1":        "127.0.0.1",
		"64:ff9b::a9fe:a9fe":     "169.254.169.254",
		"2002:7f00:1::1":         "127.0.0.1",
	}
	p := egress.New(nil)
	for addr, want := range refused {
		err := p.CheckAddr(netip.MustParseAddr(addr))
		var r *egress.RefusedError
		if !errors.As(err, &r) {
			t.Errorf("%s: not refused (%v)", addr, err)
			continue
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), egress.AllowSetting) {
			t.Errorf("%s: error %q should say %q and name %s", addr, err, want, egress.AllowSetting)
		}
	}
	for _, addr := range []string{"1.1.1.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "64:ff9b::808:808"} {
		if err := p.CheckAddr(netip.MustParseAddr(addr)); err != nil {
			t.Errorf("%s: refused: %v", addr, err)
		}
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	allow, err := egress.ParseCIDRs("127.0.0.0/8, 10.0.0.5 fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	p := egress.New(allow)
	for _, addr := range []string{"127.0.0.1", "::ffff:127.0.0.2", "10.0.0.5", "fd00::1"} {
		if err := p.CheckAddr(netip.MustParseAddr(addr)); err != nil {
			t.Errorf("%s is allowed, but: %v", addr, err)
		}
	}
	for _, addr := range []string{"10.0.0.6", "169.254.169.254", "::1"} {
		if err := p.CheckAddr(netip.MustParseAddr(addr)); err == nil {
			t.Errorf("%s is not in the allowlist, but passed", addr)
		}
	}
	if _, err := egress.ParseCIDRs("10.0.0.0/33"); err == nil {
		t.Error("a bad range was accepted")
	}
}

// fixedResolver answers every name with the same addresses, as a DNS server an attacker controls would.
type fixedResolver []netip.Addr

func (r fixedResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r, nil
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := egress.New(nil)
	err := p.Check(ctx, nil, "http://user:s3cret@127.0.0.1:9/hook")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("loopback URL with credentials: %v", err)
	}
	if err := p.Check(ctx, nil, "http://localhost:9/"); err == nil || !strings.Contains(err.Error(), "localhost resolves to") {
		t.Errorf("localhost: %v", err)
	}
	if err := p.Check(ctx, nil, "http://[::ffff:169.254.169.254]/latest"); err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Errorf("mapped metadata address: %v", err)
	}
	if err := p.Check(ctx, fixedResolver{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("10.0.0.1")}, "https://hooks.example.com/x"); err == nil {
		t.Error("a name with one private address passed")
	}
	if err := p.Check(ctx, fixedResolver{netip.MustParseAddr("1.1.1.1")}, "https://hooks.example.com/x"); err != nil {
		t.Errorf("a public name: %v", err)
	}
	for _, bad := range []string{"ftp://x/", "/relative", "http://", "http://u:pw@:80/"} {
		err := p.Check(ctx, nil, bad)
		if err == nil || strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestTransportRefusesAtConnectTime: whatever the URL says, the address dialled is what counts,
// so a name that passed when saved and resolves to the inside later is still refused.
func TestTransportRefusesAtConnectTime(t *testing.T) {
	t.Parallel()
	hit := make(chan struct{}, 10)
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hit <- struct{}{} }))
	defer inside.Close()
	_, port, _ := net.SplitHostPort(inside.Listener.Addr().String())

	closed := egress.New(nil).Client(5*time.Second, false)
	for _, u := range []string{inside.URL, "http://localhost:" + port + "/", "http://[::ffff:127.0.0.1]:" + port + "/"} {
		resp, err := closed.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: reached the inside", u)
		} else if !strings.Contains(err.Error(), "outgoing connection refused") {
			t.Errorf("%s: %v", u, err)
		}
	}
	select {
	case <-hit:
		t.Fatal("the inside server was reached")
	default:
	}

	allowed, _ := egress.ParseCIDRs("127.0.0.0/8")
	open := egress.New(allowed).Client(5*time.Second, false)
	resp, err := open.Get(inside.URL)
	if err != nil {
		t.Fatalf("allowed range: %v", err)
	}
	resp.Body.Close()
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://user:pw@example.com/x": "https://REDACTED@example.com/x",
		"https://example.com/x":         "https://example.com/x",
		"http://u:pw@bad host/":         "http://REDACTED@bad host/",
	} {
		if got := egress.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// A wrapped transport (tracing) sees every request, and the policy still decides each connection.
func TestWithTransportKeepsThePolicy(t *testing.T) {
	t.Parallel()
	inside := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer inside.Close()
	var seen []string
	wrap := func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			seen = append(seen, r.URL.String())
			return next.RoundTrip(r)
		})
	}
	closed := egress.New(nil).WithTransport(wrap).Client(5*time.Second, false)
	if resp, err := closed.Get(inside.URL); err == nil || !strings.Contains(err.Error(), "outgoing connection refused") {
		if resp != nil {
			resp.Body.Close()
		}
		t.Fatalf("a wrapped client reached the inside: %v", err)
	}
	allowed, _ := egress.ParseCIDRs("127.0.0.0/8")
	open := egress.New(allowed).WithTransport(wrap).Client(5*time.Second, false)
	resp, err := open.Get(inside.URL)
	if err != nil {
		t.Fatalf("allowed range through the wrapper: %v", err)
	}
	resp.Body.Close()
	if len(seen) != 2 {
		t.Errorf("the wrapper saw %v", seen)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
