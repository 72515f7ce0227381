package endpoint

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/berth-registry/berth/egress"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/registryendpoint"
)

// PingTimeout bounds a connection test.
const PingTimeout = 10 * time.Second

// PingError is a failed connection test, in the words an administrator needs: what failed (DNS,
// address policy, connection, TLS, authentication, not a registry) and what to do.
type PingError struct {
	Stage string // dns, policy, connect, tls, auth, registry
	Msg   string
}

func (e *PingError) Error() string { return e.Msg }

func pingErr(stage, format string, args ...any) error {
	return &PingError{Stage: stage, Msg: fmt.Sprintf(format, args...)}
}

// ping asks GET /v2/ of ep, and, when the registry wants credentials, proves cred the way it asks
// (Basic directly, or a Bearer token from its realm). The credential never appears in an error.
func ping(ctx context.Context, policy *egress.Policy, ep *ent.RegistryEndpoint, cred Credential) error {
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	u, err := url.Parse(ep.URL)
	if err != nil {
		return pingErr("registry", "%q is not a URL", egress.Redact(ep.URL))
	}
	host := u.Hostname()
	if net.ParseIP(host) == nil {
		if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
			return pingErr("dns", "DNS: the name %s could not be resolved; check the URL's host name", host)
		}
	}
	client := policy.Client(PingTimeout, ep.Insecure)
	resp, err := get(ctx, client, ep.URL+"/v2/", nil)
	if err != nil {
		return classify(u.Host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	isRegistry := resp.Header.Get("Docker-Distribution-API-Version") != "" || resp.StatusCode == http.StatusUnauthorized
	switch {
	case resp.StatusCode == http.StatusOK && isRegistry, resp.StatusCode == http.StatusOK && ep.Type == registryendpoint.TypeDockerHub:
		return nil
	case resp.StatusCode == http.StatusUnauthorized:
		return authenticate(ctx, client, ep, cred, resp.Header.Get("WWW-Authenticate"))
	default:
		return pingErr("registry", "not a registry: GET %s/v2/ answered %s without the Docker-Distribution-API-Version header; check the URL (the registry's base, not a web page)", ep.URL, resp.Status)
	}
}

func get(ctx context.Context, client *http.Client, target string, prepare func(*http.Request)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "Berth-Replication/1")
	if prepare != nil {
		prepare(req)
	}
	return client.Do(req)
}

// authenticate answers a 401 challenge with cred.
func authenticate(ctx context.Context, client *http.Client, ep *ent.RegistryEndpoint, cred Credential, challenge string) error {
	scheme, params := parseChallenge(challenge)
	// Without a credential, a Bearer challenge may still grant anonymous access (Docker Hub,
	// public projects): the token service says.
	if cred.Type == registryendpoint.CredentialTypeNone && !strings.EqualFold(scheme, "bearer") {
		return pingErr("auth", "authentication required: the registry asks for a user name and password and this endpoint has none")
	}
	direct := strings.EqualFold(scheme, "basic") ||
		(strings.EqualFold(scheme, "bearer") && cred.Type == registryendpoint.CredentialTypeBearer)
	switch {
	case direct:
		// The credential goes with the request itself: Basic, or a bearer token of the admin's.
		resp, err := get(ctx, client, ep.URL+"/v2/", func(r *http.Request) { setCredential(r, cred) })
		if err != nil {
			return classify(ep.URL, err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		return pingErr("auth", "authentication failed: the registry refused the %s credential (%s); check the access key and secret", cred.Type, resp.Status)
	case strings.EqualFold(scheme, "bearer"):
		realm := params["realm"]
		ru, err := url.Parse(realm)
		if err != nil || (ru.Scheme != "http" && ru.Scheme != "https") {
			return pingErr("registry", "not a usable registry: its token realm %q is not a URL", realm)
		}
		q := ru.Query()
		if svc := params["service"]; svc != "" {
			q.Set("service", svc)
		}
		ru.RawQuery = q.Encode()
		resp, err := get(ctx, client, ru.String(), func(r *http.Request) { setCredential(r, cred) })
		if err != nil {
			return classify(ru.Host, err)
		}
		defer resp.Body.Close()
		if (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && cred.Type == registryendpoint.CredentialTypeNone {
			return pingErr("auth", "authentication required: the registry gives no anonymous access (%s); give this endpoint a credential", resp.Status)
		}
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return pingErr("auth", "authentication failed: the token service refused the %s credential (%s); check the access key and secret", cred.Type, resp.Status)
		}
		var tok struct {
			Token       string `json:"token"`
			AccessToken string `json:"access_token"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok) != nil || tok.Token+tok.AccessToken == "" {
			return pingErr("registry", "the registry's token service answered %s without a token", resp.Status)
		}
		return nil
	default:
		return pingErr("registry", "not a registry: GET /v2/ asked for %q authentication", scheme)
	}
}

// setCredential puts cred on r: Basic for a user or robot, Bearer for a token.
func setCredential(r *http.Request, cred Credential) {
	switch cred.Type {
	case registryendpoint.CredentialTypeBasic, registryendpoint.CredentialTypeRobotSecret:
		r.SetBasicAuth(cred.Key, cred.Secret)
	case registryendpoint.CredentialTypeBearer:
		r.Header.Set("Authorization", "Bearer "+cred.Secret)
	}
}

// parseChallenge reads `Bearer realm="…",service="…"`.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			params[strings.ToLower(k)] = strings.Trim(v, `"`)
		}
	}
	return scheme, params
}

// classify turns a transport error into what failed, in plain words.
func classify(host string, err error) error {
	var refused *egress.RefusedError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &refused):
		return pingErr("policy", "address refused: %s", refused.Error())
	case errors.As(err, &dnsErr):
		return pingErr("dns", "DNS: the name %s could not be resolved", dnsErr.Name)
	case errors.As(err, &unknownAuth), errors.As(err, &certErr), errors.As(err, &hostErr):
		return pingErr("tls", "TLS: the certificate of %s is not trusted (%v); install a trusted certificate, or turn on insecure if you accept the risk", host, rootCause(err))
	case errors.As(err, &recordErr):
		return pingErr("tls", "TLS: %s does not speak TLS on that port; use an http:// URL, or the HTTPS port", host)
	case errors.Is(err, syscall.ECONNREFUSED):
		return pingErr("connect", "could not connect to %s: connection refused (is the registry running on that port?)", host)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return pingErr("connect", "could not connect to %s: no answer within %s", host, PingTimeout)
	default:
		return pingErr("connect", "could not connect to %s: %v", host, rootCause(err))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
