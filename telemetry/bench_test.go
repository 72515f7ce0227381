package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkHandler is what the HTTP server span costs a request, at each sampling ratio, with a
// handler that does nothing (spans are recorded and dropped, not exported).
func BenchmarkHandler(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	route := func(*http.Request) string { return "GET /v2/{name}/manifests/{reference}" }
	for _, c := range []struct {
		name  string
		ratio float64
		on    bool
	}{{"off", 0, false}, {"ratio0", 0, true}, {"ratio0.1", 0.1, true}, {"ratio1", 1, true}} {
		b.Run(c.name, func(b *testing.B) {
			t := &Tracing{}
			if c.on {
				t.sdk = sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler(c.ratio)))
				t.propagator, t.ratio = propagation.TraceContext{}, c.ratio
			}
			h := t.Handler(ok, route)
			req := httptest.NewRequest(http.MethodGet, "/v2/library/app/manifests/v1", nil)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
