package graph

import (
	"context"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/fault"
)

// maxPage is the largest page a connection returns; a query that asks for no size gets defaultPage.
const (
	maxPage     = 100
	defaultPage = 25
)

// pageSize bounds a connection's first/last so that no query loads a whole table.
func pageSize(first, last *int) (*int, *int, error) {
	for _, n := range []*int{first, last} {
		if n != nil && (*n < 0 || *n > maxPage) {
			return nil, nil, fault.BadInput("page size %d is out of range: ask for 0 to %d items", *n, maxPage)
		}
	}
	if first == nil && last == nil {
		n := defaultPage
		first = &n
	}
	return first, last, nil
}

func (r *Resolver) principal(ctx context.Context) *auth.Principal { return auth.PrincipalFrom(ctx) }

// allow checks a system action: nil if the caller may do it, else the refusal to report.
func (r *Resolver) allow(ctx context.Context, action auth.Action) error {
	return r.Auth.Check(ctx, r.principal(ctx), auth.System, action, "")
}

func (r *Resolver) requireLogin(ctx context.Context) (*auth.Principal, error) {
	p := r.principal(ctx)
	if !p.Authenticated() {
		return nil, auth.ErrUnauthenticated
	}
	return p, nil
}

// authorize checks that the caller may do action in proj. A project the caller may not even see
// is reported as not found, so that its existence does not leak.
func (r *Resolver) authorize(ctx context.Context, proj *ent.Project, action auth.Action) error {
	return r.Projects.Authorize(ctx, proj, action)
}

// projectFor loads a project by id and checks action on it.
func (r *Resolver) projectFor(ctx context.Context, id int, action auth.Action) (*ent.Project, error) {
	return r.Projects.Get(ctx, id, action)
}

// artifactFor loads an artifact with its repository and project and checks action on the project.
func (r *Resolver) artifactFor(ctx context.Context, id int, action auth.Action) (*ent.Artifact, error) {
	return r.Artifacts.Get(ctx, id, action)
}

// orNil is a lookup as a nullable field: what the caller may not see, or what does not exist, is
// null rather than an error.
func orNil[T any](v *T, err error) (*T, error) {
	if fault.IsNotFound(err) {
		return nil, nil
	}
	return v, err
}

// actionNames are actions as the API spells them.
func actionNames(actions []auth.Action) []string {
	out := make([]string, len(actions))
	for i, a := range actions {
		out[i] = string(a)
	}
	return out
}
