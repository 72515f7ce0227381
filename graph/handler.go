package graph

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/graph/generated"
)

// NewHandler returns the GraphQL endpoint: POST and GET queries, WebSocket subscriptions
// (graphql-transport-ws) on the same path. The caller must have put the principal in the request
// context (auth.WithPrincipal), and should cap HTTP request bodies (the server does, before this);
// maxMessage caps each WebSocket message the same way. exts (tracing) wrap every operation
// and field, outside Berth's own limits; nil ones are skipped.
func NewHandler(res *Resolver, maxMessage int64, exts ...graphql.HandlerExtension) http.Handler {
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: res}))
	// The default WebSocket implementation accepts pages from Berth's own origin and clients that
	// send no Origin (scripts); a page on another site cannot subscribe with the user's cookie.
	// A message is capped like a request body.
	srv.AddTransport(transport.Websocket{KeepAlivePingInterval: 10 * time.Second, PayloadReadLimit: &maxMessage})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{UseGrapQLResponseJsonByDefault: true})
	srv.SetQueryCache(pageDefaults{lru.New[*ast.QueryDocument](1000)})
	srv.SetParserTokenLimit(MaxTokens)
	// No "Did you mean …?" in validation errors, for anyone: they map the schema for a caller
	// who may not introspect it.
	srv.SetDisableSuggestion(true)
	srv.SetValidationRulesFn(rulesWithoutSuggestions)
	for _, ext := range exts {
		if ext != nil {
			srv.Use(ext)
		}
	}
	srv.Use(operationLimits{})
	srv.Use(loginLimit{})
	srv.SetErrorPresenter(func(ctx context.Context, err error) *gqlerror.Error { return presentError(ctx, err, res.Log) })
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		res.Log.Error("graphql: panic in resolver", "request_id", RequestID(ctx), "panic", p, "stack", string(debug.Stack()))
		return errInternal
	})
	return srv
}

// errInternal stands for a panic: presentError reports it as INTERNAL.
var errInternal = errors.New("internal server error")

// rulesWithoutSuggestions is gqlparser's default validation with every rule that can suggest a
// name swapped for its variant that does not.
func rulesWithoutSuggestions() *rules.Rules {
	r := rules.NewDefaultRules()
	for _, rule := range []core.Rule{
		rules.FieldsOnCorrectTypeRuleWithoutSuggestions, rules.KnownArgumentNamesRuleWithoutSuggestions,
		rules.KnownTypeNamesRuleWithoutSuggestions, rules.ScalarLeafsRuleWithoutSuggestions,
		rules.ValuesOfCorrectTypeRuleWithoutSuggestions,
	} {
		r.RemoveRule(strings.TrimSuffix(rule.Name, "WithoutSuggestions"))
		r.AddRule(rule.Name, rule.RuleFunc)
	}
	return r
}

// presentError gives every error a stable extensions.code. Errors meant for the caller (refusals,
// bad input, not found, the parser's and validator's own messages about the query) keep their
// message; anything else (a database error, a failed parse of stored data, a panic) is logged
// with the request id and reaches the caller as INTERNAL with that id and nothing more.
func presentError(ctx context.Context, err error, log *slog.Logger) *gqlerror.Error {
	gqlErr := graphql.DefaultErrorPresenter(ctx, err)
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		// GraphQL answers 200; the code and retryAfter (seconds) are its 429 and Retry-After.
		setCode(gqlErr, "TOO_MANY_REQUESTS")
		gqlErr.Extensions["retryAfter"] = auth.RetryAfterSeconds(throttled.RetryAfter)
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
	case isFault(err):
		f, _ := fault.As(err)
		setCode(gqlErr, string(f.Kind))
		gqlErr.Message = f.Message
	case ent.IsNotFound(err):
		setCode(gqlErr, "NOT_FOUND")
		gqlErr.Message = "not found"
	case ent.IsValidationError(err):
		setCode(gqlErr, "BAD_USER_INPUT")
	case ent.IsConstraintError(err):
		setCode(gqlErr, "CONFLICT")
		gqlErr.Message = "conflicts with an existing object"
	case deliberate(err):
		// Written by gqlgen, gqlparser or Berth for the caller: it says what is wrong already.
	default:
		id := RequestID(ctx)
		log.Error("graphql: internal error", "request_id", id, "path", gqlErr.Path.String(), "err", err)
		internal := &gqlerror.Error{Message: "internal server error (request id " + id + ")", Path: gqlErr.Path,
			Locations: gqlErr.Locations, Extensions: map[string]any{"code": "INTERNAL", "requestId": id}}
		return internal
	}
	return gqlErr
}

// deliberate reports whether err is a *gqlerror.Error that wraps no other error: one made on
// purpose with a message for the caller. A gqlerror that wraps a resolver's or a scalar's error
// carries that error's text, which may be anything.
func deliberate(err error) bool {
	var g *gqlerror.Error
	if !errors.As(err, &g) || errors.Is(err, errInternal) {
		return false
	}
	for g.Err != nil {
		inner, ok := g.Err.(*gqlerror.Error)
		if !ok {
			return false
		}
		g = inner
	}
	return true
}

func setCode(e *gqlerror.Error, code string) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = code
}

func isFault(err error) bool {
	_, ok := fault.As(err)
	return ok
}
