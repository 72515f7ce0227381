package artifact

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entartifact "github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/label"
	entproject "github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/tag"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
)

// ListedRepository is one repository of a list, with what a list shows of it.
type ListedRepository struct {
	*ent.Repository
	Artifacts int
}

// ListRepositories returns a page of the repositories of the project ref names (one the caller
// may see), in name order, and how many there are in all.
func (s *Service) ListRepositories(ctx context.Context, ref project.Ref, page project.Page) ([]ListedRepository, int, error) {
	if err := page.Check(); err != nil {
		return nil, 0, err
	}
	proj, err := s.projects.Find(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	return s.listRepositories(ctx, proj.QueryRepositories(), page, proj.Name)
}

// RepositoryFilter narrows a list of repositories.
type RepositoryFilter struct {
	NameContains string // only repositories whose full name contains this
	Name         string // only the repository of this full name
	ProjectID    int    // only the repositories of this project (0: every project)
	// ProjectPublic keeps the repositories of public (true) or private (false) projects.
	ProjectPublic *bool
}

// ListAllRepositories returns a page of the repositories of every project the caller may see, in
// name order, and how many there are in all (Harbor's /repositories and search).
func (s *Service) ListAllRepositories(ctx context.Context, f RepositoryFilter, page project.Page) ([]ListedRepository, int, error) {
	if err := page.Check(); err != nil {
		return nil, 0, err
	}
	q := s.db.Repository.Query().Where(repository.HasProjectWith(auth.VisibleProjects(auth.PrincipalFrom(ctx))))
	if f.NameContains != "" {
		q = q.Where(repository.NameContains(f.NameContains))
	}
	if f.Name != "" {
		q = q.Where(repository.Name(f.Name))
	}
	if f.ProjectID != 0 {
		q = q.Where(repository.ProjectID(f.ProjectID))
	}
	if f.ProjectPublic != nil {
		q = q.Where(repository.HasProjectWith(entproject.Public(*f.ProjectPublic)))
	}
	return s.listRepositories(ctx, q, page, "all projects")
}

// listRepositories is a page of q, each repository with its number of artifacts (one grouped
// query for the page).
func (s *Service) listRepositories(ctx context.Context, q *ent.RepositoryQuery, page project.Page, what string) ([]ListedRepository, int, error) {
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count repositories of %s: %w", what, err)
	}
	repos, err := q.Order(ent.Asc(repository.FieldName)).Offset(page.Offset).Limit(page.Limit).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list repositories of %s: %w", what, err)
	}
	ids := make([]int, len(repos))
	for i, r := range repos {
		ids[i] = r.ID
	}
	var rows []struct {
		RepositoryID int `json:"repository_id"`
		Count        int `json:"count"`
	}
	err = s.db.Artifact.Query().Where(entartifact.RepositoryIDIn(ids...), entartifact.Accessory(false)).
		GroupBy(entartifact.FieldRepositoryID).Aggregate(ent.Count()).Scan(ctx, &rows)
	if err != nil {
		return nil, 0, fmt.Errorf("count artifacts of %s: %w", what, err)
	}
	counts := make(map[int]int, len(rows))
	for _, row := range rows {
		counts[row.RepositoryID] = row.Count
	}
	out := make([]ListedRepository, len(repos))
	for i, r := range repos {
		out[i] = ListedRepository{Repository: r, Artifacts: counts[r.ID]}
	}
	return out, total, nil
}

// ArtifactFilter narrows a list of artifacts (Harbor's artifact q).
type ArtifactFilter struct {
	Tagged      *bool  // only tagged (true) or untagged (false) artifacts
	Tag         string // only the artifact with this tag
	TagContains string // only artifacts with a tag containing this
	LabelIDs    []int  // only artifacts carrying every one of these labels
}

// MaxFilterLabels bounds ArtifactFilter.LabelIDs.
const MaxFilterLabels = 16

// ArtifactCount is how many artifacts repository repo (one the caller has been shown) holds.
func (s *Service) ArtifactCount(ctx context.Context, repo *ent.Repository) (int, error) {
	n, err := repo.QueryArtifacts().Where(entartifact.Accessory(false)).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count artifacts of %s: %w", repo.Name, err)
	}
	return n, nil
}

// ListArtifacts returns a page of the artifacts of repository repoName with their tags and labels, newest
// push first, and how many there are in all. Accessories are left out: they are shown under their
// subject (Harbor's default).
func (s *Service) ListArtifacts(ctx context.Context, repoName string, page project.Page, filters ...ArtifactFilter) ([]*ent.Artifact, int, error) {
	if err := page.Check(); err != nil {
		return nil, 0, err
	}
	repo, err := s.RepositoryByName(ctx, repoName)
	if err != nil {
		return nil, 0, err
	}
	q := repo.QueryArtifacts().Where(entartifact.Accessory(false))
	for _, f := range filters {
		if len(f.LabelIDs) > MaxFilterLabels {
			return nil, 0, fault.BadInput("filter on at most %d labels", MaxFilterLabels)
		}
		if f.Tagged != nil && *f.Tagged {
			q = q.Where(entartifact.HasTags())
		}
		if f.Tagged != nil && !*f.Tagged {
			q = q.Where(entartifact.Not(entartifact.HasTags()))
		}
		if f.Tag != "" {
			q = q.Where(entartifact.HasTagsWith(tag.Name(f.Tag)))
		}
		if f.TagContains != "" {
			q = q.Where(entartifact.HasTagsWith(tag.NameContains(f.TagContains)))
		}
		for _, id := range f.LabelIDs {
			q = q.Where(entartifact.HasLabelsWith(label.ID(id)))
		}
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count artifacts of %s: %w", repo.Name, err)
	}
	arts, err := q.Order(ent.Desc(entartifact.FieldPushTime), ent.Desc(entartifact.FieldID)).
		Offset(page.Offset).Limit(page.Limit).WithTags().WithLabels().All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list artifacts of %s: %w", repo.Name, err)
	}
	return arts, total, nil
}
