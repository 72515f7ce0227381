package artifact

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/tag"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/tagrule"
)

// tagRE is the OCI distribution spec's rule for tag names.
var tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// CreateTag points tag name at artifact artifactID, in storage and in the index alike.
func (s *Service) CreateTag(ctx context.Context, artifactID int, name string) (*ent.Tag, error) {
	a, err := s.Get(ctx, artifactID, auth.ActionCreateTag)
	if err != nil {
		return nil, err
	}
	if err := clientWritable(a.Edges.Repository.Edges.Project); err != nil {
		return nil, err
	}
	if !tagRE.MatchString(name) {
		return nil, fault.BadInput("invalid tag %q: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", name)
	}
	repo := a.Edges.Repository
	if err := s.registry.Tag(ctx, repo.Name, name, digest.Digest(a.Digest)); err != nil {
		if r := immutable(err); r != nil {
			return nil, r
		}
		return nil, fault.BadInput("%s", err.Error())
	}
	t, err := s.db.Tag.Query().Where(tag.RepositoryID(repo.ID), tag.Name(name)).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("tag %s:%s: read it back: %w", repo.Name, name, err)
	}
	return t, nil
}

// DeleteTag removes tag id from its repository; the artifact stays.
func (s *Service) DeleteTag(ctx context.Context, id int) error {
	what := fmt.Sprintf("tag %d", id)
	t, err := s.db.Tag.Query().Where(tag.ID(id)).WithRepository(func(q *ent.RepositoryQuery) { q.WithProject() }).Only(ctx)
	if ent.IsNotFound(err) {
		return fault.NotFound(what)
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", what, err)
	}
	repo := t.Edges.Repository
	if err := s.authorize(ctx, repo.Edges.Project, auth.ActionDeleteTag, what); err != nil {
		return err
	}
	if err := clientWritable(repo.Edges.Project); err != nil {
		return err
	}
	if err := s.registry.Untag(ctx, repo.Name, t.Name); err != nil {
		if r := immutable(err); r != nil {
			return r
		}
		return fmt.Errorf("untag %s:%s: %w", repo.Name, t.Name, err)
	}
	return nil
}

// Delete deletes artifact id and every tag that points at it, as DELETE /v2/…/manifests/<digest>
// does.
func (s *Service) Delete(ctx context.Context, id int) error {
	a, err := s.Get(ctx, id, auth.ActionDeleteArtifact)
	if err != nil {
		return err
	}
	if err := clientWritable(a.Edges.Repository.Edges.Project); err != nil {
		return err
	}
	repo := a.Edges.Repository
	if err := s.registry.DeleteArtifact(ctx, repo.Name, digest.Digest(a.Digest)); err != nil {
		if r := immutable(err); r != nil {
			return r
		}
		return fmt.Errorf("delete artifact %d: %w", id, err)
	}
	// The registry's index drops the repository's row with its last artifact (registry.Indexer).
	return nil
}

// DeleteRepository deletes repository id and every artifact in it.
func (s *Service) DeleteRepository(ctx context.Context, id int) error {
	repo, err := s.Repository(ctx, id, auth.ActionDeleteArtifact)
	if err != nil {
		return err
	}
	if err := s.registry.DeleteRepository(ctx, repo); err != nil {
		if r := immutable(err); r != nil {
			return r
		}
		return fmt.Errorf("delete repository %s: %w", repo.Name, err)
	}
	// The registry records REPOSITORY_DELETED once, when the row goes (registry.Indexer.dropIfEmpty).
	return nil
}

// clientWritable refuses tags and deletes in a proxy-cache project, whose content is upstream's
// (as the registry refuses pushes there). Whole repositories may still go, to clear the cache.
func clientWritable(proj *ent.Project) error {
	if proj.ProxyRegistryID != nil {
		return fault.Forbidden("can not push artifact to a proxy project")
	}
	return nil
}

// immutable is the caller's answer when the tag rules refused a change (tagrule.Guard, asked by
// the registry for every write): forbidden, with the rule's message; nil for any other error.
func immutable(err error) error {
	var r *tagrule.Refusal
	if errors.As(err, &r) {
		return fault.Forbidden("%s", r.Error())
	}
	return nil
}

// MaxRepositoryDescription is the longest repository description, in bytes (the schema's bound).
const MaxRepositoryDescription = 4096

// SetRepositoryDescription replaces repository id's description. Harbor's repository update is
// for project administrators and maintainers: Berth asks project:update, the row that names them.
func (s *Service) SetRepositoryDescription(ctx context.Context, id int, description string) (*ent.Repository, error) {
	if len(description) > MaxRepositoryDescription {
		return nil, fault.BadInput("a repository description is at most %d bytes", MaxRepositoryDescription)
	}
	if !utf8.ValidString(description) {
		return nil, fault.BadInput("a repository description must be UTF-8 text")
	}
	repo, err := s.Repository(ctx, id, auth.ActionUpdateProject)
	if err != nil {
		return nil, err
	}
	updated, err := s.db.Repository.UpdateOne(repo).SetDescription(description).SetUpdatedAt(time.Now()).Save(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("repository %d", id))
	}
	if err != nil {
		return nil, fmt.Errorf("set the description of %s: %w", repo.Name, err)
	}
	return updated, nil
}
