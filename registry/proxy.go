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
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/ent"
	entproject "github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/quota"
	"github.com/berth-registry/berth/registry/manifest"
)

// errProxyPush is Harbor's refusal of every write into a proxy-cache project.
var errProxyPush = errcode.ErrorCodeDenied.WithMessage("can not push artifact to a proxy project")

// DefaultUpstreamTimeout bounds the HEAD that asks upstream whether a cached tag moved.
const DefaultUpstreamTimeout = 5 * time.Second

// fetchTimeout bounds one pull-through (a manifest and its blobs), which outlives the request
// that started it: other clients may be waiting for it.
const fetchTimeout = 30 * time.Minute

// DefaultFetchWait bounds how long a pull waits for another replica that is fetching the same
// manifest or blob from upstream.
const DefaultFetchWait = 5 * time.Minute

// Upstreams gives the client of a registry endpoint, through which a proxy-cache project pulls.
type Upstreams interface {
	Remote(ctx context.Context, id int) (*endpoint.Remote, error)
}

// ProxyConfig is how the registry pulls through to upstream registries.
type ProxyConfig struct {
	Upstreams Upstreams
	// Timeout bounds the HEAD that asks upstream whether a cached tag moved (DefaultUpstreamTimeout).
	Timeout time.Duration
	// Redis, when set, is shared by the replicas: one of them fetches what many miss at once
	// (a lock per manifest or blob), and when a tag last agreed with upstream is known to all.
	Redis *redis.Client
	// Wait bounds how long a pull waits for another replica's fetch (DefaultFetchWait).
	Wait time.Duration
}

// proxyCache is the pull-through state of the registry's proxy-cache projects: the upstream
// clients, the fetches in flight (one per manifest or blob however many clients miss it at once,
// in this process and, with Redis, across replicas), and when each cached tag last agreed with
// upstream.
type proxyCache struct {
	upstreams Upstreams
	timeout   time.Duration
	wait      time.Duration
	flight    singleflight.Group
	locks     *fetchLocks // nil without Redis
	checked   sync.Map    // "project/repo:tag" -> time.Time upstream last agreed with the cache
	stale     prometheus.Counter
	fetched   *prometheus.CounterVec
	waited    prometheus.Counter
}

// UseProxy has the registry pull through to upstream registries in proxy-cache projects. Without
// it such projects serve what they hold and refuse writes. Its metrics are registered on reg.
func (r *Registry) UseProxy(cfg ProxyConfig, reg prometheus.Registerer) error {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultUpstreamTimeout
	}
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultFetchWait
	}
	p := &proxyCache{upstreams: cfg.Upstreams, timeout: cfg.Timeout, wait: cfg.Wait,
		stale: prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_proxy_cache_stale_served_total",
			Help: "Cached manifests of proxy-cache projects served because upstream could not say whether a tag moved."}),
		fetched: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_proxy_cache_upstream_fetches_total",
			Help: "Manifests and blobs proxy-cache projects fetched from upstream, by kind."}, []string{"kind"}),
		waited: prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_proxy_cache_replica_waits_total",
			Help: "Pull-throughs served from storage after waiting for another replica's upstream fetch."}),
	}
	if cfg.Redis != nil {
		p.locks = &fetchLocks{rdb: cfg.Redis, log: r.log}
	}
	for _, c := range []prometheus.Collector{p.stale, p.fetched, p.waited} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register proxy-cache metrics: %w", err)
		}
	}
	r.proxy = p
	return nil
}

