package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/cveexport"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/worker/run"
)

// access is what the service needs to serve callers (GraphQL and Harbor's REST API): the queue,
// the events that Follow listens to, and who may export from a project.
type access struct {
	run.Deps
	projects *project.Service
}

// Serving returns the service that answers callers (the methods below need it): deps queue
// and follow runs, projects says who may export from a project.
func (s *Service) Serving(deps run.Deps, projects *project.Service) *Service {
	c := *s
	c.access = &access{Deps: deps, projects: projects}
	return &c
}

// Request is an export a caller asks for: the projects (at least one) and the filters, each
// optional (see Params).
type Request struct {
	JobName                    string
	Projects, Labels           []int
	Repositories, Tags, CVEIDs *string
}

// Request starts an export for the caller: every project named must allow them export-cve:create
// (so robots with the permission may export too).
func (s *Service) Request(ctx context.Context, req Request) (*ent.CVEExport, error) {
	p := auth.PrincipalFrom(ctx)
	if !p.Authenticated() {
		return nil, auth.ErrUnauthenticated
	}
	params := Params{Labels: req.Labels}
	for _, f := range []struct {
		from *string
		to   *string
	}{{req.Repositories, &params.Repositories}, {req.Tags, &params.Tags}, {req.CVEIDs, &params.CVEIDs}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	for _, id := range req.Projects {
		if !slices.Contains(params.Projects, id) {
			params.Projects = append(params.Projects, id)
		}
	}
	var fe *FieldError
	if err := params.Validate(); errors.As(err, &fe) {
		return nil, fault.BadInput("%s: %s", fe.Field, fe.Message)
	} else if err != nil {
		return nil, err
	}
	for _, id := range params.Projects {
		if _, err := s.access.projects.Get(ctx, id, auth.ActionExportCVE); err != nil {
			return nil, err
		}
	}
	if len(req.JobName) > 255 {
		return nil, fault.BadInput("jobName: at most 255 characters")
	}
	owner := Owner{Name: p.Name}
	if p.Kind == auth.KindUser {
		owner.UserID = &p.UserID
	}
	return s.Start(ctx, s.access.Jobs, owner, req.JobName, params)
}

// Get is one of the caller's executions: another principal's is forbidden (Harbor's 403).
func (s *Service) Get(ctx context.Context, id int) (*ent.CVEExport, error) {
	p := auth.PrincipalFrom(ctx)
	if !p.Authenticated() {
		return nil, auth.ErrUnauthenticated
	}
	e, err := s.db.CVEExport.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("CVE export %d", id))
	}
	if err != nil {
		return nil, err
	}
	if !owns(p, e) {
		return nil, auth.ErrForbidden
	}
	return e, nil
}

func owns(p *auth.Principal, e *ent.CVEExport) bool {
	if e.Owner != p.Name {
		return false
	}
	if e.OwnerUserID != nil {
		return p.Kind == auth.KindUser && p.UserID == *e.OwnerUserID // a user re-created under the name is someone else
	}
	return p.Kind != auth.KindUser
}

// Mine lists the caller's executions, newest first (the history keeps 50 per owner).
func (s *Service) Mine(ctx context.Context) ([]*ent.CVEExport, error) {
	p := auth.PrincipalFrom(ctx)
	if !p.Authenticated() {
		return nil, auth.ErrUnauthenticated
	}
	all, err := s.db.CVEExport.Query().Where(cveexport.Owner(p.Name)).Order(ent.Desc(cveexport.FieldID)).All(ctx)
	if err != nil {
		return nil, err
	}
	mine := all[:0]
	for _, e := range all {
		if owns(p, e) {
			mine = append(mine, e)
		}
	}
	return mine, nil
}

// Cancel stops one of the caller's executions.
func (s *Service) Cancel(ctx context.Context, id int) (*ent.CVEExport, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	return s.Stop(ctx, s.access.Jobs, id)
}

// Download claims the file of one of the caller's executions for its one download (see Open).
func (s *Service) Download(ctx context.Context, id int) (*ent.CVEExport, io.ReadCloser, error) {
	e, err := s.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.Open(ctx, e)
	if errors.Is(err, ErrNoFile) {
		return nil, nil, fault.NotFound(fmt.Sprintf("the file of CVE export %d", id))
	}
	return e, f, err
}

// Follow streams one of the caller's executions as it changes, until it ends (or is downloaded).
func (s *Service) Follow(ctx context.Context, id int) (<-chan *ent.CVEExport, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	return run.Follow(ctx, s.access.Bus, id, run.Followed[*ent.CVEExport]{
		Events: []event.Type{event.ExportStarted, event.ExportProgress, event.ExportCompleted, event.ExportFailed},
		Load:   func(ctx context.Context) (*ent.CVEExport, error) { return s.db.CVEExport.Get(ctx, id) },
		Done:   func(e *ent.CVEExport) bool { return run.Finished(e.Status) },
		Same: func(a, b *ent.CVEExport) bool {
			return a.Status == b.Status && a.Rows == b.Rows && a.EstimatedRows == b.EstimatedRows
		},
	})
}
