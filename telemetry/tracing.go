package telemetry

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strings"
	"unicode"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Tracing is the tracer provider one process sends its spans through, and the instrumentation
// built on it. A nil *Tracing, and one made from a Config with no exporter, is off: its wrappers
// return what they are given and its hooks are nil.
type Tracing struct {
	sdk        *sdktrace.TracerProvider
	propagator propagation.TextMapPropagator
	ratio      float64
}

// New builds the tracer provider cfg describes and installs it behind the global provider (the
// embedded Distribution emits its storage spans through the global one; see install), with the
// W3C trace-context and baggage propagators. With no exporter it installs nothing and returns an
// off Tracing. The binary's module version becomes service.version. Export failures are logged
// through log.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Tracing, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return &Tracing{}, nil
	}
	exp, err := exporter(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("trace exporter %s: %w", cfg.Exporter, err)
	}
	version := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	attrs := []attribute.KeyValue{
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.version", version),
	}
	if cfg.Namespace != "" {
		attrs = append(attrs, attribute.String("service.namespace", cfg.Namespace))
	}
	for k, v := range cfg.Attributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithHost(), resource.WithAttributes(attrs...))
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	t := &Tracing{
		sdk: sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(exp),
			sdktrace.WithResource(res),
			sdktrace.WithSampler(sampler(cfg.SampleRatio)),
		),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		ratio:      cfg.SampleRatio,
	}
	install(t.sdk)
	otel.SetTextMapPropagator(t.propagator)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing: export failed", "err", err) }))
	return t, nil
}

// exporter is the OTLP exporter cfg names; jaeger is OTLP over gRPC. It connects lazily: a
// collector that is down delays no start.
func exporter(ctx context.Context, cfg Config) (*otlptrace.Exporter, error) {
	if cfg.Exporter == ExporterOTLPHTTP {
		return otlptracehttp.New(ctx, exporterOptions(cfg, otlptracehttp.WithEndpointURL, otlptracehttp.WithEndpoint,
			otlptracehttp.WithInsecure, otlptracehttp.WithHeaders)...)
	}
	return otlptracegrpc.New(ctx, exporterOptions(cfg, otlptracegrpc.WithEndpointURL, otlptracegrpc.WithEndpoint,
		otlptracegrpc.WithInsecure, otlptracegrpc.WithHeaders)...)
}

// exporterOptions turns cfg into the options of either OTLP exporter, which spell them alike.
func exporterOptions[O any](cfg Config, endpointURL, endpoint func(string) O, insecure func() O, headers func(map[string]string) O) []O {
	var opts []O
	switch {
	case strings.Contains(cfg.Endpoint, "://"):
		opts = append(opts, endpointURL(cfg.Endpoint))
	case cfg.Endpoint != "":
		opts = append(opts, endpoint(cfg.Endpoint))
	}
	if cfg.Insecure {
		opts = append(opts, insecure())
	}
	if len(cfg.Headers) > 0 {
		opts = append(opts, headers(cfg.Headers))
	}
	return opts
}

// Enabled reports whether spans are recorded and sent.
func (t *Tracing) Enabled() bool { return t != nil && t.sdk != nil }

// Provider is the tracer provider: the SDK's, or a no-op one when off.
func (t *Tracing) Provider() trace.TracerProvider {
	if !t.Enabled() {
		return tracenoop.NewTracerProvider()
	}
	return t.sdk
}

// Shutdown sends the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	uninstall(t.sdk)
	return t.sdk.Shutdown(ctx)
}

// ForceFlush sends the spans buffered so far.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.sdk.ForceFlush(ctx)
}

// Handler wraps the HTTP server: one server span per request, continuing the caller's trace
// if it sent one. route names a request's span by its route ("GET /v2/{name}/blobs/{digest}"),
// never by the ids in its path; a request route names "" is not traced (health checks, metrics).
//
// A request that starts a trace is sampled here, before otelhttp, so that the ones not sampled
// skip its work (attributes, wrapped body and writer) and only carry an unsampled span context,
// which makes everything below them drop its spans too. Sampling at 0.1 then costs little more
// than off.
func (t *Tracing) Handler(next http.Handler, route func(*http.Request) string) http.Handler {
	if !t.Enabled() {
		return next
	}
	traced := otelhttp.NewHandler(next, "http",
		otelhttp.WithTracerProvider(t.sdk), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPropagators(t.propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return route(r) }))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if route(r) == "" {
			next.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Traceparent") != "" { // the caller's trace decides (parent-based)
			traced.ServeHTTP(w, r)
			return
		}
		if rand.Float64() >= t.ratio {
			next.ServeHTTP(w, r.WithContext(trace.ContextWithSpanContext(r.Context(), unsampled())))
			return
		}
		traced.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sampledKey{}, true)))
	})
}