// servesProxy readies an authorized request on a proxy-cache project: writes are refused; a
// manifest read that misses the local copy first pulls the manifest through (stored and indexed as
// a push, its blobs left for the client to ask for); a blob read that misses is streamed from
// upstream to the client while it is stored. It reports false when it has answered.
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
				// The client must not take what it got for the blob: break its connection
				// (its last bytes were held back until the digest matched).
				panic(http.ErrAbortHandler)
			}
			return false
		}
	default:
		_, err = r.pullBlobThrough(req.Context(), proj, rt.name, rt.reference, nil)
	}
	if err == nil || isUpstreamNotFound(err) {
		return true // served, or answered "unknown", by the ordinary road
	}
	if exceeded := (*quota.Exceeded)(nil); errors.As(err, &exceeded) {
		// The fill would pass the project's quota: nothing of it was stored.
		serveError(w, errcode.ErrorCodeDenied.WithMessage(exceeded.Error()), http.StatusForbidden)
		return false
	}
	r.log.Warn("proxy cache: pull through failed", "project", proj.Name, "repository", rt.name, "reference", rt.reference, "err", err)
	msg := "the upstream registry of this proxy-cache project could not be reached, and nothing is cached for this reference: try again later"
	if errors.Is(err, errWaitBudget) {
		msg = fmt.Sprintf("another replica has been fetching this from the upstream registry for more than %s: try again later", r.proxy.wait)
	}
	serveError(w, errcode.ErrorCodeUnavailable.WithMessage(msg), http.StatusServiceUnavailable)
	return false
}

