// Package robot owns the credentials that are not a person's password: robot accounts (system
// and project robots, their permissions, lifetime and secret) and users' personal API tokens.
// It decides who may see and manage them (auth.CheckManageRobot stays the one "may manage this
// robot" rule), checks what they are given, shows each secret once and audits every change.
// GraphQL and the Harbor REST endpoints are thin adapters over it. How a robot or a token
// authenticates is auth's, not this package's.
package robot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entrobot "github.com/berth-registry/berth/ent/robot"
	"github.com/berth-registry/berth/ent/schema"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
)

// MaxPermissions bounds a robot's list, which every request of the robot reads.
const MaxPermissions = 200

// MaxPage is the most robots (or API tokens) one list returns.
const MaxPage = 100

// maxLifetimeDays bounds a robot's and a token's lifetime (a hundred years).
const maxLifetimeDays = 36500

// Service is the robot and API token domain service.
type Service struct {
	db       *ent.Client
	auth     *auth.Service
	projects *project.Service
	audit    *audit.Writer
}

// New returns the robot service.
func New(db *ent.Client, authz *auth.Service, projects *project.Service, auditLog *audit.Writer) *Service {
	return &Service{db: db, auth: authz, projects: projects, audit: auditLog}
}

// CreateInput is a new robot. A project robot names its project by ProjectID or by ProjectName
// (Harbor's clients know the name); a system robot names neither.
type CreateInput struct {
	ProjectID   *int
	ProjectName string
	// Name is the part the creator chooses; the login name adds robot$ (and <project>+).
	Name        string
	Description *string
	// Duration is the lifetime in days from creation; nil or -1 never expires.
	Duration    *int
	Disabled    *bool
	Permissions []schema.RobotPermission
}

// UpdateInput changes a robot; nil fields (and a nil Permissions) stay as they are.
type UpdateInput struct {
	Description *string
	Duration    *int
	Disabled    *bool
	Permissions []schema.RobotPermission
}

// Created is a robot with its secret, which is shown only here: Berth keeps a hash of it.
type Created struct {
	Robot  *ent.Robot
	Secret string
}

// Page is a list's window: Limit items (at most MaxPage; 0 means MaxPage) after Offset.
type Page struct {
	Offset, Limit int
}

func (p Page) bounds() (int, int, error) {
	if p.Offset < 0 || p.Limit < 0 || p.Limit > MaxPage {
		return 0, 0, fault.BadInput("ask for 1 to %d items from offset 0 or more", MaxPage)
	}
	if p.Limit == 0 {
		p.Limit = MaxPage
	}
	return p.Offset, p.Limit, nil
}

// Create makes a robot: a project robot by those who may manage the project's robots, a system
// robot by those who may manage system robots. Every permission must be one the creator holds.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Created, error) {
	var proj *ent.Project
	var err error
	switch {
	case in.ProjectID != nil:
		proj, err = s.projects.Get(ctx, *in.ProjectID, auth.ActionManageRobots)
	case in.ProjectName != "":
		proj, err = s.projects.ByName(ctx, in.ProjectName, auth.ActionManageRobots)
	default:
		err = s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionManageRobots, "")
	}
	if err != nil {
		return nil, err
	}
	projName := ""
	if proj != nil {
		projName = proj.Name
	}
	name, err := auth.RobotName(projName, in.Name)
	if err != nil {
		return nil, fault.BadInput("%s", err.Error())
	}
	perms, err := s.permissions(ctx, proj, in.Permissions)
	if err != nil {
		return nil, err
	}
	duration := -1
	if in.Duration != nil {
		duration = *in.Duration
	}
	now := time.Now()
	expires, err := expiry(now, duration)
	if err != nil {
		return nil, err
	}
	secret, err := auth.NewSecret()
	if err != nil {
		return nil, err
	}
	c := s.db.Robot.Create().SetName(name).SetNillableDescription(in.Description).
		SetPermissions(perms).SetDuration(duration).SetNillableExpiresAt(expires).SetCreatedAt(now).
		SetNillableDisabled(in.Disabled).SetSecretHash(auth.HashSecret(secret)).SetCreatedBy(auth.PrincipalFrom(ctx).Name)
	if proj != nil {
		c.SetLevel(entrobot.LevelProject).SetProjectID(proj.ID)
	} else {
		c.SetLevel(entrobot.LevelSystem)
	}
	rb, err := c.Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fault.Conflict("a robot named %q already exists", name)
	}
	if ent.IsValidationError(err) {
		return nil, fault.BadInput("a robot's description may be at most 1024 characters long")
	}
	if err != nil {
		return nil, fmt.Errorf("create robot %s: %w", name, err)
	}
	s.log(ctx, audit.OpCreate, projName, rb.Name)
	return &Created{Robot: rb, Secret: secret}, nil
}

