package auth

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/fault"
)

// Resource is what an action is asked of: the system as a whole, or one project and, for the
// registry's own requests, one repository in it.
type Resource struct {
	// Project is nil for a system action.
	Project *ent.Project
	// Repository ("<project>/<name>") is set by the registry and the token service: a registry
	// token grants verbs on repositories, not on projects, so its scope is checked against it.
	Repository string
}

// System is the resource of the system actions.
var System = Resource{}

// InProjectResource is the resource of a project action.
func InProjectResource(p *ent.Project) Resource { return Resource{Project: p} }

// InRepository is the resource of a registry request on one repository of project p.
func InRepository(p *ent.Project, repository string) Resource {
	return Resource{Project: p, Repository: repository}
}

// Decision is Decide's answer. Each door turns a refusal into its own shape (401 with a challenge,
// 403, a GraphQL error, "not found"), but the answer itself is the same everywhere.
type Decision int

// The decisions.
const (
	// Allowed: go ahead.
	Allowed Decision = iota
	// Hidden: the caller may not even see the project. Doors that hide what a caller cannot see
	// answer "not found", so that a private project's existence does not leak.
	Hidden
	// Refused: the caller may see the project (or the action is a system one) but may not do this.
	Refused
	// OutOfScope: the table allows it, but the registry token the caller presented does not cover
	// it. A new token may: the registry answers with a challenge rather than a refusal.
	OutOfScope
)

func (d Decision) String() string {
	return [...]string{"allowed", "hidden", "refused", "out of scope"}[d]
}

// Err is the error a door reports for d, nil when allowed: not found (what names the resource) for
// a hidden project, else 401 for the anonymous and 403 for everyone else.
func (d Decision) Err(p *Principal, what string) error {
	switch d {
	case Allowed:
		return nil
	case Hidden:
		return fault.NotFound(what)
	default:
		return Denied(p)
	}
}

// Decide is the one access decision: may p do action to res? Every door asks it (the registry and
// its cached fast path, the token service, GraphQL and REST, through the domain services), so the
// table in permission.go means the same thing everywhere. An error is only ever a failure to
// find out (the database is down: ErrUnavailable), never a refusal.
func (s *Service) Decide(ctx context.Context, p *Principal, res Resource, action Action) (Decision, error) {
	decide, err := s.Decider(ctx, p, res)
	if err != nil {
		return Refused, err
	}
	return decide(action), nil
}

// Check is Decide as an error: nil when allowed, else Decision.Err naming what.
func (s *Service) Check(ctx context.Context, p *Principal, res Resource, action Action, what string) error {
	d, err := s.Decide(ctx, p, res, action)
	if err != nil {
		return err
	}
	return d.Err(p, what)
}

// Permissions lists every action of res's scope that p may do there: what the dashboard asks to
// decide which controls to offer.
func (s *Service) Permissions(ctx context.Context, p *Principal, res Resource) ([]Action, error) {
	decide, err := s.Decider(ctx, p, res)
	if err != nil {
		return nil, err
	}
	candidates := SystemActions
	if res.Project != nil {
		candidates = ProjectActions
	}
	out := []Action{}
	for _, a := range candidates {
		if decide(a) == Allowed {
			out = append(out, a)
		}
	}
	return out, nil
}

// Decider is Decide for several actions on one resource: it loads what Decide needs to know about
// p and res once (a membership, at most one query) and returns the decision for any action.
func (s *Service) Decider(ctx context.Context, p *Principal, res Resource) (func(Action) Decision, error) {
	if res.Project == nil {
		return func(action Action) Decision {
			switch {
			case !systemAllows(p, action):
				return Refused
			case action == ActionListCatalog && p.claims != nil && !p.claims.Grants("registry", "catalog", "*"):
				return OutOfScope
			default:
				return Allowed
			}
		}, nil
	}
	a, err := s.Access(ctx, p, res.Project)
	if err != nil {
		return nil, fmt.Errorf("decide for %s in project %s: %w", p.Name, res.Project.Name, err)
	}
	return func(action Action) Decision { return decideIn(p, res, a, action) }, nil
}

// decideIn is the decision for a project action once the caller's access to the project is known.
func decideIn(p *Principal, res Resource, a Access, action Action) Decision {
	switch {
	case a.Allows(action) && res.Repository != "" && p.claims != nil &&
		!p.claims.Grants("repository", res.Repository, TokenVerb(action)):
		return OutOfScope
	case a.Allows(action):
		// Even without project:read (a token scoped to pulls): what may be done is not hidden.
		return Allowed
	case !a.Allows(ActionReadProject):
		return Hidden
	default:
		return Refused
	}
}

// PermissionsWith is Permissions in a project where the caller's access is already known
// (AccessWithRole): what a page of projects lists without a query per project.
func PermissionsWith(p *Principal, proj *ent.Project, a Access) []Action {
	out := []Action{}
	for _, action := range ProjectActions {
		if decideIn(p, InProjectResource(proj), a, action) == Allowed {
			out = append(out, action)
		}
	}
	return out
}

// TokenVerb is the verb of a Docker registry token's scope ("repository:<name>:<verbs>") that
// covers a repository action.
func TokenVerb(a Action) string {
	switch a {
	case ActionPull:
		return "pull"
	case ActionPush:
		return "push"
	default:
		return "delete"
	}
}

// VerbActions are the repository actions a registry token's verb stands for; a verb is granted
// when any of them is allowed. "*" is all three verbs.
func VerbActions(verb string) []Action {
	switch verb {
	case "pull":
		return []Action{ActionPull}
	case "push":
		return []Action{ActionPush}
	case "delete":
		return []Action{ActionDeleteArtifact, ActionDeleteTag}
	default:
		return nil
	}
}