// PullBlobThrough makes sure blob dgst of repo is stored when repo is in a proxy-cache project,
// fetching it from upstream (coalesced as a client's miss is) if not; elsewhere it does nothing.
// Background readers of storage (the scanner) call it for a blob they miss.
func (r *Registry) PullBlobThrough(ctx context.Context, repo string, dgst digest.Digest) error {
	if r.proxy == nil {
		return nil
	}
	proj, err := r.db.Project.Query().Where(entproject.Name(projectOf(repo))).Only(ctx)
	if err != nil || proj.ProxyRegistryID == nil {
		return nil
	}
	_, err = r.pullBlobThrough(ctx, proj, repo, dgst.String(), nil)
	return err
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

// shared runs fetch once for every caller asking for key at the same time: in this process
// through a singleflight, and across replicas through a Redis lock, whose waiters are done when
// done reports that the holder has stored the result. The fetch runs under its own deadline, not
// the first caller's: the others wait for it too.
func (p *proxyCache) shared(ctx context.Context, key string, done func(context.Context) bool, fetch func(ctx context.Context) error) error {
	_, err, _ := p.flight.Do(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		if done(ctx) {
			return nil, nil // stored by a fetch that has just ended
		}
		if p.locks == nil {
			return nil, fetch(ctx)
		}
		return nil, p.locks.run(ctx, key, p.wait, func(ctx context.Context) bool {
			if done(ctx) {
				p.waited.Inc()
				return true
			}
			return false
		}, fetch)
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
		stored := func(ctx context.Context) bool {
			ms, err := rep.Manifests(ctx)
			if err != nil {
				return false
			}
			ok, err := ms.Exists(ctx, dgst)
			return err == nil && ok
		}
		if stored(ctx) {
			return nil
		}
		return r.proxy.shared(ctx, "m:"+repo+"@"+ref, stored, func(ctx context.Context) error {
			return r.fetchManifest(ctx, proj, repo, ref, "")
		})
	}
	key := repo + ":" + ref
	freshness := time.Duration(proj.ProxyFreshnessSeconds) * time.Second
	local, err := rep.Tags(ctx).Get(ctx, ref)
	cached := err == nil
	if cached && r.proxy.fresh(ctx, key, freshness) {
		return nil
	}
	done := func(ctx context.Context) bool { // another replica has fetched or checked the tag
		if !cached {
			_, err := rep.Tags(ctx).Get(ctx, ref)
			return err == nil
		}
		return r.proxy.fresh(ctx, key, freshness)
	}
	return r.proxy.shared(ctx, "t:"+key, done, func(ctx context.Context) error {
		if !cached {
			if err := r.fetchManifest(ctx, proj, repo, ref, ref); err != nil {
				return err
			}
			r.proxy.agreed(ctx, key, freshness)
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
			r.proxy.agreed(ctx, key, freshness)
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
		r.proxy.agreed(ctx, key, freshness)
		return nil
	})
}

// freshKey is the Redis key saying that tag key agreed with upstream within the freshness interval.
func freshKey(key string) string { return "berth:proxy:fresh:" + key }

// fresh reports whether tag key agreed with upstream less than freshness ago, here or (with
// Redis) on any replica.
func (p *proxyCache) fresh(ctx context.Context, key string, freshness time.Duration) bool {
	if freshness <= 0 {
		return false
	}
	if at, ok := p.checked.Load(key); ok && time.Since(at.(time.Time)) < freshness {
		return true
	}
	if p.locks == nil {
		return false
	}
	for range 2 { // once more when Redis does not answer in time: the other answer is a HEAD upstream
		cctx, cancel := context.WithTimeout(ctx, redisBudget)
		n, err := p.locks.rdb.Exists(cctx, freshKey(key)).Result()
		cancel()
		if err == nil {
			return n > 0
		}
	}
	return false
}

// agreed records that tag key agrees with upstream now, for this replica and the others.
func (p *proxyCache) agreed(ctx context.Context, key string, freshness time.Duration) {
	p.checked.Store(key, time.Now())
	if p.locks == nil || freshness <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, redisBudget)
	defer cancel()
	if err := p.locks.rdb.Set(ctx, freshKey(key), "1", freshness).Err(); err != nil {
		p.locks.log.Warn("proxy cache: could not share a tag's freshness through Redis", "err", err)
	}
}

// fetchManifest fetches manifest ref from upstream and stores it as a push would (the index
// records the artifact, with its events, audit and scan on push) and, when tag is set, points tag
// at it. What the index reads is fetched first: an index's manifests, an image's config. Its
// layers are not: each is fetched when a client asks for it, streamed to that client while it is
// stored, so a cold pull costs about what a direct one does.
func (r *Registry) fetchManifest(ctx context.Context, proj *ent.Project, repo, ref, tag string) (err error) {
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
	// The fill is a push: the quota is asked for the manifest and every blob it references before
	// anything of it (its config, its children) is stored, so a refused fill leaves nothing. The
	// index takes the reservation over when it records the manifest; a fill that fails gives it back.
	var reserved []string
	if r.indexer != nil {
		if reserved, err = r.indexer.reserveManifest(ctx, repo, digest.Digest(d.Digest.String()), d.Manifest, m.References()); err != nil {
			return fmt.Errorf("manifest %s: %w", upRef, err)
		}
	}
	defer func() {
		if err != nil && len(reserved) > 0 {
			if rerr := r.indexer.quota.Release(context.WithoutCancel(ctx), projectOf(repo), reserved); rerr != nil {
				r.log.Error("quota: release after a failed proxy-cache fill", "repository", repo, "err", rerr)
			}
		}
	}()
	if d.MediaType.IsIndex() {
		for _, ref := range m.References() {
			if err := r.pullManifestThrough(ctx, proj, repo, ref.Digest.String()); err != nil {
				return err
			}
		}
	} else if info, err := manifest.Parse(string(d.MediaType), d.Manifest); err == nil && info.Config != nil && info.Config.Size <= maxConfigSize {
		if _, err := r.pullBlobThrough(ctx, proj, repo, info.Config.Digest.String(), nil); err != nil {
			return err
		}
	}
	// Distribution's own pull-through stores a manifest before its layers the same way.
	ms, err := rep.Manifests(ctx, storage.SkipLayerVerification())
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
	if dgst.String() != d.Digest.String() {
		return fmt.Errorf("manifest %s: upstream said %s, the bytes are %s", upRef, d.Digest, dgst)
	}
	if tag != "" {
		if err := rep.Tags(ctx).Tag(ctx, tag, v1.Descriptor{Digest: dgst}); err != nil {
			return fmt.Errorf("tag %s:%s: %w", repo, tag, err)
		}
	}
	return nil
}

// pullBlobThrough makes sure blob dgst is stored in repo, fetching it from upstream (once, however
// many clients ask at the same time, on however many replicas) when it is not. With to set, the
// caller whose request starts the fetch gets the blob streamed to it while it is stored (streamed
// true: it has been answered, and on an error must not be left with what it got); the others wait
// for the fetch and are served from storage.
func (r *Registry) pullBlobThrough(ctx context.Context, proj *ent.Project, repo, ref string, to http.ResponseWriter) (streamed bool, err error) {
	dgst, err := digest.Parse(ref)
	if err != nil {
		return false, nil // the ordinary road explains a bad digest
	}
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return false, err
	}
	stored := func(ctx context.Context) bool {
		_, err := rep.Blobs(ctx).Stat(ctx, dgst)
		return err == nil
	}
	if stored(ctx) {
		return false, nil
	}
	err = r.proxy.shared(ctx, "b:"+repo+"@"+ref, stored, func(ctx context.Context) error {
		up, upRepo, err := r.upstream(ctx, proj, repo)
		if err != nil {
			return err
		}
		body, size, err := up.OpenBlob(ctx, upRepo, ref)
		if err != nil {
			return fmt.Errorf("fetch blob %s: %w", ref, err)
		}
		defer body.Close()
		r.proxy.fetched.WithLabelValues("blob").Inc()
		// Reserved before the client gets a byte (nothing if the project already counts it, as
		// the layers of a manifest it stored): a blob the quota cannot hold is refused with 403,
		// not cut off mid-stream by the commit's own reservation. Of unknown size, the commit asks.
		var reserved []string
		if size >= 0 && r.indexer != nil && r.indexer.quota != nil {
			if reserved, err = r.indexer.quota.Reserve(ctx, projectOf(repo), []quota.Blob{{Digest: ref, Size: size}}); err != nil {
				return fmt.Errorf("fetch blob %s: %w", ref, err)
			}
		}
		release := func() {
			if len(reserved) > 0 {
				if rerr := r.indexer.quota.Release(context.WithoutCancel(ctx), projectOf(repo), reserved); rerr != nil {
					r.log.Error("quota: release after a failed proxy-cache fill", "repository", repo, "err", rerr)
				}
			}
		}
		blobs := rep.Blobs(ctx)
		bw, err := blobs.Create(ctx)
		if err != nil {
			release()
			return fmt.Errorf("store blob %s: %w", ref, err)
		}
		var client io.Writer
		if to != nil {
			h := to.Header()
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Docker-Content-Digest", ref)
			h.Set("Etag", `"`+ref+`"`)
			if size >= 0 {
				h.Set("Content-Length", fmt.Sprint(size))
			}
			to.WriteHeader(http.StatusOK)
			streamed = true
			client = &clientCopy{w: to}
		}
		n, held, err := copyHeld(bw, client, body, size)
		if err != nil {
			_ = bw.Cancel(ctx)
			release()
			return fmt.Errorf("fetch blob %s: %w", ref, err)
		}
		// Storage checks the digest it computed as the bytes were written: only a blob that is
		// what was asked for is committed, and only then does the client get its last bytes.
		if _, err := bw.Commit(ctx, v1.Descriptor{Digest: dgst, Size: n}); err != nil {
			_ = bw.Cancel(ctx)
			release()
			return fmt.Errorf("upstream sent bytes that are not %s (discarded): %w", ref, err)
		}
		if client != nil {
			_, _ = client.Write(held)
		}
		return nil
	})
	return streamed, err
}

