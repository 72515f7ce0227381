package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/tagrule"
)

// routeKind is which /v2 API a request is for.
type routeKind int

const (
	routeBase routeKind = iota
	routeCatalog
	routeTags
	routeManifest
	routeBlob
	routeUpload
	routeReferrers
	routeUnknown
)

// route is a parsed /v2 path.
type route struct {
	kind      routeKind
	name      string // repository name, for every kind but base and catalog
	reference string // tag or digest, for manifests, blobs and referrers
}

// The suffixes that end a repository name in a /v2 path, tried in this order.
var routeSuffixes = []struct {
	re   *regexp.Regexp
	kind routeKind
}{
	{regexp.MustCompile(`^(.+)/blobs/uploads/?([^/]*)$`), routeUpload},
	{regexp.MustCompile(`^(.+)/blobs/([^/]+)$`), routeBlob},
	{regexp.MustCompile(`^(.+)/manifests/([^/]+)$`), routeManifest},
	{regexp.MustCompile(`^(.+)/tags/list$`), routeTags},
	{regexp.MustCompile(`^(.+)/referrers/([^/]+)$`), routeReferrers},
}

func parseRoute(path string) route {
	rest, ok := strings.CutPrefix(path, "/v2/")
	switch {
	case path == "/v2" || path == "/v2/":
		return route{kind: routeBase}
	case !ok:
		return route{kind: routeUnknown}
	case rest == "_catalog":
		return route{kind: routeCatalog}
	}
	for _, s := range routeSuffixes {
		if m := s.re.FindStringSubmatch(rest); m != nil {
			r := route{kind: s.kind, name: m[1]}
			if len(m) > 2 {
				r.reference = m[2]
			}
			return r
		}
	}
	return route{kind: routeUnknown}
}

// action is the permission a request needs.
func (rt route) action(method string) auth.Action {
	read := method == http.MethodGet || method == http.MethodHead
	switch {
	case read:
		return auth.ActionPull
	case method == http.MethodDelete && rt.kind == routeManifest && !strings.Contains(rt.reference, ":"):
		return auth.ActionDeleteTag
	case method == http.MethodDelete:
		return auth.ActionDeleteArtifact
	default:
		return auth.ActionPush
	}
}

// ServeHTTP is the registry's door: every /v2 request passes the same steps, in this order, and
// each step either answers the request (and stops it) or hands it on.
//
//  1. the cache's fast path, which answers warm pulls with no query (fastpath.go);
//  2. authenticate: who is asking;
//  3. the APIs that need no project (the base check, the catalog);
//  4. authorize: auth.Decide on the repository, for the action the method needs;
//  5. a scanner's token: its one artifact and that artifact's blobs only (scanner.go);
//  6. serve: the referrers from the index, everything else by Distribution, where a manifest
//     pull first passes the project's pull policy and is then counted and audited.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt := parseRoute(req.URL.Path)
	served, failed := r.serveFromCache(w, req, rt)
	if served {
		return
	}
	p, ok := r.authenticate(w, req, rt, failed)
	if !ok {
		return
	}
	req = req.WithContext(auth.WithPrincipal(req.Context(), p))
	switch rt.kind {
	case routeUnknown:
		serveError(w, errcode.ErrorCodeUnsupported.WithMessage("no such registry API"), http.StatusNotFound)
		return
	case routeBase:
		r.serveBase(w, req, rt, p)
		return
	case routeCatalog:
		if d, err := r.auth.Decide(req.Context(), p, auth.System, auth.ActionListCatalog); err != nil || d != auth.Allowed {
			r.challenge(w, req, rt, errcode.ErrorCodeUnauthorized)
			return
		}
		r.serveCatalog(w, req, p)
		return
	}
	proj, ok := r.authorize(w, req, rt, p)
	if !ok {
		return
	}
	if p.Kind == auth.KindScanner && !r.withinScannerScope(w, req, rt, p) {
		return
	}
	r.serve(w, req, rt, p, proj)
}

