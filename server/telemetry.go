package server

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/cache"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/worker"
)

// metricsRegistry is the registry /metrics serves. It remembers what was registered on it, so that
// the names it can serve can be listed: the shipped dashboard and alert rules are checked against
// them.
type metricsRegistry struct {
	*prometheus.Registry
	mu         sync.Mutex
	collectors []prometheus.Collector
}

// Register implements prometheus.Registerer.
func (r *metricsRegistry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
	return nil
}

// MustRegister implements prometheus.Registerer.
func (r *metricsRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// names are the metric names r's collectors describe (a histogram's without _bucket, _sum, _count).
func (r *metricsRegistry) names() []string {
	r.mu.Lock()
	cs := slices.Clone(r.collectors)
	r.mu.Unlock()
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range cs {
			c.Describe(ch)
		}
		close(ch)
	}()
	var out []string
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MetricNames are the names of every metric this server's /metrics can serve.
func (s *Server) MetricNames() []string { return s.metrics.names() }

// newMetrics is the registry /metrics serves: the process's own (Go runtime, process), each
// part's, the database pool's and River's backlog. Parts built later (the event bus, jobs) register on it as
// they are made.
func newMetrics(pool *pgxpool.Pool) (*metricsRegistry, error) {
	reg := &metricsRegistry{Registry: prometheus.NewRegistry()}
	cs := []prometheus.Collector{
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		requestDuration, dbQueries, poolCollector{pool}, worker.NewQueueCollector(pool),
	}
	cs = append(cs, auth.Collectors()...)
	cs = append(cs, cache.Collectors()...)
	cs = append(cs, audit.Collectors()...)
	cs = append(cs, registry.Collectors()...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// restAreas are the first path segments of the REST API, which name its spans.
var restAreas = map[string]bool{"users": true, "projects": true, "export": true, "robots": true}

// routeName names a request's span by its route, never by the names, digests and ids in its path
// (a trace backend indexes span names). "" leaves the request untraced: health checks and
// metrics scrapes.
func routeName(r *http.Request) string {
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = "OTHER"
	}
	p := r.URL.Path
	switch {
	case p == "/healthz" || p == "/readyz" || p == "/metrics":
		return ""
	case p == "/v2" || p == "/v2/":
		return method + " /v2/"
	case strings.HasPrefix(p, "/v2/"):
		return method + " " + registryRoute(p)
	case p == "/graphql" || p == "/graphiql" || p == "/service/token":
		return method + " " + p
	case strings.HasPrefix(p, "/api/v2.0/"):
		area, _, _ := strings.Cut(strings.TrimPrefix(p, "/api/v2.0/"), "/")
		if !restAreas[area] {
			return method + " /api/v2.0/{other}"
		}
		return method + " /api/v2.0/" + area
	default:
		return method + " /{dashboard}"
	}
}

// registryRoute is the OCI distribution route of a /v2/ path.
func registryRoute(p string) string {
	if p == "/v2/_catalog" {
		return p
	}
	for _, r := range []struct{ marker, route string }{
		{"/blobs/uploads/", "/v2/{name}/blobs/uploads/{session}"},
		{"/manifests/", "/v2/{name}/manifests/{reference}"},
		{"/blobs/", "/v2/{name}/blobs/{digest}"},
		{"/referrers/", "/v2/{name}/referrers/{digest}"},
	} {
		if i := strings.LastIndex(p, r.marker); i >= 0 {
			if r.marker == "/blobs/uploads/" && i+len(r.marker) == len(p) {
				return "/v2/{name}/blobs/uploads/"
			}
			return r.route
		}
	}
	if strings.HasSuffix(p, "/tags/list") {
		return "/v2/{name}/tags/list"
	}
	return "/v2/{other}"
}
