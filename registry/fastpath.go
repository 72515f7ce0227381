package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/manifest/schema2"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/cache"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/tag"
)

// decisionTTL is how long an access decision is kept. Permission changes forget decisions at
// once (the access generation); the lifetime bounds what a missed notification can cost, and
// keeps expiring tokens and credentials from being honoured for long.
const decisionTTL = 5 * time.Second

// errSlowPath says the cache cannot answer: the request takes the ordinary road, which gives the
// right answer (and error) for everything the fast path does not handle.
var errSlowPath = errors.New("not answerable from the cache")

// decision is a cached "this credential may pull this repository".
type decision struct {
	Principal *auth.Principal `json:"p"`
	// PreventVulnerable: the project's pull policy needs the database on every pull.
	PreventVulnerable bool `json:"v,omitempty"`
	// RequireVerified: the project only lets VERIFIED artifacts be pulled; the status of each
	// digest is a cached decision of its own (cachedSignatureAllows).
	RequireVerified bool `json:"s,omitempty"`
	// Project is the project's name, for the refusal's message.
	Project string `json:"n,omitempty"`
	// Until is when the Bearer token the decision was made for expires (zero: no token).
	Until time.Time `json:"u,omitzero"`
}

// UseCache has the registry answer manifest GETs and HEADs from c, take pull decisions for blob
// and tag-list reads from it, and invalidate it after every index commit.
func (r *Registry) UseCache(c *cache.Cache) {
	r.cache = c
	r.indexer.UseCache(c)
}

// authFailure is credentials that did not check out while a decision was being made: the
// ordinary road answers with it instead of checking (and counting a failed login) a second time.
type authFailure struct{ err error }

func (a *authFailure) Error() string { return a.err.Error() }
func (a *authFailure) Unwrap() error { return a.err }

// serveCachedManifest answers a manifest GET or HEAD from the cache, without Distribution, when it
// can; it returns false, having written nothing, when the request must take the ordinary road
// (with the credentials' failure, if that is why).
func (r *Registry) serveCachedManifest(w http.ResponseWriter, req *http.Request, rt route) (bool, error) {
	ctx := req.Context()
	d, ok, authErr := r.cachedDecision(req, rt)
	if !ok || (d.PreventVulnerable && r.policy != nil) {
		return false, authErr
	}
	dgst := digest.Digest(rt.reference)
	if dgst.Validate() != nil {
		if !reference.TagRegexp.MatchString(rt.reference) {
			return false, nil
		}
		b, err := r.cache.Get(ctx, cache.KindTag, cache.TagKey(rt.name, rt.reference), func(ctx context.Context) ([]byte, error) {
			return r.loadTag(ctx, rt.name, rt.reference)
		})
		if err != nil {
			return false, nil
		}
		dgst = digest.Digest(b)
	}
	b, err := r.cache.Get(ctx, cache.KindManifest, cache.ManifestKey(rt.name, dgst.String()), func(ctx context.Context) ([]byte, error) {
		return r.loadManifest(ctx, rt.name, dgst)
	})
	if err != nil {
		return false, nil
	}
	mediaType, payload, ok := bytes.Cut(b, []byte{'\n'})
	if !ok || !accepts(req, string(mediaType)) {
		return false, nil
	}
	if d.RequireVerified && req.Method == http.MethodGet && d.Principal.Kind != auth.KindScanner &&
		!r.cachedSignatureAllows(ctx, d.Project, rt.name, dgst) {
		return false, nil
	}

	ctx = auth.WithPrincipal(ctx, d.Principal)
	h := w.Header()
	h.Set("Docker-Content-Digest", dgst.String())
	h.Set("Etag", `"`+dgst.String()+`"`)
	if etagMatch(req, dgst.String()) {
		w.WriteHeader(http.StatusNotModified)
		return true, nil
	}
	h.Set("Content-Type", string(mediaType))
	h.Set("Content-Length", strconv.Itoa(len(payload)))
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		_, _ = w.Write(payload)
		r.pulls.record(rt.name, rt.reference, d.Principal.Name)
		r.auditPull(ctx, rt)
	}
	return true, nil
}

// serveCachedRead hands a blob or tag-list GET or HEAD to Distribution on a cached access decision,
// sparing the credential check and the project and membership queries of every layer of a pull.
// It returns false, having written nothing, when there is no decision to allow.
func (r *Registry) serveCachedRead(w http.ResponseWriter, req *http.Request, rt route) (bool, error) {
	d, ok, authErr := r.cachedDecision(req, rt)
	if !ok {
		return false, authErr
	}
	r.app.ServeHTTP(retryAfterWriter{w}, req.WithContext(auth.WithPrincipal(req.Context(), d.Principal)))
	return true, nil
}

