package project

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/berth-registry/berth/advisory"
	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/member"
	entproject "github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/registryendpoint"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
)

// nameRE is Harbor's rule for project names, which scripts and clients already follow.
var nameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// Create creates a project for the caller, who becomes its project admin (as in Harbor) in the same
// transaction, so that no project is ever left without one.
func (s *Service) Create(ctx context.Context, input ent.CreateProjectInput) (*ent.Project, error) {
	p := auth.PrincipalFrom(ctx)
	if err := s.auth.Check(ctx, p, auth.System, auth.ActionCreateProject, ""); err != nil {
		return nil, err
	}
	if len(input.Name) > 255 || !nameRE.MatchString(input.Name) {
		return nil, fault.BadInput("invalid project name %q: use lower-case letters and digits, separated by single '.', '_' or '-'", input.Name)
	}
	if err := s.checkSettings(ctx, input.ScannerID, input.CveAllowlist); err != nil {
		return nil, err
	}
	if err := s.checkProxy(ctx, p, input); err != nil {
		return nil, err
	}
	exists, err := s.db.Project.Query().Where(entproject.Name(input.Name)).Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("create project %q: %w", input.Name, err)
	}
	if exists {
		return nil, fault.Conflict("project %q already exists", input.Name)
	}
	var proj *ent.Project
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		if proj, err = tx.Project.Create().SetInput(input).SetQuotaLimit(s.defaultQuota()).Save(ctx); err != nil {
			return err
		}
		if p.Kind != auth.KindUser {
			return nil
		}
		return tx.Member.Create().SetProjectID(proj.ID).SetUserID(p.UserID).SetRole(member.RoleProjectAdmin).Exec(ctx)
	})
	if ent.IsConstraintError(err) { // created by someone else since the check above
		return nil, fault.Conflict("project %q already exists", input.Name)
	}
	if err := invalid(err); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("create project %q: %w", input.Name, err)
	}
	proj = proj.Unwrap() // made in the transaction, which has ended: its queries go to the client
	s.events.Publish(ctx, event.Event{Type: event.ProjectCreated, ProjectID: proj.ID, ProjectName: proj.Name})
	return proj, nil
}

// Update changes a project's settings.
func (s *Service) Update(ctx context.Context, id int, input ent.UpdateProjectInput) (*ent.Project, error) {
	proj, err := s.Get(ctx, id, auth.ActionUpdateProject)
	if err != nil {
		return nil, err
	}
	if err := s.checkSettings(ctx, input.ScannerID, input.CveAllowlist, input.AppendCveAllowlist); err != nil {
		return nil, err
	}
	if proj.CveAllowlist == nil && input.CveAllowlist == nil && !input.ClearCveAllowlist {
		// Appending to a list never set appends to SQL NULL, which stays NULL: set it instead.
		input.CveAllowlist, input.AppendCveAllowlist = input.AppendCveAllowlist, nil
	}
	proj, err = s.db.Project.UpdateOneID(id).SetInput(input).Save(ctx)
	if ent.IsNotFound(err) { // deleted meanwhile
		return nil, fault.NotFound(fmt.Sprintf("project %d", id))
	}
	if err := invalid(err); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("update project %d: %w", id, err)
	}
	s.audit.Log(ctx, audit.Entry{Project: proj.Name, Operation: audit.OpUpdate, ResourceType: "project", Resource: proj.Name})
	return proj, nil
}

// Delete deletes a project. Only an empty one may go: the caller deletes its repositories first,
// through the registry, which keeps storage and the index in step (a cascade here would not).
func (s *Service) Delete(ctx context.Context, id int) error {
	proj, err := s.Get(ctx, id, auth.ActionDeleteProject)
	if err != nil {
		return err
	}
	if err := s.deletable(ctx, proj); err != nil {
		return err
	}
	if err := s.db.Project.DeleteOneID(id).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("delete project %s: %w", proj.Name, err)
	}
	s.events.Publish(ctx, event.Event{Type: event.ProjectDeleted, ProjectID: proj.ID, ProjectName: proj.Name})
	return nil
}

