package endpoint

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-registry/berth/egress"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/registryendpoint"
)

// Remote is a client of one endpoint: the registry name and the go-containerregistry options
// (transport through the egress policy, credential) replication reads and writes with.
type Remote struct {
	Endpoint *ent.RegistryEndpoint
	// Registry is the endpoint's registry for image references.
	Registry name.Registry

	cred      Credential
	transport http.RoundTripper
	api       *http.Client
}

func newRemote(ep *ent.RegistryEndpoint, cred Credential, policy *egress.Policy) (*Remote, error) {
	u, err := url.Parse(ep.URL)
	if err != nil {
		return nil, fmt.Errorf("registry endpoint %q: bad URL", ep.Name)
	}
	host := u.Host
	if ep.Type == registryendpoint.TypeDockerHub && (host == "registry-1.docker.io" || host == "hub.docker.com" || host == "docker.io") {
		host = name.DefaultRegistry // go-containerregistry knows Docker Hub's quirks by this name
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("registry endpoint %q: %w", ep.Name, err)
	}
	t := policy.Transport(ep.Insecure)
	t.MaxIdleConnsPerHost = 32
	return &Remote{Endpoint: ep, Registry: reg, cred: cred, transport: t,
		api: &http.Client{Transport: t, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// Repository names repo (project/path) on the remote.
func (r *Remote) Repository(repo string) (name.Repository, error) {
	return r.Registry.Repo(strings.Split(repo, "/")...), nil
}

// Options are the go-containerregistry options for a request under ctx.
func (r *Remote) Options(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(r.transport), remote.WithAuth(r.authenticator()),
		remote.WithUserAgent("Berth-Replication/1"), remote.WithJobs(4)}
}

// Transport is an http.RoundTripper that talks to the remote with the endpoint's credential,
// authorized for scopes (e.g. repo.Scope(transport.PullScope)), for the requests
// go-containerregistry has no call for (a blob read with its length, an upload in chunks).
func (r *Remote) Transport(ctx context.Context, scopes ...string) (http.RoundTripper, error) {
	return transport.NewWithContext(ctx, r.Registry, r.authenticator(), r.transport, scopes)
}

// URL is the address of path (starting with /v2/) on the remote.
func (r *Remote) URL(path string) string {
	return r.Registry.Scheme() + "://" + r.Registry.RegistryStr() + path
}

// OpenBlob starts reading blob dgst of repo: its body (not yet checked against the digest: the
// caller checks) and its length (-1 when the remote did not say). A remote that does not have it
// answers an error that is a *transport.Error with status 404.
func (r *Remote) OpenBlob(ctx context.Context, repo name.Repository, dgst string) (io.ReadCloser, int64, error) {
	rt, err := r.Transport(ctx, repo.Scope(transport.PullScope))
	if err != nil {
		return nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL("/v2/"+repo.RepositoryStr()+"/blobs/"+dgst), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, 0, err
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

func (r *Remote) authenticator() authn.Authenticator {
	switch r.cred.Type {
	case registryendpoint.CredentialTypeBasic, registryendpoint.CredentialTypeRobotSecret:
		return authn.FromConfig(authn.AuthConfig{Username: r.cred.Key, Password: r.cred.Secret})
	case registryendpoint.CredentialTypeBearer:
		return &authn.Bearer{Token: r.cred.Secret}
	default:
		return authn.Anonymous
	}
}

// IsProxyCache reports whether project on a Berth or Harbor remote is a proxy-cache project, from
// the registry_id its project API shows; other kinds of registry have no such projects. A project
// that does not exist there is not one.
func (r *Remote) IsProxyCache(ctx context.Context, project string) (bool, error) {
	if r.Endpoint.Type != registryendpoint.TypeBerth && r.Endpoint.Type != registryendpoint.TypeHarbor {
		return false, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.Endpoint.URL+"/api/v2.0/projects/"+url.PathEscape(project), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("X-Is-Resource-Name", "true")
	setCredential(req, r.cred)
	resp, err := r.api.Do(req)
	if err != nil {
		return false, fmt.Errorf("ask %s whether project %s is a proxy cache: %w", r.Endpoint.Name, project, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("ask %s whether project %s is a proxy cache: it answered %s", r.Endpoint.Name, project, resp.Status)
	}
	var p struct {
		RegistryID *int `json:"registry_id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p); err != nil {
		return false, fmt.Errorf("ask %s whether project %s is a proxy cache: %w", r.Endpoint.Name, project, err)
	}
	return p.RegistryID != nil && *p.RegistryID > 0, nil
}
