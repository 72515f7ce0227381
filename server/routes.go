package server

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/graph"
	"github.com/berth-registry/berth/migrations"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/ui"
)

// routes is the whole HTTP surface.
func (s *Server) routes(res *graph.Resolver) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v2/", registry.CheckUploadRange(s.registry))
	mux.Handle("/v2", s.registry)
	mux.HandleFunc("GET /service/token", s.serveToken)

	maxBody := s.cfg.GraphQLMaxBodyBytes
	if maxBody <= 0 { // a Config not made from Defaults
		maxBody = Defaults().GraphQLMaxBodyBytes
	}
	gql := graph.NewHandler(res, maxBody, s.tracing.GraphQL())
	mux.Handle("/graphql", limitBody(maxBody, "BERTH_GRAPHQL_MAX_BODY_BYTES",
		s.authenticated(res.Loaders(withHTTP(gql)), unavailableGraphQL)))
	mux.Handle("GET /graphiql", playground.Handler("Berth GraphQL", "/graphql"))
	mux.Handle("/api/v2.0/", s.authenticated(newREST(s.log, restServices{
		projects: res.Projects, members: res.Members, artifacts: res.Artifacts, labels: res.Labels, users: res.Users, robots: res.Robots,
		auditLog: res.AuditLog, exports: res.Exports, scans: res.Scans, gc: res.GC, purge: res.Purge, webhooks: res.WebhookPolicies, health: s.componentHealth,
		endpoints: res.Endpoints, replication: res.Replication,
		quotas: res.Quotas, tagRules: res.TagRules, retention: res.Retention}), unavailableREST))

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
	mux.Handle("/", serveUI())
	return s.tracing.Handler(s.instrument(withRequestID(s.securityHeaders(mux))), routeName)
}

// authenticated puts the caller's principal in the request context. Bad credentials are refused
// here, once, with 401; no credentials at all is the anonymous principal. Only identity tokens are
// good outside /v2: a registry token with a scope is refused. Credentials that could not be
// checked (the database is down) are answered by unavailable, in the door's own shape.
func (s *Server) authenticated(next http.Handler, unavailable func(http.ResponseWriter)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, claims, err := s.auth.Authenticate(r.Context(), r)
		if errors.Is(err, auth.ErrUnavailable) {
			s.log.Warn("authenticate: database unavailable", "path", r.URL.Path, "err", err)
			unavailable(w)
			return
		}
		if err == nil && claims != nil && (len(claims.Access) > 0 || p.Kind == auth.KindScanner) {
			err = errors.New("this token is scoped to the registry: use an identity token (GET /service/token without a scope) or Basic credentials")
		}
		var throttled *auth.ThrottledError
		if errors.As(err, &throttled) {
			w.Header().Set("Retry-After", strconv.Itoa(auth.RetryAfterSeconds(throttled.RetryAfter)))
			writeError(w, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", err.Error())
			return
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// withHTTP lets resolvers reach the response (for cookies) and the request.
func withHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &outageWriter{ResponseWriter: rw}
		ctx := graph.WithRequest(graph.WithResponseWriter(r.Context(), w), r)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// serveReady answers 200 when the database answers and every migration has been applied.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	pending, err := migrations.Pending(ctx, s.pool)
	if err != nil || len(pending) > 0 {
		http.Error(w, "migrations pending", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// serveUI serves the embedded dashboard; any path that is not a file gets index.html, so that
// the dashboard's own routes survive a reload.
func serveUI() http.Handler {
	files := ui.Files()
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ui.Built() {
			http.Error(w, "The dashboard is not built into this binary: run `make build`.", http.StatusNotFound)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if st, err := fs.Stat(files, name); name == "" || err != nil || st.IsDir() {
			r = r.Clone(r.Context())
			r.URL.Path = "/"
		} else if strings.HasPrefix(name, "assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable") // content-hashed names
		}
		fileServer.ServeHTTP(w, r)
	})
}

var requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Namespace: "berth", Name: "http_request_duration_seconds",
	Help:    "HTTP requests by API, method and status.",
	Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
}, []string{"api", "method", "code"})

// instrument records every request's duration and logs failures.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			r = r.WithContext(auth.WithSourceIP(r.Context(), host))
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		api := apiOf(r.URL.Path)
		requestDuration.WithLabelValues(api, r.Method, http.StatusText(rec.status)).Observe(time.Since(start).Seconds())
		if rec.status >= 500 {
			s.log.WarnContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", rec.status, "request_id", rec.Header().Get(RequestIDHeader))
		} else if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
		}
	})
}

func apiOf(p string) string {
	for _, prefix := range []string{"/v2", "/graphql", "/api", "/service"} {
		if strings.HasPrefix(p, prefix) {
			return strings.TrimPrefix(prefix, "/")
		}
	}
	return "other"
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (WebSocket upgrades need it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack lets the WebSocket transport take over the connection.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// Flush passes streaming responses through.
func (r *statusRecorder) Flush() { _ = http.NewResponseController(r.ResponseWriter).Flush() }