// serveFromCache offers a read to the fast path. It reports whether the request was answered;
// if not, failed is the credentials' failure the fast path found, so they are not checked twice.
func (r *Registry) serveFromCache(w http.ResponseWriter, req *http.Request, rt route) (served bool, failed error) {
	if r.cache == nil || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		return false, nil
	}
	switch rt.kind {
	case routeManifest:
		return r.serveCachedManifest(w, req, rt)
	case routeBlob, routeTags:
		return r.serveCachedRead(w, req, rt)
	}
	return false, nil
}

// authenticate finds the principal of a request (the anonymous one when it carries no
// credentials). Bad credentials get a challenge, a throttled login 429 with Retry-After, and
// credentials that could not be checked 503: it reports false when it has answered.
func (r *Registry) authenticate(w http.ResponseWriter, req *http.Request, rt route, failed error) (*auth.Principal, bool) {
	var p *auth.Principal
	err := failed
	if err == nil {
		p, _, err = r.auth.Authenticate(req.Context(), req)
	}
	var throttled *auth.ThrottledError
	switch {
	case err == nil:
		return p, true
	case errors.Is(err, auth.ErrUnavailable):
		// Credentials that could not be checked are not wrong ones: no challenge, or Docker
		// would ask its user to log in again.
		r.failed(w, "authenticate", err)
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", strconv.Itoa(auth.RetryAfterSeconds(throttled.RetryAfter)))
		serveError(w, errcode.ErrorCodeTooManyRequests.WithMessage(err.Error()), http.StatusTooManyRequests)
	default:
		if !errors.Is(err, auth.ErrBadCredentials) && !errors.Is(err, auth.ErrInvalidToken) {
			r.log.Error("registry: authenticate", "err", err)
		}
		r.challenge(w, req, rt, errcode.ErrorCodeUnauthorized.WithMessage(err.Error()))
	}
	return nil, false
}

