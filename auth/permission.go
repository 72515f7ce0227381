// Package auth owns identities (users, their passwords and sessions, registry tokens) and the one
// permission table that every surface (the registry at /v2, GraphQL and REST) consults. It decides
// who may do what; it does not know how requests arrive.
package auth

import "github.com/berth-registry/berth/ent/member"

// Action is something a principal may want to do inside a project.
type Action string

// The project actions of Harbor's role table (docs: harbor-compat §1). Each names a resource and a verb
// the way Harbor's RBAC does, so robot-account permissions can be written with the same words.
const (
	ActionReadProject    Action = "project:read"
	ActionUpdateProject  Action = "project:update"
	ActionDeleteProject  Action = "project:delete"
	ActionPull           Action = "repository:pull"
	ActionPush           Action = "repository:push"
	ActionDeleteArtifact Action = "artifact:delete" // artifacts and whole repositories
	ActionCreateTag      Action = "tag:create"
	ActionDeleteTag      Action = "tag:delete"
	ActionLabelArtifact  Action = "artifact-label:create" // add or remove a label on an artifact
	ActionScan           Action = "scan:create"           // start or stop a scan
	ActionReadScan       Action = "scan:read"
	ActionExportCVE      Action = "export-cve:create" // create, read and list CVE exports
	ActionReadLog        Action = "log:list"
	ActionReadMembers    Action = "member:read"
	ActionManageMembers  Action = "member:create" // add, change and remove members
	ActionReadRobots     Action = "robot:read"
	ActionManageRobots   Action = "robot:create"
	ActionListWebhooks   Action = "webhook-policy:list"
	ActionManageWebhooks Action = "webhook-policy:create"
)

// ProjectActions lists every project action, in the order of the role table.
var ProjectActions = []Action{
	ActionReadProject, ActionUpdateProject, ActionDeleteProject,
	ActionPull, ActionPush, ActionDeleteArtifact, ActionCreateTag, ActionDeleteTag,
	ActionLabelArtifact, ActionScan, ActionReadScan, ActionExportCVE, ActionReadLog,
	ActionReadMembers, ActionManageMembers, ActionReadRobots, ActionManageRobots,
	ActionListWebhooks, ActionManageWebhooks,
}

// Roles lists the five project roles from most to least privileged.
var Roles = []member.Role{
	member.RoleProjectAdmin, member.RoleMaintainer, member.RoleDeveloper, member.RoleGuest, member.RoleLimitedGuest,
}

// roleActions is the role table. It is the only place that says what a role may do.
var roleActions = map[member.Role][]Action{
	member.RoleProjectAdmin: ProjectActions,
	member.RoleMaintainer: {
		ActionReadProject, ActionUpdateProject,
		ActionPull, ActionPush, ActionDeleteArtifact, ActionCreateTag, ActionDeleteTag,
		ActionLabelArtifact, ActionScan, ActionReadScan, ActionExportCVE, ActionReadLog,
		ActionReadMembers, ActionReadRobots, ActionListWebhooks,
	},
	member.RoleDeveloper: {
		ActionReadProject,
		ActionPull, ActionPush, ActionCreateTag,
		ActionLabelArtifact, ActionReadScan, ActionExportCVE, ActionReadLog,
		ActionReadMembers, ActionReadRobots,
	},
	member.RoleGuest: {
		ActionReadProject, ActionPull, ActionReadScan, ActionReadLog, ActionReadMembers, ActionReadRobots,
	},
	member.RoleLimitedGuest: {
		ActionReadProject, ActionPull, ActionReadScan,
	},
}

// publicActions are what anyone, anonymous callers included, may do in a public project.
var publicActions = []Action{ActionReadProject, ActionPull, ActionReadScan}

var roleSets = func() map[member.Role]map[Action]bool {
	sets := make(map[member.Role]map[Action]bool, len(roleActions))
	for role, actions := range roleActions {
		sets[role] = make(map[Action]bool, len(actions))
		for _, a := range actions {
			sets[role][a] = true
		}
	}
	return sets
}()

// RoleAllows reports whether a project role grants an action.
func RoleAllows(role member.Role, action Action) bool {
	return roleSets[role][action]
}

// PublicAllows reports whether an action is open to everyone in a public project.
func PublicAllows(action Action) bool {
	for _, a := range publicActions {
		if a == action {
			return true
		}
	}
	return false
}

// Access is what one principal may do in one project: the facts the table needs.
type Access struct {
	Admin  bool        // system administrator
	Role   member.Role // empty when not a member
	Public bool        // the project is public
	// Robot, for a robot account, is what its permission list gives it here (never a role).
	Robot map[Action]bool
	// Scope, for a personal API token with scopes, bounds everything else: an action outside it is
	// refused whatever the role.
	Scope map[Action]bool
}

// Allows reports whether the access grants the action. It is the single decision every surface makes.
func (a Access) Allows(action Action) bool {
	if a.Scope != nil && !a.Scope[action] {
		return false
	}
	switch {
	case a.Admin:
		return true
	case a.Robot != nil:
		return a.Robot[action] || (a.Public && PublicAllows(action))
	case a.Role != "" && RoleAllows(a.Role, action):
		return true
	default:
		return a.Public && PublicAllows(action)
	}
}
