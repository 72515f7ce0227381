package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/ent"
)

// errProxyPush is Harbor's refusal of every write into a proxy-cache project.
var errProxyPush = errcode.ErrorCodeDenied.WithMessage("can not push artifact to a proxy project")

// DefaultUpstreamTimeout bounds the HEAD that asks upstream whether a cached tag moved.
const DefaultUpstreamTimeout = 5 * time.Second

// fetchTimeout bounds one pull-through (a manifest and its blobs), which outlives the request
// that started it: other clients may be waiting for it.
const fetchTimeout = 30 * time.Minute

// Upstreams gives the client of a registry endpoint, through which a proxy-cache project pulls.
type Upstreams interface {
	Remote(ctx context.Context, id int) (*endpoint.Remote, error)
}

// proxyCache is the pull-through state of the registry's proxy-cache projects: the upstream
// clients, the fetches in flight (one per manifest or blob however many clients miss it at once),
// and when each cached tag last agreed with upstream.
type proxyCache struct {
	upstreams Upstreams
	timeout   time.Duration
	flight    singleflight.Group
	checked   sync.Map // "project/repo:tag" -> time.Time upstream last agreed with the cache
	stale     prometheus.Counter
	fetched   *prometheus.CounterVec
}

// UseProxy has the registry pull through to upstream registries in proxy-cache projects. Without
// it such projects serve what they hold and refuse writes. Its metrics are registered on reg.
func (r *Registry) UseProxy(upstreams Upstreams, timeout time.Duration, reg prometheus.Registerer) error {
	if timeout <= 0 {
		timeout = DefaultUpstreamTimeout
	}
	p := &proxyCache{upstreams: upstreams, timeout: timeout,
		stale: prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_proxy_cache_stale_served_total",
			Help: "Cached manifests of proxy-cache projects served because upstream could not say whether a tag moved."}),
		fetched: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_proxy_cache_upstream_fetches_total",
			Help: "Manifests and blobs proxy-cache projects fetched from upstream, by kind."}, []string{"kind"}),
	}
	if err := reg.Register(p.stale); err != nil {
		return fmt.Errorf("register proxy-cache metrics: %w", err)
	}
	if err := reg.Register(p.fetched); err != nil {
		return fmt.Errorf("register proxy-cache metrics: %w", err)
	}
	r.proxy = p
	return nil
}

// servesProxy readies an authorized request on a proxy-cache project: writes are refused, and a
// manifest or blob read that misses the local copy is first pulled through from upstream and
// stored, so that the ordinary road then serves it (store, then serve). It reports false when it
// has answered.
func (r *Registry) servesProxy(w http.ResponseWriter, req *http.Request, rt route, proj *ent.Project) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		serveError(w, errProxyPush, http.StatusForbidden)
		return false
	}
	if r.proxy == nil || (rt.kind != routeManifest && rt.kind != routeBlob) {
		return true
	}
	var err error
	switch {
	case rt.kind == routeManifest:
		err = r.pullManifestThrough(req.Context(), proj, rt.name, rt.reference)
	case req.Method == http.MethodGet && req.Header.Get("Range") == "":
		// A whole blob is streamed to the client that starts its fetch while it is stored.
		var streamed bool
		if streamed, err = r.pullBlobThrough(req.Context(), proj, rt.name, rt.reference, w); streamed {
			if err != nil {
				r.log.Warn("proxy cache: blob stream from upstream broke off", "project", proj.Name, "repository", rt.name, "digest", rt.reference, "err", err)
			}
			return false
		}
	default:
		_, err = r.pullBlobThrough(req.Context(), proj, rt.name, rt.reference, nil)
	}
	if err == nil || isUpstreamNotFound(err) {
		return true // served, or answered "unknown", by the ordinary road
	}
	r.log.Warn("proxy cache: pull through failed", "project", proj.Name, "repository", rt.name, "reference", rt.reference, "err", err)
	serveError(w, errcode.ErrorCodeUnavailable.WithMessage(
		"the upstream registry of this proxy-cache project could not be reached, and nothing is cached for this reference: try again later"),
		http.StatusServiceUnavailable)
	return false
}