// serveBase answers GET /v2/, the check clients make that they are logged in.
func (r *Registry) serveBase(w http.ResponseWriter, req *http.Request, rt route, p *auth.Principal) {
	if !p.Authenticated() {
		r.challenge(w, req, rt, errcode.ErrorCodeUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

// authorize finds the project of rt's repository and asks auth.Decide whether p may do what
// the request needs there. A refusal is a challenge for the anonymous (logging in may help) and
// for a token whose scope lacks the verb (a new token may have it), else 403 DENIED; an unknown
// project is 404 for those who are logged in. It reports false when it has answered.
func (r *Registry) authorize(w http.ResponseWriter, req *http.Request, rt route, p *auth.Principal) (*ent.Project, bool) {
	ctx := req.Context()
	if _, err := reference.WithName(rt.name); err != nil || !strings.Contains(rt.name, "/") {
		serveError(w, errcode.ErrorCodeNameInvalid.WithMessage(
			fmt.Sprintf("invalid repository name %q: use <project>/<name> in lower case", rt.name)), http.StatusBadRequest)
		return nil, false
	}
	needed := rt.action(req.Method)
	proj, err := r.db.Project.Query().Where(project.Name(projectOf(rt.name))).Only(ctx)
	switch {
	case ent.IsNotFound(err) && !p.Authenticated():
		r.challenge(w, req, rt, errcode.ErrorCodeUnauthorized)
		return nil, false
	case ent.IsNotFound(err):
		r.projectUnknown(w, rt)
		return nil, false
	case err != nil:
		r.failed(w, "look up project", err)
		return nil, false
	}
	d, err := r.auth.Decide(ctx, p, auth.InRepository(proj, rt.name), needed)
	switch {
	case err != nil:
		r.failed(w, "decide access", err)
	case d == auth.Allowed:
		return proj, true
	case !p.Authenticated():
		r.challenge(w, req, rt, errcode.ErrorCodeUnauthorized)
	case d == auth.Hidden:
		// A private project the caller may not see answers as one that does not exist.
		r.projectUnknown(w, rt)
	case d == auth.OutOfScope:
		// The permission is there but this token's scope lacks it: a new challenge makes the
		// client ask for a token that has it.
		r.challenge(w, req, rt, errcode.ErrorCodeUnauthorized.WithMessage("token does not cover this request"))
	default:
		serveError(w, errcode.ErrorCodeDenied.WithMessage(
			fmt.Sprintf("%s may not %s in project %s", p.Name, auth.TokenVerb(needed), proj.Name)), http.StatusForbidden)
	}
	return nil, false
}

// projectUnknown answers a request on a project that does not exist or that the caller may not
// see: the same answer for both, so that a private project's name cannot be probed.
func (r *Registry) projectUnknown(w http.ResponseWriter, rt route) {
	serveError(w, errcode.ErrorCodeNameUnknown.WithMessage(fmt.Sprintf(
		"project %q does not exist or you are not a member of it: create it, or ask its administrator to add you",
		projectOf(rt.name))), http.StatusNotFound)
}

// withinScannerScope holds a scanner's token to the one artifact it was issued for (see
// scannerMayRead): the table lets it pull the repository, the token names less. It reports false
// when it has answered.
func (r *Registry) withinScannerScope(w http.ResponseWriter, req *http.Request, rt route, p *auth.Principal) bool {
	ok, err := r.scannerMayRead(req.Context(), p, rt)
	switch {
	case err != nil:
		r.log.Error("registry: scanner access", "err", err)
		serveError(w, errcode.ErrorCodeUnknown, http.StatusInternalServerError)
	case !ok:
		serveError(w, errcode.ErrorCodeDenied.WithMessage(
			fmt.Sprintf("a scanner's token may read %s@%s and its blobs only", p.ScanRepository, p.ScanDigest)), http.StatusForbidden)
	}
	return ok && err == nil
}

// serve answers an authorized request on a repository (in a proxy-cache project, after pulling
// what it reads through from upstream: proxy.go): the referrers from the index, the rest by
// Distribution (whose index and blob guard may be unavailable: their 503s get Retry-After).
func (r *Registry) serve(w http.ResponseWriter, req *http.Request, rt route, p *auth.Principal, proj *ent.Project) {
	if proj.ProxyRegistryID != nil && !r.servesProxy(w, req, rt, proj) {
		return
	}
	switch {
	case rt.kind == routeReferrers:
		r.serveReferrers(w, req, rt)
	case rt.kind == routeUpload:
		r.checkMount(req, p)
		r.app.ServeHTTP(retryAfterWriter{w}, req)
	case rt.kind == routeManifest && (req.Method == http.MethodPut || req.Method == http.MethodDelete) && r.immutableRefuses(w, req, rt):
		return
	case rt.kind == routeManifest && req.Method == http.MethodPut:
		r.app.ServeHTTP(retryAfterWriter{withSubjectHeader(w, req)}, req)
	case rt.kind == routeManifest && req.Method == http.MethodDelete:
		r.serveDelete(w, req, rt)
	case rt.kind == routeManifest && req.Method == http.MethodGet:
		if r.pullPolicyRefuses(w, req, rt, p, proj) || r.signaturePolicyRefuses(w, req, rt, p, proj) {
			return
		}
		r.servePull(w, req, rt, p)
	default:
		r.app.ServeHTTP(retryAfterWriter{w}, req)
	}
}

// pullPolicyRefuses asks the project's pull policy (vulnerable or unscanned artifacts) about a
// manifest GET and answers 412 when it refuses. The scanner's own pull token is exempt: an
// artifact must be pulled to be scanned. What counts is the principal's kind, which only a token
// Berth signed for a scan has; never a name, which an administrator could give a user.
func (r *Registry) pullPolicyRefuses(w http.ResponseWriter, req *http.Request, rt route, p *auth.Principal, proj *ent.Project) bool {
	if r.policy == nil || p.Kind == auth.KindScanner {
		return false
	}
	reason, err := r.policy.Check(req.Context(), proj, rt.name, rt.reference)
	if err != nil {
		r.failed(w, "pull policy", err)
		return true
	}
	return refusedByPolicy(w, reason)
}

// refusedByPolicy answers a pull a project policy refuses (reason, when not empty) with 412
// PROJECTPOLICYVIOLATION, as Harbor does, and reports whether it did.
func refusedByPolicy(w http.ResponseWriter, reason string) bool {
	if reason == "" {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusPreconditionFailed)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "PROJECTPOLICYVIOLATION", "message": reason}}})
	return true
}

