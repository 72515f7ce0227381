package graph

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/berth-registry/berth/auth"
)

// Limits that keep one operation from costing the server too much. Every one is checked on the
// parsed operation, with its variables, before any resolver runs.
const (
	// MaxDepth is how deeply fields may nest.
	MaxDepth = 12
	// MaxComplexity bounds an operation's cost: every field costs 1, and a field that returns a
	// page costs its page size (first or last, defaultPage when neither is given) times what is
	// selected under it, at every level; a list that is not paged counts as listFactor items.
	// A nested connection therefore costs its first times its children.
	MaxComplexity = 5000
	// MaxFields bounds how many fields one operation selects (fragments counted where spread),
	// and MaxAliases how many of them carry an alias: an alias flood is refused before it runs.
	MaxFields  = 500
	MaxAliases = 50
	// MaxTokens bounds what the parser reads of one query.
	MaxTokens = 10000
	// listFactor is the size assumed for a list that has no page arguments.
	listFactor = 10
)

// operationLimits refuses operations that are too deep, too costly, too wide or that ask for a
// page larger than maxPage anywhere, and turns introspection on for signed-in callers only.
type operationLimits struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = operationLimits{}

func (operationLimits) ExtensionName() string                   { return "OperationLimits" }
func (operationLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (operationLimits) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	// The schema is no secret (it ships with the source), but an anonymous caller has no use for
	// a map of it either.
	oc.DisableIntrospection = !auth.PrincipalFrom(ctx).Authenticated()
	if oc.Operation == nil {
		return nil
	}
	w := &limitWalker{vars: oc.Variables}
	cost := w.cost(oc.Operation.SelectionSet, 0, false)
	switch {
	case w.err != nil:
		return w.err
	case w.depth > MaxDepth:
		return limitError("DEPTH_LIMIT_EXCEEDED", "query is nested %d levels deep; the limit is %d", w.depth, MaxDepth)
	case w.fields > MaxFields:
		return limitError("FIELD_LIMIT_EXCEEDED", "query selects %d fields; the limit is %d", w.fields, MaxFields)
	case w.aliases > MaxAliases:
		return limitError("ALIAS_LIMIT_EXCEEDED", "query uses %d aliases; the limit is %d", w.aliases, MaxAliases)
	case cost > MaxComplexity:
		return limitError("COMPLEXITY_LIMIT_EXCEEDED",
			"operation has complexity %d, which exceeds the limit of %d: ask for smaller pages, or fewer nested lists", cost, MaxComplexity)
	}
	for _, name := range w.defaultVars {
		if oc.Variables == nil {
			oc.Variables = map[string]any{}
		}
		oc.Variables[name] = int64(defaultPage)
	}
	return nil
}

func limitError(code, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	errcode.Set(err, code)
	return err
}

// limitWalker measures an operation in one pass.
type limitWalker struct {
	vars                   map[string]any
	depth, fields, aliases int
	err                    *gqlerror.Error
	defaultVars            []string // page-size variables that are null where neither first nor last is given
}

// cost returns what set costs once; level is how deep it is, inConnection whether it is the
// selection of a connection (whose edges and nodes lists are the page already counted).
func (w *limitWalker) cost(set ast.SelectionSet, level int, inConnection bool) int {
	if level > 64 || w.err != nil {
		w.depth = max(w.depth, level)
		return 0 // a fragment cycle (validation refuses it) or already refused
	}
	total := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			w.fields++
			if s.Alias != "" && s.Alias != s.Name {
				w.aliases++
			}
			w.depth = max(w.depth, level+1)
			if s.Definition == nil || strings.HasPrefix(s.Name, "__") {
				// Introspection reads the schema in memory: its depth and width count, its lists do not.
				w.cost(s.SelectionSet, level+1, true)
				total = saturate(total, 1)
				continue
			}
			connection := strings.HasSuffix(s.Definition.Type.Name(), "Connection")
			mult := 1
			if page, paged := w.pageSize(s); paged {
				mult = page
			} else if s.Definition.Type.Elem != nil && len(s.SelectionSet) > 0 && !inConnection {
				mult = listFactor
			}
			children := w.cost(s.SelectionSet, level+1, connection)
			total = saturate(total, saturate(1, multiply(mult, children)))
		case *ast.InlineFragment:
			total = saturate(total, w.cost(s.SelectionSet, level, inConnection))
		case *ast.FragmentSpread:
			if s.Definition != nil {
				total = saturate(total, w.cost(s.Definition.SelectionSet, level, inConnection))
			}
		}
	}
	return total
}