// upstream is the client of proj's endpoint and the upstream name of repo: the project's prefix
// replaced by its upstream namespace (or dropped).
func (r *Registry) upstream(ctx context.Context, proj *ent.Project, repo string) (*endpoint.Remote, name.Repository, error) {
	up, err := r.proxy.upstreams.Remote(ctx, *proj.ProxyRegistryID)
	if err != nil {
		return nil, name.Repository{}, fmt.Errorf("upstream of project %s: %w", proj.Name, err)
	}
	path := strings.TrimPrefix(repo, proj.Name+"/")
	if proj.ProxyNamespace != "" {
		path = proj.ProxyNamespace + "/" + path
	}
	upRepo, err := up.Repository(path)
	return up, upRepo, err
}

// shared runs fetch once for every caller asking for key at the same time. The fetch runs under
// its own deadline, not the first caller's: the others wait for it too.
func (p *proxyCache) shared(ctx context.Context, key string, fetch func(ctx context.Context) error) error {
	_, err, _ := p.flight.Do(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		return nil, fetch(ctx)
	})
	return err
}

// pullManifestThrough makes sure manifest reference of repo is stored. By digest, a stored copy
// is always right and upstream is never asked. By tag, a stored copy is served as it is within the
// project's freshness interval; after it, a HEAD upstream (bounded by the upstream timeout) says
// whether the tag moved, and if upstream cannot answer the stored copy is served anyway
// (stale-if-error).
func (r *Registry) pullManifestThrough(ctx context.Context, proj *ent.Project, repo, ref string) error {
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return err
	}
	if dgst, err := digest.Parse(ref); err == nil {
		ms, err := rep.Manifests(ctx)
		if err != nil {
			return err
		}
		if ok, err := ms.Exists(ctx, dgst); err == nil && ok {
			return nil
		}
		return r.proxy.shared(ctx, "m:"+repo+"@"+ref, func(ctx context.Context) error {
			return r.fetchManifest(ctx, proj, repo, ref, "")
		})
	}
	key := repo + ":" + ref
	local, err := rep.Tags(ctx).Get(ctx, ref)
	cached := err == nil
	if cached {
		if at, ok := r.proxy.checked.Load(key); ok && time.Since(at.(time.Time)) < time.Duration(proj.ProxyFreshnessSeconds)*time.Second {
			return nil
		}
	}
	return r.proxy.shared(ctx, "t:"+key, func(ctx context.Context) error {
		if !cached {
			if err := r.fetchManifest(ctx, proj, repo, ref, ref); err != nil {
				return err
			}
			r.proxy.checked.Store(key, time.Now())
			return nil
		}
		up, upRepo, err := r.upstream(ctx, proj, repo)
		var desc *ggcr.Descriptor
		if err == nil {
			hctx, cancel := context.WithTimeout(ctx, r.proxy.timeout)
			desc, err = remote.Head(upRepo.Tag(ref), up.Options(hctx)...)
			cancel()
		}
		if err != nil {
			r.proxy.stale.Inc()
			r.log.Warn("proxy cache: upstream did not answer whether a tag moved: serving the cached copy",
				"project", proj.Name, "repository", repo, "tag", ref, "err", err)
			// Asked again after the freshness interval, not on every pull: a slow upstream would
			// otherwise hold each one for the whole timeout.
			r.proxy.checked.Store(key, time.Now())
			return nil
		}
		if desc.Digest.String() != local.Digest.String() {
			if err := r.fetchManifest(ctx, proj, repo, desc.Digest.String(), ref); err != nil {
				r.proxy.stale.Inc()
				r.log.Warn("proxy cache: tag moved upstream but could not be fetched: serving the cached copy",
					"project", proj.Name, "repository", repo, "tag", ref, "err", err)
				return nil
			}
		}
		r.proxy.checked.Store(key, time.Now())
		return nil
	})
}