// Get is the robot with id, if the caller may read it; one they may not read is not found.
func (s *Service) Get(ctx context.Context, id int) (*ent.Robot, error) {
	rb, _, err := s.load(ctx, id, false)
	return rb, err
}

// Update changes a robot the caller may manage.
func (s *Service) Update(ctx context.Context, id int, in UpdateInput) (*ent.Robot, error) {
	rb, proj, err := s.load(ctx, id, true)
	if err != nil {
		return nil, err
	}
	u := rb.Update().SetNillableDescription(in.Description).SetNillableDisabled(in.Disabled)
	if in.Duration != nil {
		expires, err := expiry(rb.CreatedAt, *in.Duration)
		if err != nil {
			return nil, err
		}
		u.SetDuration(*in.Duration)
		if expires == nil {
			u.ClearExpiresAt()
		} else {
			u.SetExpiresAt(*expires)
		}
	}
	if in.Permissions != nil {
		perms, err := s.permissions(ctx, proj, in.Permissions)
		if err != nil {
			return nil, err
		}
		u.SetPermissions(perms)
	}
	rb, err = u.Save(ctx)
	if ent.IsValidationError(err) {
		return nil, fault.BadInput("a robot's description may be at most 1024 characters long")
	}
	if err != nil {
		return nil, fmt.Errorf("update robot %d: %w", id, err)
	}
	s.log(ctx, audit.OpUpdate, projectName(proj), rb.Name)
	return rb, nil
}

// RefreshSecret gives a robot the caller may manage a new secret, shown only in the answer; the
// old one stops working at once.
func (s *Service) RefreshSecret(ctx context.Context, id int) (*Created, error) {
	rb, proj, err := s.load(ctx, id, true)
	if err != nil {
		return nil, err
	}
	secret, err := auth.NewSecret()
	if err != nil {
		return nil, err
	}
	if rb, err = rb.Update().SetSecretHash(auth.HashSecret(secret)).Save(ctx); err != nil {
		return nil, fmt.Errorf("refresh the secret of robot %d: %w", id, err)
	}
	s.log(ctx, audit.OpUpdate, projectName(proj), rb.Name+" (secret)")
	return &Created{Robot: rb, Secret: secret}, nil
}

// Delete removes a robot the caller may manage.
func (s *Service) Delete(ctx context.Context, id int) error {
	rb, proj, err := s.load(ctx, id, true)
	if err != nil {
		return err
	}
	if err := s.db.Robot.DeleteOne(rb).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("delete robot %d: %w", id, err)
	}
	s.log(ctx, audit.OpDelete, projectName(proj), rb.Name)
	return nil
}

// List returns a page of a project's robots (projectID given; robot:read in the project) or of

// ListAll is a page of every robot, system and project ones alike, for a caller who may read the
// system's robots (Harbor's GET /robots without a filter, as an administrator asks it).
func (s *Service) ListAll(ctx context.Context, page Page) ([]*ent.Robot, int, error) {
	offset, limit, err := page.bounds()
	if err != nil {
		return nil, 0, err
	}
	if err := s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionReadRobots, ""); err != nil {
		return nil, 0, err
	}
	q := s.db.Robot.Query()
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count robots: %w", err)
	}
	robots, err := q.Order(ent.Asc(entrobot.FieldName), ent.Asc(entrobot.FieldID)).Offset(offset).Limit(limit).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list robots: %w", err)
	}
	return robots, total, nil
}

// the system's (system robot:read), by name, with how many there are in all.
func (s *Service) List(ctx context.Context, projectID *int, page Page) ([]*ent.Robot, int, error) {
	offset, limit, err := page.bounds()
	if err != nil {
		return nil, 0, err
	}
	q := s.db.Robot.Query()
	if projectID == nil {
		if err := s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionReadRobots, ""); err != nil {
			return nil, 0, err
		}
		q = q.Where(entrobot.ProjectIDIsNil())
	} else {
		if _, err := s.projects.Get(ctx, *projectID, auth.ActionReadRobots); err != nil {
			return nil, 0, err
		}
		q = q.Where(entrobot.ProjectID(*projectID))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count robots: %w", err)
	}
	robots, err := q.Order(ent.Asc(entrobot.FieldName), ent.Asc(entrobot.FieldID)).Offset(offset).Limit(limit).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list robots: %w", err)
	}
	return robots, total, nil
}

