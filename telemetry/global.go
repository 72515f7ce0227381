package telemetry

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// The embedded Distribution traces through OpenTelemetry's global provider, and a tracer taken
// from it before one is installed stays bound to the first provider ever installed. So Berth
// installs one provider of its own, once: a span started through it goes to the provider of its
// parent span (the request or job it belongs to, whichever server in the process made that), and
// a span without a parent to the provider installed last. This is the only process-wide state
// the package keeps, and it exists because OpenTelemetry's does.
var (
	installGlobal sync.Once
	lastProvider  atomic.Pointer[trace.TracerProvider]
)

// install makes tp the provider for spans started through the global one without a parent.
func install(tp trace.TracerProvider) {
	lastProvider.Store(&tp)
	installGlobal.Do(func() { otel.SetTracerProvider(followParent{}) })
}

// uninstall forgets tp if it is still the one installed last.
func uninstall(tp trace.TracerProvider) {
	if cur := lastProvider.Load(); cur != nil && *cur == tp {
		lastProvider.CompareAndSwap(cur, nil)
	}
}

type followParent struct{ embedded.TracerProvider }

func (followParent) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return followParentTracer{name: name, opts: opts}
}

type followParentTracer struct {
	embedded.Tracer
	name string
	opts []trace.TracerOption
}

func (t followParentTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	var tp trace.TracerProvider = tracenoop.NewTracerProvider()
	if parent := trace.SpanFromContext(ctx); parent.SpanContext().IsValid() {
		tp = parent.TracerProvider()
	} else if last := lastProvider.Load(); last != nil {
		tp = *last
	}
	return tp.Tracer(t.name, t.opts...).Start(ctx, name, opts...)
}