// pageSize reads a field's first/last: the page it asks for, and whether the field is paged at
// all. A size out of range is refused here for every level alike (resolvers of top-level lists
// check it too).
func (w *limitWalker) pageSize(f *ast.Field) (int, bool) {
	if f.Definition.Arguments.ForName("first") == nil && f.Definition.Arguments.ForName("last") == nil {
		return 0, false
	}
	args := f.ArgumentMap(w.vars)
	size, given := 0, false
	for _, name := range []string{"first", "last"} {
		v, ok := args[name]
		if !ok || v == nil {
			continue
		}
		n, ok := toInt(v)
		if !ok || n < 0 || n > maxPage {
			if w.err == nil {
				w.err = limitError("BAD_USER_INPUT", "page size %v is out of range: ask for 0 to %d items", v, maxPage)
			}
			return 0, true
		}
		size, given = max(size, n), true
	}
	if !given {
		size = defaultPage
		// Written as variables that are null: the variable gets the default page for this request.
		if arg := f.Arguments.ForName("first"); arg != nil && arg.Value != nil && arg.Value.Kind == ast.Variable {
			w.defaultVars = append(w.defaultVars, arg.Value.Raw)
		}
	}
	return size, true
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), n >= -1<<31 && n < 1<<31
	case float64:
		return int(n), n == float64(int(n))
	}
	var out int
	if _, err := fmt.Sscan(fmt.Sprint(v), &out); err != nil {
		return 0, false
	}
	return out, true
}

// saturate and multiply never overflow: an attacker's numbers stop at the ceiling.
func saturate(a, b int) int {
	if a > 1<<40 || b > 1<<40 {
		return 1 << 41
	}
	return a + b
}

func multiply(a, b int) int {
	if a != 0 && b > (1<<41)/a {
		return 1 << 41
	}
	return a * b
}

// pageDefaults is the query cache, which first gives every paged field of a new document that
// names neither first nor last "first: defaultPage", so that no list returns a whole table: ent's
// generated resolvers load nested connections ahead, by the arguments written in the document.
// The document is still the parsing request's own when Add is called, so changing it races with
// nothing; later requests get it from the cache as changed.
type pageDefaults struct {
	graphql.Cache[*ast.QueryDocument]
}

// Add defaults the document's page sizes, then caches it.
func (c pageDefaults) Add(ctx context.Context, key string, doc *ast.QueryDocument) {
	for _, op := range doc.Operations {
		defaultFirst(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		defaultFirst(f.SelectionSet)
	}
	c.Cache.Add(ctx, key, doc)
}

func defaultFirst(set ast.SelectionSet) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Definition != nil && s.Definition.Arguments.ForName("first") != nil && s.Definition.Arguments.ForName("last") != nil &&
				s.Arguments.ForName("first") == nil && s.Arguments.ForName("last") == nil {
				s.Arguments = append(s.Arguments, &ast.Argument{Name: "first", Position: s.Position,
					Value: &ast.Value{Kind: ast.IntValue, Raw: strconv.Itoa(defaultPage), Position: s.Position}})
			}
			defaultFirst(s.SelectionSet)
		case *ast.InlineFragment:
			defaultFirst(s.SelectionSet)
		}
	}
}
