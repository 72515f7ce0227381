package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The handler samples new traces at the ratio, follows a caller's sampled trace whatever the
// ratio, and hands an unsampled request an unsampled span context, so nothing below records.
func TestHandlerSampling(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name        string
		ratio       float64
		traceparent string
		recorded    bool
	}{
		{"ratio 1", 1, "", true},
		{"ratio 0", 0, "", false},
		{"ratio 0, sampled caller", 0, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", true},
		{"ratio 1, unsampled caller", 1, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			spans := tracetest.NewInMemoryExporter()
			tr := &Tracing{sdk: sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler(c.ratio)), sdktrace.WithSyncer(spans)),
				propagator: propagation.TraceContext{}, ratio: c.ratio}
			var inner trace.SpanContext
			var recording bool
			h := tr.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				inner = trace.SpanContextFromContext(r.Context())
				// What a query or a storage call below would do.
				_, child := tr.sdk.Tracer("below").Start(r.Context(), "child")
				recording = child.IsRecording()
				child.End()
			}), func(*http.Request) string { return "GET /x" })
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			if c.traceparent != "" {
				req.Header.Set("traceparent", c.traceparent)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if !inner.IsValid() || inner.IsSampled() != c.recorded || recording != c.recorded {
				t.Fatalf("inside: %v sampled %v, child recording %v; want sampled %v", inner.IsValid(), inner.IsSampled(), recording, c.recorded)
			}
			if c.traceparent != "" && inner.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
				t.Errorf("the caller's trace was not continued: %s", inner.TraceID())
			}
			if got := len(spans.GetSpans()); c.recorded && got != 2 || !c.recorded && got != 0 {
				t.Errorf("%d spans exported", got)
			}
		})
	}
}
