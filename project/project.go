// Package project owns projects: who may see and change them, their settings, and what must hold
// when one is created or deleted. GraphQL and the Harbor REST endpoints are thin adapters over it;
// it knows nothing of how a request arrived, only who made it (the principal in the context).
package project

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entproject "github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
)

// Service is the project domain service.
type Service struct {
	db     *ent.Client
	auth   *auth.Service
	audit  *audit.Writer
	events *event.Publisher
	// defaultQuota is the storage limit a new project gets (the quota package's configuration).
	defaultQuota func() int64
}

// New returns the project service.
func New(db *ent.Client, authz *auth.Service, auditLog *audit.Writer, events *event.Publisher) *Service {
	return &Service{db: db, auth: authz, audit: auditLog, events: events, defaultQuota: func() int64 { return -1 }}
}

// UseDefaultQuota has new projects get the storage limit f answers (bytes, -1 unlimited); without
// it they are unlimited. The quota package owns the setting and sits above this one.
func (s *Service) UseDefaultQuota(f func() int64) { s.defaultQuota = f }

// Get loads the project with id and checks that the caller may do action in it. A project the
// caller may not see is not found, so that its existence does not leak.
func (s *Service) Get(ctx context.Context, id int, action auth.Action) (*ent.Project, error) {
	proj, err := s.db.Project.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("project %d", id))
	}
	if err != nil {
		return nil, fmt.Errorf("load project %d: %w", id, err)
	}
	return proj, s.authorize(ctx, proj, action, fmt.Sprintf("project %d", id))
}

// ByName is Get for a project named name.
func (s *Service) ByName(ctx context.Context, name string, action auth.Action) (*ent.Project, error) {
	proj, err := s.db.Project.Query().Where(entproject.Name(name)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("project %q", name))
	}
	if err != nil {
		return nil, fmt.Errorf("load project %q: %w", name, err)
	}
	return proj, s.authorize(ctx, proj, action, fmt.Sprintf("project %q", name))
}

// Authorize checks that the caller may do action in proj: nil, not found (they may not see it),
// or the refusal to report.
func (s *Service) Authorize(ctx context.Context, proj *ent.Project, action auth.Action) error {
	return s.authorize(ctx, proj, action, fmt.Sprintf("project %d", proj.ID))
}

// authorize is Authorize, naming a hidden project as the caller did (what).
func (s *Service) authorize(ctx context.Context, proj *ent.Project, action auth.Action, what string) error {
	return s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.InProjectResource(proj), action, what)
}

// Permissions lists what the caller may do in the project with id, or at system level when id is
// nil: what the dashboard asks to decide which controls to offer. A project that does not exist,
// or that the caller may not see, answers an empty list.
func (s *Service) Permissions(ctx context.Context, id *int) ([]auth.Action, error) {
	res := auth.System
	if id != nil {
		proj, err := s.db.Project.Get(ctx, *id)
		if ent.IsNotFound(err) {
			return []auth.Action{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("load project %d: %w", *id, err)
		}
		res = auth.InProjectResource(proj)
	}
	return s.auth.Permissions(ctx, auth.PrincipalFrom(ctx), res)
}