// fetchManifest fetches manifest ref from upstream with everything it references (an index's
// manifests, an image's config and layers), stores them as a push would (the index records the
// artifact, with its events and scan on push) and, when tag is set, points tag at it.
func (r *Registry) fetchManifest(ctx context.Context, proj *ent.Project, repo, ref, tag string) error {
	up, upRepo, err := r.upstream(ctx, proj, repo)
	if err != nil {
		return err
	}
	var upRef name.Reference = upRepo.Tag(ref)
	if strings.Contains(ref, ":") {
		upRef = upRepo.Digest(ref)
	}
	d, err := remote.Get(upRef, up.Options(ctx)...)
	if err != nil {
		return fmt.Errorf("fetch manifest %s: %w", upRef, err)
	}
	r.proxy.fetched.WithLabelValues("manifest").Inc()
	m, _, err := distribution.UnmarshalManifest(string(d.MediaType), d.Manifest)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", upRef, err)
	}
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return err
	}
	for _, ref := range m.References() {
		if d.MediaType.IsIndex() {
			err = r.pullManifestThrough(ctx, proj, repo, ref.Digest.String())
		} else if len(ref.URLs) == 0 { // foreign layers stay where they are
			_, err = r.pullBlobThrough(ctx, proj, repo, ref.Digest.String(), nil)
		}
		if err != nil {
			return err
		}
	}
	ms, err := rep.Manifests(ctx)
	if err != nil {
		return err
	}
	var opts []distribution.ManifestServiceOption
	if tag != "" {
		opts = append(opts, distribution.WithTag(tag))
	}
	dgst, err := ms.Put(ctx, m, opts...)
	if err != nil {
		return fmt.Errorf("store manifest %s: %w", upRef, err)
	}
	if tag != "" {
		if err := rep.Tags(ctx).Tag(ctx, tag, v1.Descriptor{Digest: dgst}); err != nil {
			return fmt.Errorf("tag %s:%s: %w", repo, tag, err)
		}
	}
	return nil
}

// pullBlobThrough makes sure blob dgst is stored in repo, fetching it from upstream (once, however
// many clients ask at the same time) when it is not. With to set, the caller whose request starts
// the fetch gets the blob streamed to it while it is stored (streamed true: it has been answered,
// whatever the error); the others wait for the fetch and are served from storage.
func (r *Registry) pullBlobThrough(ctx context.Context, proj *ent.Project, repo, ref string, to http.ResponseWriter) (streamed bool, err error) {
	dgst, err := digest.Parse(ref)
	if err != nil {
		return false, nil // the ordinary road explains a bad digest
	}
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return false, err
	}
	if _, err := rep.Blobs(ctx).Stat(ctx, dgst); err == nil {
		return false, nil
	}
	err = r.proxy.shared(ctx, "b:"+repo+"@"+ref, func(ctx context.Context) error {
		blobs := rep.Blobs(ctx)
		if _, err := blobs.Stat(ctx, dgst); err == nil {
			return nil // stored by the fetch that just ended
		}
		up, upRepo, err := r.upstream(ctx, proj, repo)
		if err != nil {
			return err
		}
		layer, err := remote.Layer(upRepo.Digest(ref), up.Options(ctx)...)
		if err != nil {
			return fmt.Errorf("fetch blob %s: %w", ref, err)
		}
		rc, err := layer.Compressed()
		if err != nil {
			return fmt.Errorf("fetch blob %s: %w", ref, err)
		}
		defer rc.Close()
		r.proxy.fetched.WithLabelValues("blob").Inc()
		bw, err := blobs.Create(ctx)
		if err != nil {
			return fmt.Errorf("store blob %s: %w", ref, err)
		}
		var src io.Reader = rc
		if to != nil {
			h := to.Header()
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Docker-Content-Digest", ref)
			h.Set("Etag", `"`+ref+`"`)
			to.WriteHeader(http.StatusOK)
			streamed = true
			src = io.TeeReader(rc, &clientCopy{w: to})
		}
		n, err := io.Copy(bw, src) // the digest is verified as it is read
		if err != nil {
			_ = bw.Cancel(ctx)
			return fmt.Errorf("fetch blob %s: %w", ref, err)
		}
		if _, err := bw.Commit(ctx, v1.Descriptor{Digest: dgst, Size: n}); err != nil {
			return fmt.Errorf("store blob %s: %w", ref, err)
		}
		return nil
	})
	return streamed, err
}

// clientCopy writes to a client until the client goes away, then drops what follows: the blob is
// still stored for the others.
type clientCopy struct {
	w    io.Writer
	gone bool
}

func (c *clientCopy) Write(p []byte) (int, error) {
	if !c.gone {
		if _, err := c.w.Write(p); err != nil {
			c.gone = true
		}
	}
	return len(p), nil
}

// isUpstreamNotFound reports whether upstream said it has no such manifest or blob.
func isUpstreamNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