// cachedDecision is whether the request's credentials may pull rt's repository, from the cache or
// worked out once and cached. Only a decision to allow is cached and only for credentials in the
// Authorization header (or none): everything else takes the ordinary road, which explains itself.
//
// Through a database outage the last decision for the same credentials and repository is served
// past its lifetime (the cache's stale grace): revocation is not weakened, because every
// permission change forgets decisions when it commits (the access generation) and none can
// commit while the database is down; a token's own expiry is still checked here.
func (r *Registry) cachedDecision(req *http.Request, rt route) (decision, bool, error) {
	if _, err := reference.WithName(rt.name); err != nil || !strings.Contains(rt.name, "/") {
		return decision{}, false, nil
	}
	authz := req.Header.Get("Authorization")
	if authz == "" {
		if c, err := req.Cookie(auth.SessionCookie); err == nil && c.Value != "" {
			return decision{}, false, nil
		}
	}
	sum := sha256.Sum256([]byte(authz))
	key := strconv.FormatUint(r.cache.Generation(), 10) + ":" + hex.EncodeToString(sum[:]) + ":" + rt.name
	b, err := r.cache.GetLocal(req.Context(), cache.KindAccess, key, decisionTTL, func(ctx context.Context) ([]byte, error) {
		d, err := r.decide(ctx, req, rt)
		if err != nil {
			return nil, err
		}
		return json.Marshal(d)
	})
	var failed *authFailure
	if errors.As(err, &failed) {
		return decision{}, false, failed.err
	}
	if err != nil {
		return decision{}, false, nil
	}
	var d decision
	if json.Unmarshal(b, &d) != nil || d.Principal == nil || (!d.Until.IsZero() && !time.Now().Before(d.Until)) {
		return decision{}, false, nil
	}
	return d, true, nil
}

// decide is the ordinary access check of ServeHTTP for a pull, as a value that can be cached.
// When the database cannot be reached it says so (auth.ErrUnavailable): the cache then serves the
// decision it last made for these credentials, if it still holds one (see cachedDecision).
func (r *Registry) decide(ctx context.Context, req *http.Request, rt route) (decision, error) {
	p, claims, err := r.auth.Authenticate(ctx, req)
	var throttled *auth.ThrottledError
	if errors.Is(err, auth.ErrBadCredentials) || errors.As(err, &throttled) {
		return decision{}, &authFailure{err: err}
	}
	if err != nil {
		return decision{}, unavailableOr(err, errSlowPath)
	}
	if p.Kind == auth.KindScanner {
		// A scanner may read one artifact of the repository, not the repository: a decision per
		// repository cannot hold that, so its requests take the ordinary road.
		return decision{}, errSlowPath
	}
	proj, err := r.db.Project.Query().Where(project.Name(projectOf(rt.name))).Only(ctx)
	if err != nil {
		return decision{}, unavailableOr(err, errSlowPath)
	}
	if proj.ProxyRegistryID != nil {
		// A proxy-cache project's reads may have to pull through from upstream first (proxy.go).
		return decision{}, errSlowPath
	}
	allowed, err := r.auth.Decide(ctx, p, auth.InRepository(proj, rt.name), auth.ActionPull)
	if err != nil {
		return decision{}, unavailableOr(err, errSlowPath)
	}
	if allowed != auth.Allowed {
		return decision{}, errSlowPath
	}
	d := decision{Principal: p, PreventVulnerable: proj.PreventVulnerable, RequireVerified: proj.RequireVerifiedSignature, Project: proj.Name}
	if claims != nil && claims.ExpiresAt != nil {
		d.Until = claims.ExpiresAt.Time
	}
	return d, nil
}

// unavailableOr is err when it says the database could not be reached, else otherwise.
func unavailableOr(err, otherwise error) error {
	if auth.IsUnavailable(err) {
		return auth.Unavailable(err)
	}
	return otherwise
}

// loadTag is the digest a tag points at, from the index. A tag the index does not have is left to
// Distribution (storage is written before the index).
func (r *Registry) loadTag(ctx context.Context, repo, name string) ([]byte, error) {
	d, err := r.db.Tag.Query().
		Where(tag.Name(name), tag.HasRepositoryWith(repository.Name(repo))).
		QueryArtifact().Select("digest").String(ctx)
	if ent.IsNotFound(err) || ent.IsNotSingular(err) {
		return nil, errSlowPath
	}
	if err != nil {
		return nil, err
	}
	return []byte(d), nil
}

// loadManifest is a manifest's media type, a newline, and its bytes, read from storage.
func (r *Registry) loadManifest(ctx context.Context, repo string, dgst digest.Digest) ([]byte, error) {
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	ms, err := rep.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	m, err := ms.Get(ctx, dgst)
	if err != nil {
		return nil, errSlowPath
	}
	mediaType, payload, err := m.Payload()
	if err != nil || mediaType == "" || strings.ContainsRune(mediaType, '\n') || digest.FromBytes(payload) != dgst {
		return nil, errSlowPath
	}
	return append([]byte(mediaType+"\n"), payload...), nil
}

// accepts reports whether Distribution would serve a manifest of mediaType as it is: Docker
// schema 2 images always; other types only to clients that list them in Accept (Distribution
// refuses OCI types otherwise and rewrites manifest lists for old clients).
func accepts(req *http.Request, mediaType string) bool {
	if mediaType == schema2.MediaTypeManifest {
		return true
	}
	for _, h := range req.Header.Values("Accept") {
		for _, v := range strings.Split(h, ",") {
			v, _, _ = strings.Cut(v, ";")
			if strings.TrimSpace(v) == mediaType {
				return true
			}
		}
	}
	return false
}

// etagMatch is Distribution's If-None-Match check: the digest, quoted or not.
func etagMatch(req *http.Request, dgst string) bool {
	for _, v := range req.Header.Values("If-None-Match") {
		if v == dgst || v == `"`+dgst+`"` {
			return true
		}
	}
	return false
}
