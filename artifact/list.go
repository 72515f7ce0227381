package artifact

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/ent"
	entartifact "github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/repository"
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
	q := proj.QueryRepositories()
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count repositories of %s: %w", proj.Name, err)
	}
	repos, err := q.Order(ent.Asc(repository.FieldName)).Offset(page.Offset).Limit(page.Limit).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list repositories of %s: %w", proj.Name, err)
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
		return nil, 0, fmt.Errorf("count artifacts of %s: %w", proj.Name, err)
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

// ListArtifacts returns a page of the artifacts of repository repoName with their tags, newest
// push first, and how many there are in all. Accessories are left out: they are shown under their
// subject (Harbor's with_accessory=false, its default).
func (s *Service) ListArtifacts(ctx context.Context, repoName string, page project.Page) ([]*ent.Artifact, int, error) {
	return s.ListArtifactsWith(ctx, repoName, page, false)
}

// ListArtifactsWith is ListArtifacts, with accessories in the list when withAccessories (Harbor's
// with_accessory=true).
func (s *Service) ListArtifactsWith(ctx context.Context, repoName string, page project.Page, withAccessories bool) ([]*ent.Artifact, int, error) {
	if err := page.Check(); err != nil {
		return nil, 0, err
	}
	repo, err := s.RepositoryByName(ctx, repoName)
	if err != nil {
		return nil, 0, err
	}
	q := repo.QueryArtifacts()
	if !withAccessories {
		q = q.Where(entartifact.Accessory(false))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count artifacts of %s: %w", repo.Name, err)
	}
	arts, err := q.Order(ent.Desc(entartifact.FieldPushTime), ent.Desc(entartifact.FieldID)).
		Offset(page.Offset).Limit(page.Limit).WithTags().All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list artifacts of %s: %w", repo.Name, err)
	}
	return arts, total, nil
}