// sampledKey marks a request context whose new trace Handler has already chosen to sample.
type sampledKey struct{}

// sampler is parent-based ratio sampling, except for the roots Handler has already sampled.
func sampler(ratio float64) sdktrace.Sampler {
	return decided{ratio: sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))}
}

type decided struct{ ratio sdktrace.Sampler }

func (s decided) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if sampled, _ := p.ParentContext.Value(sampledKey{}).(bool); sampled && !trace.SpanContextFromContext(p.ParentContext).IsValid() {
		return sdktrace.AlwaysSample().ShouldSample(p)
	}
	return s.ratio.ShouldSample(p)
}

func (s decided) Description() string { return "BerthSampler{" + s.ratio.Description() + "}" }

// unsampled is a new trace's span context that is not sampled: what the SDK would give a request
// it dropped, without the span.
func unsampled() trace.SpanContext {
	var tid trace.TraceID
	var sid trace.SpanID
	binary.LittleEndian.PutUint64(tid[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(tid[8:], rand.Uint64())
	binary.LittleEndian.PutUint64(sid[:], rand.Uint64()|1) // never all zero
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid})
}

// Transport wraps an outgoing HTTP transport (webhooks, scanner adapters): one client span per
// request, and the trace context sent along. The transport underneath still dials as it did
// (egress policy included).
func (t *Tracing) Transport(rt http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return rt
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(t.sdk), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPropagators(t.propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "HTTP " + r.Method }))
}

// QueryTracer is pgx's tracer: a span for each query, batch, copy and connect made within a traced
// operation (the statement is recorded, its arguments never). Nil when off.
func (t *Tracing) QueryTracer() pgx.QueryTracer {
	if !t.Enabled() {
		return nil
	}
	return otelpgx.NewTracer(otelpgx.WithTracerProvider(t.sdk), otelpgx.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelpgx.WithTrimSQLInSpanName(), otelpgx.WithSpanNameFunc(sqlName))
}

// sqlName names a statement's span: River's statements by the name their generator gave them
// ("-- name: JobGetAvailable :many" becomes JobGetAvailable), the others by their first word
// (SELECT, INSERT, BEGIN).
func sqlName(stmt string) string {
	stmt = strings.TrimSpace(stmt)
	for strings.HasPrefix(stmt, "--") {
		line, rest, _ := strings.Cut(stmt, "\n")
		if name, ok := strings.CutPrefix(line, "-- name: "); ok {
			if f := strings.Fields(name); len(f) > 0 {
				return f[0]
			}
		}
		stmt = strings.TrimSpace(rest)
	}
	if end := strings.IndexFunc(stmt, unicode.IsSpace); end >= 0 {
		stmt = stmt[:end]
	}
	if stmt == "" {
		return "SQL"
	}
	return strings.ToUpper(stmt)
}

// InstrumentRedis adds a span for each Redis command made within a traced operation (commands
// only, never their values: the cache holds access decisions).
func (t *Tracing) InstrumentRedis(c redis.UniversalClient) error {
	if !t.Enabled() {
		return nil
	}
	return redisotel.InstrumentTracing(c, redisotel.WithTracerProvider(childOnly{tp: t.sdk}), redisotel.WithDBStatement(false))
}

// RiverMiddleware traces job inserts and work: the trace context of the inserting request goes
// into the job's metadata, and the span that works the job links back to it. Nil when off.
func (t *Tracing) RiverMiddleware() rivertype.Middleware {
	if !t.Enabled() {
		return nil
	}
	return otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
		TracerProvider: t.sdk, MeterProvider: metricnoop.NewMeterProvider(),
		EnableTracePropagation: true, EnableWorkSpanJobKindSuffix: true,
	})
}

// childOnly is a tracer provider whose spans exist only inside a recorded span: background
// polling (a cache's Redis commands between requests) makes no traces of its own.
type childOnly struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (p childOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childOnlyTracer{t: p.tp.Tracer(name, opts...)}
}

type childOnlyTracer struct {
	embedded.Tracer
	t trace.Tracer
}

func (t childOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if parent := trace.SpanFromContext(ctx); !parent.IsRecording() {
		return ctx, parent
	}
	return t.t.Start(ctx, name, opts...)
}
