package graph

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/robot"
	"github.com/berth-registry/berth/ent/schema"
	"github.com/berth-registry/berth/fault"
)

// maxRobotPermissions bounds a robot's list, which every request of the robot reads.
const maxRobotPermissions = 200

// robotFor loads a robot and checks that the caller may read it (manage false) or manage it. A
// robot the caller may not read is not found; managing one is auth.CheckManageRobot's decision
// (the manager must hold every permission the robot has).
func (r *Resolver) robotFor(ctx context.Context, id int, manage bool) (*ent.Robot, error) {
	rb, err := r.DB.Robot.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("robot %d", id))
	}
	if err != nil {
		return nil, err
	}
	if rb.ProjectID == nil {
		if r.allow(ctx, auth.ActionReadRobots) != nil {
			return nil, fault.NotFound(fmt.Sprintf("robot %d", id))
		}
	} else {
		action := auth.ActionReadRobots
		if manage {
			action = auth.ActionManageRobots
		}
		if _, err := r.projectFor(ctx, *rb.ProjectID, action); err != nil {
			return nil, err
		}
	}
	if manage {
		if err := r.Auth.CheckManageRobot(ctx, r.principal(ctx), rb); err != nil {
			return nil, err
		}
	}
	return rb, nil
}

// robotPermissions checks a robot's permission list and pins each grant to its project's id.
// Every action must be in the role table; a project robot's grants must name its own project; a
// system robot's may name any project or *. The caller must hold each action it grants, so a robot
// never has more than its creator could do.
func (r *Resolver) robotPermissions(ctx context.Context, proj *ent.Project, in []*schema.RobotPermission) ([]schema.RobotPermission, error) {
	if len(in) == 0 {
		return nil, fault.BadInput("give the robot at least one permission")
	}
	if len(in) > maxRobotPermissions {
		return nil, fault.BadInput("a robot may have at most %d permissions", maxRobotPermissions)
	}
	caller := r.principal(ctx)
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
			// Only system admins manage system robots, and they hold every action everywhere.
		case proj != nil && perm.Namespace != proj.Name:
			return nil, fault.BadInput("a project robot of %q cannot be given permissions in project %q", proj.Name, perm.Namespace)
		default:
			target, found := projects[perm.Namespace]
			if !found {
				var err error
				target, err = r.DB.Project.Query().Where(project.Name(perm.Namespace), auth.VisibleProjects(caller)).Only(ctx)
				if ent.IsNotFound(err) {
					return nil, fault.NotFound(fmt.Sprintf("project %q", perm.Namespace))
				}
				if err != nil {
					return nil, err
				}
				projects[perm.Namespace] = target
			}
			perm.ProjectID = target.ID
			a, err := r.Auth.Access(ctx, caller, target)
			if err != nil {
				return nil, err
			}
			if !a.Allows(action) {
				return nil, fault.Forbidden("you may not %s in project %q, so you cannot give a robot that permission", action, perm.Namespace)
			}
		}
		if !seen[perm] {
			seen[perm] = true
			out = append(out, perm)
		}
	}
	return out, nil
}

// robotExpiry is when a robot of the given lifetime (days, -1 for never) created at created expires.
func robotExpiry(created time.Time, days int) (*time.Time, error) {
	switch {
	case days == -1:
		return nil, nil
	case days <= 0 || days > 36500:
		return nil, fault.BadInput("invalid duration %d: give 1 to 36500 days, or -1 for a robot that never expires", days)
	}
	t := created.AddDate(0, 0, days)
	return &t, nil
}

// auditRobot records a robot change: resource type "robot", resource the robot's name.
func (r *Resolver) auditRobot(ctx context.Context, op string, rb *ent.Robot) {
	proj := ""
	if rb.ProjectID != nil {
		if p, err := r.DB.Project.Get(ctx, *rb.ProjectID); err == nil {
			proj = p.Name
		}
	}
	r.audit(ctx, audit.Entry{Project: proj, Operation: op, ResourceType: "robot", Resource: rb.Name})
}

// robotList returns a project's robots (projectID given) or the system's.
func (r *Resolver) robotList(ctx context.Context, projectID *int) ([]*ent.Robot, error) {
	if projectID == nil {
		if err := r.allow(ctx, auth.ActionReadRobots); err != nil {
			return nil, err
		}
		return r.DB.Robot.Query().Where(robot.ProjectIDIsNil()).Order(ent.Asc(robot.FieldName)).All(ctx)
	}
	if _, err := r.projectFor(ctx, *projectID, auth.ActionReadRobots); err != nil {
		return nil, err
	}
	return r.DB.Robot.Query().Where(robot.ProjectID(*projectID)).Order(ent.Asc(robot.FieldName)).All(ctx)
}

// requireUserLogin is requireLogin for what only a person with a password or session may do.
func (r *Resolver) requireUserLogin(ctx context.Context) (*auth.Principal, error) {
	p, err := r.requireLogin(ctx)
	if err != nil {
		return nil, err
	}
	if p.Kind != auth.KindUser {
		return nil, fault.Forbidden("only user accounts have API tokens")
	}
	return p, nil
}
