// Package label owns labels: system-wide ones (managed by system administrators) and a project's
// own (managed in the project), and which artifacts carry them. A project's label goes only on
// that project's artifacts. It reads artifacts through the artifact service and changes nothing of
// them but their labels.
package label

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/artifact"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entlabel "github.com/berth-registry/berth/ent/label"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
)

// Service is the label domain service.
type Service struct {
	db        *ent.Client
	auth      *auth.Service
	projects  *project.Service
	artifacts *artifact.Service
}

// New returns the label service.
func New(db *ent.Client, authz *auth.Service, projects *project.Service, artifacts *artifact.Service) *Service {
	return &Service{db: db, auth: authz, projects: projects, artifacts: artifacts}
}

// CreateInput is a new label. A nil ProjectID makes a system-wide label.
type CreateInput struct {
	Name        string
	Description *string
	Color       *string
	ProjectID   *int
}

// List returns the system-wide labels and, when projectID is set, that project's own, by name.
func (s *Service) List(ctx context.Context, projectID *int) ([]*ent.Label, error) {
	q := s.db.Label.Query()
	if projectID == nil {
		q = q.Where(entlabel.ProjectIDIsNil())
	} else {
		if _, err := s.projects.Get(ctx, *projectID, auth.ActionReadProject); err != nil {
			return nil, err
		}
		q = q.Where(entlabel.Or(entlabel.ProjectIDIsNil(), entlabel.ProjectID(*projectID)))
	}
	labels, err := q.Order(ent.Asc(entlabel.FieldName)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list labels: %w", err)
	}
	return labels, nil
}

// Create creates a label, system-wide or in a project.
func (s *Service) Create(ctx context.Context, in CreateInput) (*ent.Label, error) {
	if err := s.mayManage(ctx, in.ProjectID); err != nil {
		return nil, err
	}
	switch {
	case in.Name == "" || len(in.Name) > 128:
		return nil, fault.BadInput("a label name must be 1 to 128 characters long")
	case in.Description != nil && len(*in.Description) > 1024:
		return nil, fault.BadInput("a label description must be at most 1024 characters long")
	case in.Color != nil && len(*in.Color) > 16:
		return nil, fault.BadInput("a label color must be at most 16 characters long, such as #61717D")
	}
	// The unique index does not cover system labels (their project is NULL): look first.
	same := entlabel.ProjectIDIsNil()
	if in.ProjectID != nil {
		same = entlabel.ProjectID(*in.ProjectID)
	}
	exists, err := s.db.Label.Query().Where(entlabel.Name(in.Name), same).Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("create label %q: %w", in.Name, err)
	}
	if exists {
		return nil, fault.Conflict("label %q already exists", in.Name)
	}
	l, err := s.db.Label.Create().SetName(in.Name).SetNillableDescription(in.Description).
		SetNillableColor(in.Color).SetNillableProjectID(in.ProjectID).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fault.Conflict("label %q already exists", in.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("create label %q: %w", in.Name, err)
	}
	return l, nil
}

// Delete deletes label id; the artifacts that carried it lose it.
func (s *Service) Delete(ctx context.Context, id int) error {
	l, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if err := s.mayManage(ctx, l.ProjectID); err != nil {
		if fault.IsNotFound(err) {
			return fault.NotFound(fmt.Sprintf("label %d", id))
		}
		return err
	}
	if err := s.db.Label.DeleteOne(l).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("delete label %d: %w", id, err)
	}
	return nil
}

// AddToArtifact puts label labelID on artifact artifactID.
func (s *Service) AddToArtifact(ctx context.Context, artifactID, labelID int) (*ent.Artifact, error) {
	return s.relabel(ctx, artifactID, labelID, (*ent.ArtifactUpdateOne).AddLabels)
}

// RemoveFromArtifact takes label labelID off artifact artifactID.
func (s *Service) RemoveFromArtifact(ctx context.Context, artifactID, labelID int) (*ent.Artifact, error) {
	return s.relabel(ctx, artifactID, labelID, (*ent.ArtifactUpdateOne).RemoveLabels)
}

// relabel adds or removes (change) a label of an artifact.
func (s *Service) relabel(ctx context.Context, artifactID, labelID int,
	change func(*ent.ArtifactUpdateOne, ...*ent.Label) *ent.ArtifactUpdateOne) (*ent.Artifact, error) {
	a, l, err := s.artifactAndLabel(ctx, artifactID, labelID)
	if err != nil {
		return nil, err
	}
	a, err = change(s.db.Artifact.UpdateOne(a), l).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("change the labels of artifact %d: %w", artifactID, err)
	}
	return a, nil
}

// artifactAndLabel loads both and checks that the label may go on the artifact: a project's label
// only inside its own project.
func (s *Service) artifactAndLabel(ctx context.Context, artifactID, labelID int) (*ent.Artifact, *ent.Label, error) {
	a, err := s.artifacts.Get(ctx, artifactID, auth.ActionLabelArtifact)
	if err != nil {
		return nil, nil, err
	}
	l, err := s.get(ctx, labelID)
	if err != nil {
		return nil, nil, err
	}
	if l.ProjectID != nil && *l.ProjectID != a.Edges.Repository.ProjectID {
		return nil, nil, fault.BadInput("label %q belongs to another project", l.Name)
	}
	return a, l, nil
}

// mayManage checks that the caller may manage the labels of project projectID, or the
// system-wide ones when it is nil.
func (s *Service) mayManage(ctx context.Context, projectID *int) error {
	if projectID == nil {
		return s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionManageLabels, "")
	}
	_, err := s.projects.Get(ctx, *projectID, auth.ActionManageLabels)
	return err
}

func (s *Service) get(ctx context.Context, id int) (*ent.Label, error) {
	l, err := s.db.Label.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("label %d", id))
	}
	if err != nil {
		return nil, fmt.Errorf("load label %d: %w", id, err)
	}
	return l, nil
}
