package graph

import (
	"context"
	"fmt"
	"regexp"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/fault"
)

// maxPage is the largest page a connection returns; a query that asks for no size gets defaultPage.
const (
	maxPage     = 100
	defaultPage = 25
)

// Harbor's naming rules, which scripts and clients already follow.
var (
	projectNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
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
	return r.Auth.Check(ctx, r.principal(ctx), auth.InProjectResource(proj), action, fmt.Sprintf("project %d", proj.ID))
}

// projectFor loads a project by id and checks action on it.
func (r *Resolver) projectFor(ctx context.Context, id int, action auth.Action) (*ent.Project, error) {
	proj, err := r.DB.Project.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("project %d", id))
	}
	if err != nil {
		return nil, err
	}
	return proj, r.authorize(ctx, proj, action)
}

// artifactFor loads an artifact with its repository and checks action on its project.
func (r *Resolver) artifactFor(ctx context.Context, id int, action auth.Action) (*ent.Artifact, error) {
	a, err := r.DB.Artifact.Query().Where(artifactID(id)).WithRepository(func(q *ent.RepositoryQuery) { q.WithProject() }).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("artifact %d", id))
	}
	if err != nil {
		return nil, err
	}
	return a, r.authorize(ctx, a.Edges.Repository.Edges.Project, action)
}

// repositoryFor loads a repository with its project and checks action on the project.
func (r *Resolver) repositoryFor(ctx context.Context, id int, action auth.Action) (*ent.Repository, error) {
	repo, err := r.DB.Repository.Query().Where(repositoryID(id)).WithProject().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("repository %d", id))
	}
	if err != nil {
		return nil, err
	}
	return repo, r.authorize(ctx, repo.Edges.Project, action)
}

// projectByName loads a visible project by name, or nil.
func (r *Resolver) projectByName(ctx context.Context, name string) (*ent.Project, error) {
	proj, err := r.DB.Project.Query().Where(project.Name(name), auth.VisibleProjects(r.principal(ctx))).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return proj, err
}
