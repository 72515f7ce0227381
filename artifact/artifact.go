// Package artifact owns what the registry's index shows of repositories, artifacts and tags to the
// API: finding them for a caller (a repository or artifact in a project the caller may not see is
// not found), listing them a page at a time, and the changes made outside /v2 (tag, untag, delete),
// which it makes through the registry so that storage and the index stay in step. It does not
// index pushes (the registry does) nor scan artifacts (worker/scan does).
package artifact

import (
	"context"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/accessory"
	entartifact "github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/predicate"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/tag"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/manifest"
)

// Service is the repository and artifact domain service.
type Service struct {
	db       *ent.Client
	projects *project.Service
	registry *registry.Registry
	events   *event.Publisher
}

// New returns the artifact service.
func New(db *ent.Client, projects *project.Service, reg *registry.Registry, events *event.Publisher) *Service {
	return &Service{db: db, projects: projects, registry: reg, events: events}
}

// Get loads artifact id with its repository and project, for a caller who may do action in the
// project.
func (s *Service) Get(ctx context.Context, id int, action auth.Action) (*ent.Artifact, error) {
	what := fmt.Sprintf("artifact %d", id)
	a, err := s.db.Artifact.Query().Where(entartifact.ID(id)).
		WithRepository(func(q *ent.RepositoryQuery) { q.WithProject() }).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(what)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	return a, s.authorize(ctx, a.Edges.Repository.Edges.Project, action, what)
}

// Repository loads repository id with its project, for a caller who may do action in the project.
func (s *Service) Repository(ctx context.Context, id int, action auth.Action) (*ent.Repository, error) {
	what := fmt.Sprintf("repository %d", id)
	repo, err := s.db.Repository.Query().Where(repository.ID(id)).WithProject().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(what)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	return repo, s.authorize(ctx, repo.Edges.Project, action, what)
}

// authorize checks action in proj; a project the caller may not see hides what they asked for
// (what) too, under its own name.
func (s *Service) authorize(ctx context.Context, proj *ent.Project, action auth.Action, what string) error {
	err := s.projects.Authorize(ctx, proj, action)
	if fault.IsNotFound(err) {
		return fault.NotFound(what)
	}
	return err
}

// RepositoryQuery is the set of repositories the caller may see, for a caller that pages through
// it itself.
func (s *Service) RepositoryQuery(ctx context.Context) *ent.RepositoryQuery {
	return s.db.Repository.Query().Where(repository.HasProjectWith(auth.VisibleProjects(auth.PrincipalFrom(ctx))))
}

// RepositoryByName loads the repository named name ("<project>/<path>") if the caller may see it.
func (s *Service) RepositoryByName(ctx context.Context, name string) (*ent.Repository, error) {
	repo, err := s.RepositoryQuery(ctx).Where(repository.Name(name)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("repository %q", name))
	}
	if err != nil {
		return nil, fmt.Errorf("load repository %q: %w", name, err)
	}
	return repo, nil
}

// ByReference loads the artifact a reference names in repository repoName: a digest
// ("sha256:…") or a tag, if the caller may see the repository.
func (s *Service) ByReference(ctx context.Context, repoName, reference string) (*ent.Artifact, error) {
	repo, err := s.RepositoryByName(ctx, repoName)
	if err != nil {
		return nil, err
	}
	q := s.db.Artifact.Query().Where(entartifact.RepositoryID(repo.ID))
	if strings.Contains(reference, ":") {
		q = q.Where(entartifact.Digest(reference))
	} else {
		q = q.Where(entartifact.HasTagsWith(tag.Name(reference)))
	}
	a, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("artifact %s in %s", reference, repoName))
	}
	if err != nil {
		return nil, fmt.Errorf("load artifact %s in %s: %w", reference, repoName, err)
	}
	return a, nil
}

// Accessories are the artifacts (signatures, SBOMs, referrers) whose subject is a, an artifact the
// caller has been shown.
func (s *Service) Accessories(ctx context.Context, a *ent.Artifact) ([]*ent.Artifact, error) {
	links, err := s.db.Accessory.Query().
		Where(accessory.RepositoryID(a.RepositoryID), accessory.SubjectDigest(a.Digest)).
		WithArtifact().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("accessories of artifact %d: %w", a.ID, err)
	}
	out := make([]*ent.Artifact, len(links))
	for i, l := range links {
		out[i] = l.Edges.Artifact
	}
	return out, nil
}

// AccessoryLinks are, for each of arts (artifacts the caller has been shown), the links (with
// their artifacts) of the accessories whose subject it is, in one query: what Harbor's
// with_accessory lists.
func (s *Service) AccessoryLinks(ctx context.Context, arts []*ent.Artifact) ([][]*ent.Accessory, error) {
	out := make([][]*ent.Accessory, len(arts))
	if len(arts) == 0 {
		return out, nil
	}
	match := make([]predicate.Accessory, len(arts))
	for i, a := range arts {
		match[i] = accessory.And(accessory.RepositoryID(a.RepositoryID), accessory.SubjectDigest(a.Digest))
	}
	links, err := s.db.Accessory.Query().Where(accessory.Or(match...)).WithArtifact().
		Order(ent.Asc(accessory.FieldID)).Limit(500 * len(arts)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("accessories: %w", err)
	}
	for i, a := range arts {
		for _, l := range links {
			if l.RepositoryID == a.RepositoryID && l.SubjectDigest == a.Digest {
				out[i] = append(out[i], l)
			}
		}
	}
	return out, nil
}

// AccessoryLinksOf are the links of a's accessories (with their type), each with its artifact, for
// an artifact the caller has been shown.
func (s *Service) AccessoryLinksOf(ctx context.Context, a *ent.Artifact) ([]*ent.Accessory, error) {
	links, err := s.AccessoryLinks(ctx, []*ent.Artifact{a})
	if err != nil {
		return nil, err
	}
	return links[0], nil
}

// Manifest is a's manifest as storage holds it. It is what a pull reads, so reading it takes the
// pull permission, not just sight of the artifact.
func (s *Service) Manifest(ctx context.Context, a *ent.Artifact) ([]byte, error) {
	repo, err := a.QueryRepository().WithProject().Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("artifact %d: load repository: %w", a.ID, err)
	}
	if err := s.authorize(ctx, repo.Edges.Project, auth.ActionPull, fmt.Sprintf("artifact %d", a.ID)); err != nil {
		return nil, err
	}
	b, err := s.registry.Manifest(ctx, repo.Name, digest.Digest(a.Digest))
	if err != nil {
		return nil, fmt.Errorf("artifact %d: read manifest: %w", a.ID, err)
	}
	return b, nil
}

// Subject names an artifact as accessories refer to it: its repository and digest.
type Subject struct {
	RepositoryID int
	Digest       string
}

// Signed reports, for each subject (artifacts the caller has been shown), whether a signature
// refers to it, in one query.
func (s *Service) Signed(ctx context.Context, subjects []Subject) ([]bool, error) {
	match := make([]predicate.Accessory, len(subjects))
	for i, k := range subjects {
		match[i] = accessory.And(accessory.RepositoryID(k.RepositoryID), accessory.SubjectDigest(k.Digest))
	}
	links, err := s.db.Accessory.Query().Where(accessory.Or(match...),
		accessory.TypeIn(manifest.AccessorySignatures...)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("signatures: %w", err)
	}
	found := make(map[Subject]bool, len(links))
	for _, l := range links {
		found[Subject{l.RepositoryID, l.SubjectDigest}] = true
	}
	out := make([]bool, len(subjects))
	for i, k := range subjects {
		out[i] = found[k]
	}
	return out, nil
}
