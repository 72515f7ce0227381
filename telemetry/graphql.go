package telemetry

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// GraphQL is the gqlgen extension that traces GraphQL: a span per operation ("query exports",
// "mutation startExport") and a child span per field that runs a resolver; fields read straight off
// an object make none. Nil when off.
func (t *Tracing) GraphQL() graphql.HandlerExtension {
	if !t.Enabled() {
		return nil
	}
	return graphqlTracer{tracer: t.sdk.Tracer("github.com/berth-registry/berth/graph")}
}

type graphqlTracer struct {
	tracer trace.Tracer
}

var (
	_ graphql.HandlerExtension     = graphqlTracer{}
	_ graphql.OperationInterceptor = graphqlTracer{}
	_ graphql.FieldInterceptor     = graphqlTracer{}
)

func (graphqlTracer) ExtensionName() string { return "Tracing" }

func (graphqlTracer) Validate(graphql.ExecutableSchema) error { return nil }

// maxNameLen caps the client-chosen operation name in a span name.
const maxNameLen = 64

func (g graphqlTracer) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	kind := "query"
	if oc.Operation != nil {
		kind = string(oc.Operation.Operation)
	}
	name := oc.OperationName
	if name == "" && oc.Operation != nil {
		name = oc.Operation.Name
	}
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	spanName := kind
	if name != "" {
		spanName += " " + name
	}
	ctx, span := g.tracer.Start(ctx, spanName, trace.WithAttributes(
		attribute.String("graphql.operation.type", kind), attribute.String("graphql.operation.name", name)))
	if kind == string(ast.Subscription) {
		// A subscription lives as long as its connection: its span covers setting it up, and
		// what each event does is traced where it happens.
		defer span.End()
		return next(ctx)
	}
	rh := next(ctx)
	var once sync.Once
	return func(ctx context.Context) *graphql.Response {
		// The fields run in the context handed to the response handler, not the one above:
		// the operation's span is their parent too.
		resp := rh(trace.ContextWithSpan(ctx, span))
		once.Do(func() {
			if resp != nil && len(resp.Errors) > 0 {
				span.SetStatus(codes.Error, resp.Errors[0].Message)
			}
			span.End()
		})
		return resp
	}
}

func (g graphqlTracer) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !fc.IsResolver {
		return next(ctx)
	}
	ctx, span := g.tracer.Start(ctx, fc.Object+"."+fc.Field.Name, trace.WithAttributes(
		attribute.String("graphql.field.path", fc.Path().String())))
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return res, err
}