// PermissionChoices is every permission a robot may be given (namespace *), in the order of the
// role table.
func PermissionChoices() []schema.RobotPermission {
	out := make([]schema.RobotPermission, 0, len(auth.ProjectActions))
	for _, a := range auth.ProjectActions {
		resource, action, _ := strings.Cut(string(a), ":")
		out = append(out, schema.RobotPermission{Namespace: "*", Resource: resource, Action: action})
	}
	return out
}

// load loads a robot with its project (nil for a system robot) and checks that the caller may
// read it (manage false) or manage it. A robot the caller may not read is not found; managing one
// is auth.CheckManageRobot's decision (the manager must hold every permission the robot has).
func (s *Service) load(ctx context.Context, id int, manage bool) (*ent.Robot, *ent.Project, error) {
	rb, err := s.db.Robot.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, nil, fault.NotFound(fmt.Sprintf("robot %d", id))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load robot %d: %w", id, err)
	}
	caller := auth.PrincipalFrom(ctx)
	var proj *ent.Project
	if rb.ProjectID == nil {
		if s.auth.Check(ctx, caller, auth.System, auth.ActionReadRobots, "") != nil {
			return nil, nil, fault.NotFound(fmt.Sprintf("robot %d", id))
		}
	} else {
		action := auth.ActionReadRobots
		if manage {
			action = auth.ActionManageRobots
		}
		if proj, err = s.projects.Get(ctx, *rb.ProjectID, action); err != nil {
			return nil, nil, err
		}
	}
	if manage {
		if err := s.auth.CheckManageRobot(ctx, caller, rb); err != nil {
			return nil, nil, err
		}
	}
	return rb, proj, nil
}

// permissions checks a robot's permission list and pins each grant to its project's id. Every
// action must be in the role table; a project robot's grants must name its own project; a system
// robot's may name any project or *. The caller must hold each action it grants, so a robot never
// has more than its creator could do.
func (s *Service) permissions(ctx context.Context, proj *ent.Project, in []schema.RobotPermission) ([]schema.RobotPermission, error) {
	if len(in) == 0 {
		return nil, fault.BadInput("give the robot at least one permission")
	}
	if len(in) > MaxPermissions {
		return nil, fault.BadInput("a robot may have at most %d permissions", MaxPermissions)
	}
	projects := map[string]*ent.Project{}
	seen := map[schema.RobotPermission]bool{}
	out := make([]schema.RobotPermission, 0, len(in))
	for _, p := range in {
		perm := schema.RobotPermission{Namespace: strings.TrimSpace(p.Namespace), Resource: p.Resource, Action: p.Action}
		action, ok := auth.PermissionAction(perm)
		if !ok {
			return nil, fault.BadInput("unknown permission %s:%s: use a resource and action of the role table (robotPermissionChoices lists them)", p.Resource, p.Action)
		}
		switch {
		case perm.Namespace == "*" && proj != nil:
			return nil, fault.BadInput("a project robot's permissions name its own project %q, not *", proj.Name)
		case perm.Namespace == "*":
			// Only those who manage system robots give *, and they hold every action everywhere.
		case proj != nil && perm.Namespace != proj.Name:
			return nil, fault.BadInput("a project robot of %q cannot be given permissions in project %q", proj.Name, perm.Namespace)
		default:
			target, found := projects[perm.Namespace]
			if !found {
				var err error
				if target, err = s.projects.ByName(ctx, perm.Namespace, auth.ActionReadProject); err != nil {
					return nil, err
				}
				projects[perm.Namespace] = target
			}
			perm.ProjectID = target.ID
			if err := s.projects.Authorize(ctx, target, action); errors.Is(err, auth.ErrForbidden) {
				return nil, fault.Forbidden("you may not %s in project %q, so you cannot give a robot that permission", action, perm.Namespace)
			} else if err != nil {
				return nil, err
			}
		}
		if !seen[perm] {
			seen[perm] = true
			out = append(out, perm)
		}
	}
	return out, nil
}

// expiry is when a robot of the given lifetime (days, -1 for never) created at created expires.
func expiry(created time.Time, days int) (*time.Time, error) {
	switch {
	case days == -1:
		return nil, nil
	case days <= 0 || days > maxLifetimeDays:
		return nil, fault.BadInput("invalid duration %d: give 1 to %d days, or -1 for a robot that never expires", days, maxLifetimeDays)
	}
	t := created.AddDate(0, 0, days)
	return &t, nil
}

// log records a change of a robot (resource type "robot", resource its name) in the audit log.
func (s *Service) log(ctx context.Context, op, projName, resource string) {
	s.audit.Log(ctx, audit.Entry{Project: projName, Operation: op, ResourceType: "robot", Resource: resource})
}

func projectName(p *ent.Project) string {
	if p == nil {
		return ""
	}
	return p.Name
}
