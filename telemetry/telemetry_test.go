package telemetry_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/berth-registry/berth/telemetry"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := telemetry.Defaults()
	ok.Exporter, ok.Endpoint, ok.SampleRatio = telemetry.ExporterOTLPHTTP, "https://collector:4318/v1/traces", 0.1
	for name, c := range map[string]telemetry.Config{
		"defaults": telemetry.Defaults(),
		"otlp":     ok,
		"host":     {Exporter: telemetry.ExporterJaeger, Endpoint: "jaeger:4317", SampleRatio: 0, ServiceName: "b"},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, c := range map[string]telemetry.Config{
		"exporter": {Exporter: "zipkin", ServiceName: "b"},
		"ratio":    {Exporter: telemetry.ExporterOTLPGRPC, SampleRatio: 1.5, ServiceName: "b"},
		"negative": {Exporter: telemetry.ExporterOTLPGRPC, SampleRatio: -0.1, ServiceName: "b"},
		"service":  {Exporter: telemetry.ExporterOTLPGRPC, SampleRatio: 1},
		"endpoint": {Exporter: telemetry.ExporterOTLPHTTP, Endpoint: "ftp://x", SampleRatio: 1, ServiceName: "b"},
		"no host":  {Exporter: telemetry.ExporterOTLPHTTP, Endpoint: "http://", SampleRatio: 1, ServiceName: "b"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: %+v accepted", name, c)
		}
	}
}

func TestParsePairsNeverEchoesValues(t *testing.T) {
	t.Parallel()
	got, err := telemetry.ParsePairs(" x-api-key = s3cret=x , tenant=a,")
	if err != nil || len(got) != 2 || got["x-api-key"] != "s3cret=x" || got["tenant"] != "a" {
		t.Fatalf("ParsePairs = %v, %v", got, err)
	}
	if _, err := telemetry.ParsePairs("authorization s3cret"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a malformed pair: %v", err)
	}
}

// Off costs nothing: every wrapper hands back what it was given and every hook is nil.
func TestOffInstallsNothing(t *testing.T) {
	t.Parallel()
	tr, err := telemetry.New(context.Background(), telemetry.Defaults(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	h := http.NewServeMux()
	if tr.Enabled() || tr.QueryTracer() != nil || tr.RiverMiddleware() != nil || tr.GraphQL() != nil {
		t.Fatal("an off Tracing made instrumentation")
	}
	if got := tr.Handler(h, func(*http.Request) string { return "x" }); got != http.Handler(h) {
		t.Fatal("an off Tracing wrapped the HTTP handler")
	}
	var nilTracing *telemetry.Tracing
	if nilTracing.Enabled() || nilTracing.Transport(http.DefaultTransport) != http.DefaultTransport {
		t.Fatal("a nil Tracing is not off")
	}
}

func TestLogHandlerAddsTraceAndSpanIDs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewTextHandler(&buf, nil))).With("part", "test")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	log.InfoContext(ctx, "inside")
	span.End()
	log.Info("outside")
	unsampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}}))
	log.InfoContext(unsampled, "unsampled")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	sc := span.SpanContext()
	if !strings.Contains(lines[0], "trace_id="+sc.TraceID().String()) || !strings.Contains(lines[0], "span_id="+sc.SpanID().String()) ||
		!strings.Contains(lines[0], "part=test") {
		t.Errorf("inside a span: %s", lines[0])
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "trace_id") {
			t.Errorf("outside a sampled span: %s", l)
		}
	}
}

// A collector that is down delays no start: the exporters connect lazily, and every hook exists.
func TestOnWithCollectorDown(t *testing.T) {
	t.Parallel()
	for _, exporter := range []string{telemetry.ExporterOTLPGRPC, telemetry.ExporterOTLPHTTP, telemetry.ExporterJaeger} {
		cfg := telemetry.Defaults()
		cfg.Exporter, cfg.Endpoint, cfg.Insecure = exporter, "127.0.0.1:1", true
		tr, err := telemetry.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatalf("%s: %v", exporter, err)
		}
		if !tr.Enabled() || tr.QueryTracer() == nil || tr.RiverMiddleware() == nil || tr.GraphQL() == nil ||
			tr.Transport(http.DefaultTransport) == http.DefaultTransport {
			t.Errorf("%s: an instrumentation hook is missing", exporter)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = tr.Shutdown(ctx) // the buffered spans cannot go anywhere
		cancel()
	}
}