// immutableRefuses asks the tag rules about a manifest PUT by tag (the tag would point at the
// body's digest) or a manifest DELETE (of a tag, or of an artifact and its tags), and answers
// 412 DENIED naming the tag and the rule when they refuse. Re-pushing the digest a tag already
// has is no change and passes. The index middleware asks the same question again when storage
// is written (it is the check of every other door); this one only gives /v2 clients Harbor's status.
func (r *Registry) immutableRefuses(w http.ResponseWriter, req *http.Request, rt route) bool {
	ctx := req.Context()
	var err error
	isDigest := strings.Contains(rt.reference, ":")
	switch {
	case req.Method == http.MethodPut && isDigest:
		return false
	case req.Method == http.MethodPut:
		body, rerr := io.ReadAll(io.LimitReader(req.Body, maxManifestSize+1))
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), req.Body))
		if rerr != nil || len(body) > maxManifestSize {
			return false // Distribution answers for the body
		}
		err = r.indexer.CheckTags(ctx, rt.name, digest.FromBytes(body), rt.reference)
	case isDigest:
		dgst, perr := digest.Parse(rt.reference)
		if perr != nil {
			return false
		}
		err = r.indexer.CheckArtifactDelete(ctx, rt.name, dgst)
	default:
		err = r.indexer.CheckTags(ctx, rt.name, "", rt.reference)
	}
	var refusal *tagrule.Refusal
	switch {
	case errors.As(err, &refusal):
		serveError(w, errcode.ErrorCodeDenied.WithMessage(refusal.Error()), http.StatusPreconditionFailed)
		return true
	case err != nil:
		r.failed(w, "tag immutability", err)
		return true
	}
	return false
}

// servePull has Distribution serve a manifest GET and, when it was served, counts and audits the
// pull (both off the request path).
func (r *Registry) servePull(w http.ResponseWriter, req *http.Request, rt route, p *auth.Principal) {
	rec := &statusWriter{ResponseWriter: w}
	r.app.ServeHTTP(rec, req)
	if rec.status == http.StatusOK {
		r.pulls.record(rt.name, rt.reference, p.Name)
		r.auditPull(req.Context(), rt)
	}
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// maxManifestSize is Distribution's own limit on a manifest body.
const maxManifestSize = 4 << 20

// withSubjectHeader reads a manifest being pushed and, if it names a subject, answers the push
// with the OCI-Subject header: the client then knows the registry indexed the referrer itself.
// The body is handed on to Distribution unchanged (oversized ones are cut off there, with its
// error).
func withSubjectHeader(w http.ResponseWriter, req *http.Request) http.ResponseWriter {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxManifestSize+1))
	req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), req.Body))
	if err != nil || len(body) > maxManifestSize {
		return w
	}
	var doc struct {
		Subject *struct {
			Digest string `json:"digest"`
		} `json:"subject"`
	}
	if json.Unmarshal(body, &doc) != nil || doc.Subject == nil || doc.Subject.Digest == "" {
		return w
	}
	return &headerOnSuccess{ResponseWriter: w, name: "OCI-Subject", value: doc.Subject.Digest}
}

// headerOnSuccess adds one header to a 2xx response.
type headerOnSuccess struct {
	http.ResponseWriter
	name, value string
}

