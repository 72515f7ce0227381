package graph

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/berth-registry/berth/auth"
)

// loginLimit refuses an operation that asks for more than one login: the failed-login throttle
// counts requests' attempts one by one, and aliases (a: login(…) b: login(…)) would otherwise
// let one request try hundreds of passwords before the first failure is counted.
type loginLimit struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = loginLimit{}

func (loginLimit) ExtensionName() string                   { return "LoginLimit" }
func (loginLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (loginLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return nil
	}
	if n := countLogins(oc.Operation.SelectionSet, 0); n > 1 {
		err := gqlerror.Errorf("this request asks for %d logins: send one login per request", n)
		errcode.Set(err, "BAD_USER_INPUT")
		return err
	}
	return nil
}

// countLogins counts the login fields of a mutation's selection set, through fragments.
func countLogins(set ast.SelectionSet, seen int) int {
	if seen > 64 {
		return 0 // a fragment cycle; validation reports it
	}
	n := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "login" {
				n++
			}
		case *ast.InlineFragment:
			n += countLogins(s.SelectionSet, seen+1)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				n += countLogins(s.Definition.SelectionSet, seen+1)
			}
		}
	}
	return n
}

// setRetryAfter sets the Retry-After header of the HTTP answer when err is a throttled login, as
// the token service and REST do with their 429.
func setRetryAfter(ctx context.Context, err error) {
	var throttled *auth.ThrottledError
	w, ok := ctx.Value(responseWriterKey{}).(http.ResponseWriter)
	if ok && errors.As(err, &throttled) {
		w.Header().Set("Retry-After", strconv.Itoa(auth.RetryAfterSeconds(throttled.RetryAfter)))
	}
}
