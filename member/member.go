// Package member owns project membership: who is a member of which project, in which role, and the
// audit trail of changes to it. Who may manage members is the permission table's (auth); loading the
// project for a caller is the project service's. It does not create the first member of a new
// project: that happens inside the project's own creation.
package member

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entmember "github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/ent/predicate"
	"github.com/berth-registry/berth/ent/user"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
)

// Service is the membership domain service.
type Service struct {
	db       *ent.Client
	projects *project.Service
	audit    *audit.Writer
}

// New returns the membership service.
func New(db *ent.Client, projects *project.Service, auditLog *audit.Writer) *Service {
	return &Service{db: db, projects: projects, audit: auditLog}
}

// List returns proj's members with their user accounts, oldest membership first, for a caller who
// may read them.
func (s *Service) List(ctx context.Context, proj *ent.Project) ([]*ent.Member, error) {
	if err := s.projects.Authorize(ctx, proj, auth.ActionReadMembers); err != nil {
		return nil, err
	}
	ms, err := s.db.Member.Query().Where(entmember.ProjectID(proj.ID)).WithUser().Order(ent.Asc(entmember.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", proj.Name, err)
	}
	return ms, nil
}

// Add makes the user named username a member of project projectID in role.
func (s *Service) Add(ctx context.Context, projectID int, username string, role entmember.Role) (*ent.Member, error) {
	return s.add(ctx, projectID, user.Username(username), fmt.Sprintf("%q", username), role)
}

// AddUserID makes the user of id userID a member of project projectID in role.
func (s *Service) AddUserID(ctx context.Context, projectID, userID int, role entmember.Role) (*ent.Member, error) {
	return s.add(ctx, projectID, user.ID(userID), strconv.Itoa(userID), role)
}

func (s *Service) add(ctx context.Context, projectID int, who predicate.User, name string, role entmember.Role) (*ent.Member, error) {
	proj, err := s.projects.Get(ctx, projectID, auth.ActionManageMembers)
	if err != nil {
		return nil, err
	}
	if err := checkRole(role); err != nil {
		return nil, err
	}
	u, err := s.db.User.Query().Where(who).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound("user " + name)
	}
	if err != nil {
		return nil, fmt.Errorf("add member to %s: load user: %w", proj.Name, err)
	}
	m, err := s.db.Member.Create().SetProjectID(proj.ID).SetUserID(u.ID).SetRole(role).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fault.Conflict("%s is already a member of this project", u.Username)
	}
	if err != nil {
		return nil, fmt.Errorf("add member to %s: %w", proj.Name, err)
	}
	s.log(ctx, audit.OpCreate, proj, u)
	return m, nil
}

// Update changes membership id's role.
func (s *Service) Update(ctx context.Context, id int, role entmember.Role) (*ent.Member, error) {
	m, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := checkRole(role); err != nil {
		return nil, err
	}
	updated, err := s.db.Member.UpdateOne(m).SetRole(role).Save(ctx)
	if ent.IsNotFound(err) { // removed meanwhile
		return nil, fault.NotFound(fmt.Sprintf("member %d", id))
	}
	if err != nil {
		return nil, fmt.Errorf("update member %d: %w", id, err)
	}
	s.log(ctx, audit.OpUpdate, m.Edges.Project, m.Edges.User)
	return updated, nil
}

// Remove ends membership id.
func (s *Service) Remove(ctx context.Context, id int) error {
	m, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if err := s.db.Member.DeleteOne(m).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("remove member %d: %w", id, err)
	}
	s.log(ctx, audit.OpDelete, m.Edges.Project, m.Edges.User)
	return nil
}

// get loads a membership with its project and user, for a caller who may manage the project's
// members.
func (s *Service) get(ctx context.Context, id int) (*ent.Member, error) {
	m, err := s.db.Member.Query().Where(entmember.ID(id)).WithProject().WithUser().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("member %d", id))
	}
	if err != nil {
		return nil, fmt.Errorf("load member %d: %w", id, err)
	}
	if err := s.projects.Authorize(ctx, m.Edges.Project, auth.ActionManageMembers); err != nil {
		// A membership of a project the caller may not see is not found under its own name.
		if fault.IsNotFound(err) {
			return nil, fault.NotFound(fmt.Sprintf("member %d", id))
		}
		return nil, err
	}
	return m, nil
}

func checkRole(role entmember.Role) error {
	if err := entmember.RoleValidator(role); err != nil {
		return fault.BadInput("unknown role %q: choose one of %v", role, auth.Roles)
	}
	return nil
}

// log records a membership change: resource "<project>/<username>".
func (s *Service) log(ctx context.Context, op string, proj *ent.Project, u *ent.User) {
	s.audit.Log(ctx, audit.Entry{Project: proj.Name, Operation: op, ResourceType: "member", Resource: proj.Name + "/" + u.Username})
}

// maxCandidates bounds how many usernames one Candidates call returns.
const maxCandidates = 10

// Candidates returns up to 10 usernames starting with prefix, in name order, of active users
// who are not yet members of project projectID, for a caller who may manage its members: what the
// add-member form suggests. A project admin learns that these accounts exist, which adding a member
// by name reveals anyway; the prefix must be at least one character, so nobody lists every user.
func (s *Service) Candidates(ctx context.Context, projectID int, prefix string) ([]string, error) {
	proj, err := s.projects.Get(ctx, projectID, auth.ActionManageMembers)
	if err != nil {
		return nil, err
	}
	prefix = strings.TrimSpace(prefix)
	if prefix == "" || len(prefix) > 255 || strings.IndexFunc(prefix, unicode.IsControl) >= 0 {
		return nil, fault.BadInput("prefix: 1 to 255 characters, none of them control characters")
	}
	names, err := s.db.User.Query().
		Where(user.UsernameHasPrefix(prefix), user.Disabled(false),
			user.Not(user.HasMembershipsWith(entmember.ProjectID(proj.ID)))).
		Order(ent.Asc(user.FieldUsername)).Limit(maxCandidates).Select(user.FieldUsername).Strings(ctx)
	if err != nil {
		return nil, fmt.Errorf("member candidates for %s: %w", proj.Name, err)
	}
	return names, nil
}
