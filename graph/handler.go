package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/graph/generated"
)

// Limits that keep one query from costing the server too much.
const (
	MaxDepth      = 12
	MaxComplexity = 5000
)

// NewHandler returns the GraphQL endpoint: POST and GET queries, WebSocket subscriptions
// (graphql-transport-ws) on the same path. The caller must have put the principal in the request
// context (auth.WithPrincipal).
func NewHandler(res *Resolver) http.Handler {
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: res}))
	// The default WebSocket implementation accepts pages from Berth's own origin and clients that
	// send no Origin (scripts); a page on another site cannot subscribe with the user's cookie.
	srv.AddTransport(transport.Websocket{KeepAlivePingInterval: 10 * time.Second})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{UseGrapQLResponseJsonByDefault: true})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.FixedComplexityLimit(MaxComplexity))
	srv.Use(depthLimit{max: MaxDepth})
	srv.SetErrorPresenter(func(ctx context.Context, err error) *gqlerror.Error { return presentError(ctx, err, res.Log) })
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		res.Log.Error("graphql: panic in resolver", "panic", p)
		return errors.New("internal server error")
	})
	return srv
}

// presentError gives every error a stable extensions.code, and hides internal errors: the client
// gets "internal server error", the log gets the cause.
func presentError(ctx context.Context, err error, log *slog.Logger) *gqlerror.Error {
	gqlErr := graphql.DefaultErrorPresenter(ctx, err)
	var userErr *UserError
	switch {
	case auth.IsUnavailable(err):
		// Not the caller's fault and not an internal bug: say so, and have the HTTP answer be a
		// 503 with Retry-After (the server's response writer does that when asked).
		setCode(gqlErr, "UNAVAILABLE")
		gqlErr.Message = auth.ErrUnavailable.Error()
		if w, ok := ctx.Value(responseWriterKey{}).(interface{ MarkUnavailable() }); ok {
			w.MarkUnavailable()
		}
		log.Warn("graphql: database unavailable", "path", gqlErr.Path.String(), "err", err)
	case errors.Is(err, auth.ErrUnauthenticated), errors.Is(err, auth.ErrBadCredentials):
		setCode(gqlErr, "UNAUTHENTICATED")
	case errors.Is(err, auth.ErrForbidden):
		setCode(gqlErr, "FORBIDDEN")
	case errors.As(err, &userErr):
		setCode(gqlErr, userErr.Code)
		gqlErr.Message = userErr.Message
	case ent.IsNotFound(err):
		setCode(gqlErr, "NOT_FOUND")
		gqlErr.Message = "not found"
	case ent.IsValidationError(err):
		setCode(gqlErr, "BAD_USER_INPUT")
	case ent.IsConstraintError(err):
		setCode(gqlErr, "CONFLICT")
		gqlErr.Message = "conflicts with an existing object"
	default:
		var already *gqlerror.Error
		if errors.As(err, &already) {
			return gqlErr // parse and validation errors from gqlgen say what is wrong already
		}
		setCode(gqlErr, "INTERNAL")
		gqlErr.Message = "internal server error"
		log.Error("graphql: resolver failed", "path", gqlErr.Path.String(), "err", err)
	}
	return gqlErr
}

func setCode(e *gqlerror.Error, code string) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = code
}

// UserError is an error whose message is meant for the caller: bad input, a refused operation.
type UserError struct {
	Code    string // BAD_USER_INPUT, NOT_FOUND, CONFLICT, …
	Message string
}

func (e *UserError) Error() string { return e.Message }

func badInput(format string, args ...any) error {
	return &UserError{Code: "BAD_USER_INPUT", Message: fmt.Sprintf(format, args...)}
}

func notFound(what string) error {
	return &UserError{Code: "NOT_FOUND", Message: what + " not found"}
}

func conflict(format string, args ...any) error {
	return &UserError{Code: "CONFLICT", Message: fmt.Sprintf(format, args...)}
}

// depthLimit refuses operations nested deeper than max fields.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, 0); depth > d.max {
		// A code like the complexity limit's, so clients can tell this refusal apart.
		err := gqlerror.Errorf("query is nested %d levels deep; the limit is %d", depth, d.max)
		errcode.Set(err, "DEPTH_LIMIT_EXCEEDED")
		return err
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, seen int) int {
	if seen > 64 {
		return seen // a fragment cycle; validation reports it
	}
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			d = 1 + selectionDepth(s.SelectionSet, seen+1)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, seen+1)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = selectionDepth(s.Definition.SelectionSet, seen+1)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}