// Deletable says whether the caller could delete project id now, and if not, why (Harbor's
// _deletable): the same rule Delete applies.
func (s *Service) Deletable(ctx context.Context, id int) (bool, string, error) {
	proj, err := s.Get(ctx, id, auth.ActionDeleteProject)
	if err != nil {
		return false, "", err
	}
	err = s.deletable(ctx, proj)
	if f, ok := fault.As(err); ok {
		return false, f.Message, nil
	}
	return err == nil, "", err
}

// deletable is the rule: only an empty project goes.
func (s *Service) deletable(ctx context.Context, proj *ent.Project) error {
	n, err := proj.QueryRepositories().Count(ctx)
	if err != nil {
		return fmt.Errorf("delete project %s: count repositories: %w", proj.Name, err)
	}
	if n > 0 {
		return fault.Conflict("project %s still holds %d repositories: delete them first", proj.Name, n)
	}
	return nil
}

// checkSettings refuses settings that would fail later, far from where they were made: a scanner
// that does not exist or is disabled (scans of the project would fail), an allowlist entry that is
// no vulnerability id (it would silently allowlist nothing).
func (s *Service) checkSettings(ctx context.Context, scannerID *int, allowlists ...[]string) error {
	for _, list := range allowlists {
		for _, id := range list {
			if !advisory.IsVulnID(id) {
				return fault.BadInput("%q is not a vulnerability id such as CVE-2024-1234", id)
			}
		}
	}
	if scannerID == nil {
		return nil
	}
	sc, err := s.db.Scanner.Get(ctx, *scannerID)
	if ent.IsNotFound(err) {
		return fault.BadInput("scanner %d does not exist", *scannerID)
	}
	if err != nil {
		return fmt.Errorf("load scanner %d: %w", *scannerID, err)
	}
	if !sc.Enabled {
		return fault.BadInput("scanner %s is disabled: enable it first, or choose another", sc.Name)
	}
	return nil
}

// namespaceRE is an upstream namespace: one or more repository path components.
var namespaceRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// checkProxy validates the proxy-cache settings of a new project: only those who may read registry
// endpoints may name one (its existence is what they learn), and it must exist.
func (s *Service) checkProxy(ctx context.Context, p *auth.Principal, input ent.CreateProjectInput) error {
	if input.ProxyRegistryID == nil {
		if input.ProxyNamespace != nil && *input.ProxyNamespace != "" {
			return fault.BadInput("an upstream namespace needs an upstream registry endpoint: name one, or leave the namespace empty")
		}
		return nil
	}
	if err := s.auth.Check(ctx, p, auth.System, auth.ActionReadRegistries, "registry endpoints"); err != nil {
		return err
	}
	if ns := input.ProxyNamespace; ns != nil && *ns != "" && (len(*ns) > 255 || !namespaceRE.MatchString(*ns)) {
		return fault.BadInput("invalid upstream namespace %q: use lower-case path components such as library or team/images", *ns)
	}
	exists, err := s.db.RegistryEndpoint.Query().Where(registryendpoint.ID(*input.ProxyRegistryID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("look up registry endpoint %d: %w", *input.ProxyRegistryID, err)
	}
	if !exists {
		return fault.BadInput("registry endpoint %d does not exist: create it first, or name another", *input.ProxyRegistryID)
	}
	return nil
}

// invalid is a setting the data model refused (a value out of its enum), as bad input; nil for any
// other error.
func invalid(err error) error {
	var v *ent.ValidationError
	if errors.As(err, &v) {
		return fault.BadInput("invalid %s: %v", v.Name, v.Unwrap())
	}
	return nil
}

// inTx runs fn in a transaction, committing if it returns nil.
func (s *Service) inTx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}