func (h *headerOnSuccess) WriteHeader(code int) {
	if code >= 200 && code < 300 {
		h.Header().Set(h.name, h.value)
	}
	h.ResponseWriter.WriteHeader(code)
}

// checkMount drops a cross-repository mount whose source the principal may not pull from:
// Distribution then starts an ordinary upload instead of leaking the blob.
func (r *Registry) checkMount(req *http.Request, p *auth.Principal) {
	q := req.URL.Query()
	from := q.Get("from")
	if q.Get("mount") == "" || from == "" {
		return
	}
	proj, err := r.db.Project.Query().Where(project.Name(projectOf(from))).Only(req.Context())
	if err == nil {
		d, err := r.auth.Decide(req.Context(), p, auth.InRepository(proj, from), auth.ActionPull)
		if err == nil && d == auth.Allowed {
			return
		}
	}
	q.Del("mount")
	q.Del("from")
	req.URL.RawQuery = q.Encode()
}

// challenge answers 401 with the Bearer challenge that sends Docker clients to the token service.
func (r *Registry) challenge(w http.ResponseWriter, req *http.Request, rt route, e error) {
	base := r.externalURL
	if base == "" {
		base = externalBase(req)
	}
	realm := base + "/service/token"
	h := fmt.Sprintf("Bearer realm=%q,service=%q", realm, r.auth.Tokens().Service())
	switch rt.kind {
	case routeCatalog:
		h += `,scope="registry:catalog:*"`
	case routeBase, routeUnknown:
	default:
		scope := "pull"
		if act := rt.action(req.Method); act != auth.ActionPull {
			scope = "pull," + auth.TokenVerb(act)
		}
		h += fmt.Sprintf(`,scope="repository:%s:%s"`, rt.name, scope)
	}
	w.Header().Set("WWW-Authenticate", h)
	serveError(w, e, http.StatusUnauthorized)
}

// externalBase is the scheme and host clients reached Berth at.
func externalBase(req *http.Request) string {
	scheme := "http"
	if req.TLS != nil || strings.EqualFold(req.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + req.Host
}

func serveError(w http.ResponseWriter, e error, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errcode.Errors{e})
}

// serveCatalog lists the repositories the principal may see, from the index, in name order,
// paginated as the distribution spec says (n and last, a Link header to the next page).
func (r *Registry) serveCatalog(w http.ResponseWriter, req *http.Request, p *auth.Principal) {
	n := 100
	if s := req.URL.Query().Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			serveError(w, errcode.ErrorCodePaginationNumberInvalid, http.StatusBadRequest)
			return
		}
		n = min(v, 1000)
	}
	last := req.URL.Query().Get("last")
	names, err := r.visibleRepositories(req.Context(), p, last, n+1)
	if err != nil {
		r.failed(w, "catalog", err)
		return
	}
	if names == nil || n == 0 {
		// An empty catalog is [], not null; n=0 asks for an empty page with no Link, as in
		// Distribution (and there is no last name to link from).
		names = []string{}
	}
	if len(names) > n {
		names = names[:n]
		v := url.Values{"n": {strconv.Itoa(n)}, "last": {names[len(names)-1]}}
		w.Header().Set("Link", fmt.Sprintf(`</v2/_catalog?%s>; rel="next"`, v.Encode()))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string][]string{"repositories": names})
}

// auditPull records a pull in the audit log, when pulls are logged. The entry goes on the audit
// writer's queue; only a full queue makes the pull wait (back-pressure, never a lost entry).
func (r *Registry) auditPull(ctx context.Context, rt route) {
	if r.audit == nil || !r.audit.LogPulls() {
		return
	}
	resource := rt.name + ":" + rt.reference
	if strings.Contains(rt.reference, ":") {
		resource = rt.name + "@" + rt.reference
	}
	err := r.audit.Record(ctx, audit.Entry{Project: projectOf(rt.name), Operation: audit.OpPull, ResourceType: "artifact", Resource: resource})
	if err != nil {
		r.log.Error("audit: record pull", "resource", resource, "err", err)
	}
}
