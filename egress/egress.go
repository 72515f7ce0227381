// Package egress decides which network addresses Berth's own outgoing requests may reach: webhook
// deliveries, scanner adapters, and later replication. It owns the one list of address ranges that
// are refused (loopback, link-local and the cloud metadata address, private networks, carrier-grade
// NAT, multicast, unspecified and reserved ranges, in every IPv6 spelling of them) unless an
// administrator allows them, and it enforces that list twice: when a URL is saved (Check, for a
// clear error) and when a connection is made, on the address actually dialled after DNS
// (Transport), so that a name that later resolves to the inside (DNS rebinding) is still refused.
// It does not decide who may configure a URL; callers check permissions first.
package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// AllowSetting names the setting that lets an administrator allow refused ranges, for messages.
const AllowSetting = "BERTH_OUTBOUND_ALLOW_CIDRS"

// blocked is every range an outgoing request may not reach unless allowed, with the words an
// error uses for it. Order matters only for the message: the first match names the address.
var blocked = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("169.254.169.254/32"), "the cloud metadata address"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the cloud metadata address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified (this-network) address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT (shared) address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible IPv6 address"},
	{netip.MustParsePrefix("100::/64"), "a discard-only address"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("fc00::/7"), "a private (unique local) address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

// IPv6 ranges that carry an IPv4 address inside: the IPv4 address is what is reached in the end,
// so it is checked as well.
var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	nat64v2 = netip.MustParsePrefix("64:ff9b:1::/48")
	sixTo4  = netip.MustParsePrefix("2002::/16")
	teredo  = netip.MustParsePrefix("2001::/32")
)

// Policy is the set of ranges an administrator allows on top of the public internet. The zero
// Policy (and a nil one) allows no refused range.
type Policy struct {
	allow []netip.Prefix
	// wrap, if set, wraps Client's transport (tracing) around the dialling one.
	wrap func(http.RoundTripper) http.RoundTripper
}

// New returns a Policy that lets requests reach the given ranges even where they are refused by
// default.
func New(allow []netip.Prefix) *Policy {
	out := make([]netip.Prefix, len(allow))
	for i, p := range allow {
		out[i] = p.Masked()
	}
	return &Policy{allow: out}
}

// WithTransport returns a copy of p whose clients send their requests through wrap (a tracing
// transport) around the transport that enforces the policy: wrap sees each request, the policy
// still decides every connection. p itself is unchanged.
func (p *Policy) WithTransport(wrap func(http.RoundTripper) http.RoundTripper) *Policy {
	out := &Policy{wrap: wrap}
	if p != nil {
		out.allow = p.allow
	}
	return out
}

// ParseCIDRs reads a comma- or space-separated list of CIDR ranges ("10.0.0.0/8, fd00::/8"); a
// bare address is a range of one.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR range such as 10.0.0.0/8 or fd00::/8", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Allowed returns the ranges this policy allows, for logs and documentation.
func (p *Policy) Allowed() []netip.Prefix {
	if p == nil {
		return nil
	}
	return append([]netip.Prefix(nil), p.allow...)
}

// RefusedError says that an address may not be reached and why.
type RefusedError struct {
	Host string     // what the caller asked for: an address or a host name
	Addr netip.Addr // the address that is refused
	What string     // "a loopback address", …
}

func (e *RefusedError) Error() string {
	if e.Host != "" && e.Host != e.Addr.String() {
		return fmt.Sprintf("%s resolves to %s, which is %s; an administrator can allow it with %s", e.Host, e.Addr, e.What, AllowSetting)
	}
	return fmt.Sprintf("%s is %s; an administrator can allow it with %s", e.Addr, e.What, AllowSetting)
}

// CheckAddr returns a *RefusedError when a may not be reached.
func (p *Policy) CheckAddr(a netip.Addr) error {
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	}
	if p != nil {
		for _, allowed := range p.allow {
			if allowed.Contains(a) {
				return nil
			}
		}
	}
	for _, b := range blocked {
		if b.prefix.Contains(a) {
			return &RefusedError{Addr: a, What: b.what}
		}
	}
	if inner, ok := embeddedIPv4(a); ok {
		if err := p.CheckAddr(inner); err != nil {
			var refused *RefusedError
			if errors.As(err, &refused) {
				return &RefusedError{Addr: a, What: "an IPv6 address that carries " + refused.Addr.String() + ", " + refused.What}
			}
			return err
		}
	}
	return nil
}

// embeddedIPv4 returns the IPv4 address that a NAT64, 6to4 or Teredo address leads to.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a), nat64v2.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixTo4.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	case teredo.Contains(a): // the client's address, obfuscated by inverting its bits
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

// Resolver looks host names up; *net.Resolver is one. Tests hand in their own.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Check validates a URL before it is saved: an absolute http or https URL whose host is not
// refused, and, for a host name, none of whose current addresses is refused. A name that does not
// resolve now is accepted (it may exist by the time it is used); the check at connect time still
// holds. Errors name the URL without any credentials in it.
func (p *Policy) Check(ctx context.Context, resolver Resolver, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q must be an absolute http or https URL", Redact(raw))
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(a)
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	lookupCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := resolver.LookupNetIP(lookupCtx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			var refused *RefusedError
			if errors.As(err, &refused) {
				refused.Host = host
			}
			return err
		}
	}
	return nil
}

// Control is a net.Dialer Control function that refuses a connection to a refused address. It
// runs after DNS, on the very address about to be dialled.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("outgoing connection to %q: not an IP address and port", address)
	}
	if err := p.CheckAddr(ap.Addr()); err != nil {
		return fmt.Errorf("outgoing connection refused: %w", err)
	}
	return nil
}

// Transport returns an HTTP transport whose every connection passes Control. It uses no proxy
// from the environment: a proxy would do the resolving and connecting itself, out of reach of the
// check. skipVerify turns certificate verification off.
func (p *Policy) Transport(skipVerify bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: p.Control}
	t.DialContext = dialer.DialContext
	if skipVerify {
		// The target's owner asked for it (a self-signed receiver); the address check still holds.
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for
	}
	return t
}

// Client returns an HTTP client over Transport that never follows redirects: the caller sees a
// 3xx as it is, so a receiver cannot bounce a request (with its headers) elsewhere.
func (p *Policy) Client(timeout time.Duration, skipVerify bool) *http.Client {
	var rt http.RoundTripper = p.Transport(skipVerify)
	if p != nil && p.wrap != nil {
		rt = p.wrap(rt)
	}
	return &http.Client{Transport: rt, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Redact returns raw with any user:password removed, for logs and error messages. A string that
// does not parse as a URL is cut at its last '@' so that nothing before it shows.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			if j := strings.Index(raw, "://"); j >= 0 && j < i {
				return raw[:j+3] + "REDACTED@" + raw[i+1:]
			}
			return "REDACTED@" + raw[i+1:]
		}
		return raw
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	return u.String()
}