// copyHeld copies src to store and to client (when not nil), checking the length when it is
// known. The client is always one read behind: the last bytes read are held back and returned,
// to be sent only once the digest is known to match, so a client never gets a whole blob that is
// not what it asked for. Upstream is read ahead (up to 4 buffers of 256 KiB) while storage and
// the client are written, so the three overlap.
func copyHeld(store, client io.Writer, src io.Reader, size int64) (int64, []byte, error) {
	type chunk struct {
		b   []byte
		err error
	}
	const buffers, bufSize = 4, 256 << 10
	free := make(chan []byte, buffers)
	for range buffers {
		free <- make([]byte, bufSize)
	}
	full := make(chan chunk, buffers)
	stop := make(chan struct{})
	defer close(stop) // the reader stops too (the caller closes src, which ends a blocked read)
	go func() {
		for {
			var b []byte
			select {
			case b = <-free:
			case <-stop:
				return
			}
			k, err := io.ReadFull(src, b)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF // a short last read; a short blob is caught by the length or the digest
			}
			select {
			case full <- chunk{b[:k], err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var held []byte
	var n int64
	for {
		c := <-full
		if len(c.b) > 0 {
			n += int64(len(c.b))
			if _, err := store.Write(c.b); err != nil {
				return n, nil, err
			}
			if held != nil {
				if client != nil {
					_, _ = client.Write(held)
				}
				free <- held[:cap(held)]
			}
			held = c.b
		}
		if c.err == io.EOF {
			break
		}
		if c.err != nil {
			return n, nil, c.err
		}
	}
	if size >= 0 && n != size {
		return n, nil, fmt.Errorf("upstream sent %d bytes, announced %d", n, size)
	}
	return n, held, nil
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
