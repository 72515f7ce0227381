// Package auth owns identities (users, their passwords and sessions, registry tokens) and the one
// permission table that every surface (the registry at /v2, the token service, GraphQL and REST)
// consults through Decide. It decides who may do what; it does not know how requests arrive.
package auth

import (
	"slices"

	"github.com/berth-registry/berth/ent/member"
)

// Action is something a principal may want to do, in a project or to the system as a whole. Each
// names a resource and a verb the way Harbor's RBAC does, so robot-account permissions and
// myPermissions answers use the same words.
type Action string

// The project actions of Harbor's role table (docs: harbor-compat §1).
const (
	ActionReadProject     Action = "project:read"
	ActionUpdateProject   Action = "project:update"
	ActionDeleteProject   Action = "project:delete"
	ActionPull            Action = "repository:pull"
	ActionPush            Action = "repository:push"
	ActionDeleteArtifact  Action = "artifact:delete" // artifacts and whole repositories
	ActionCreateTag       Action = "tag:create"
	ActionDeleteTag       Action = "tag:delete"
	ActionLabelArtifact   Action = "artifact-label:create" // add or remove a label on an artifact
	ActionScan            Action = "scan:create"           // start or stop a scan
	ActionReadScan        Action = "scan:read"
	ActionExportCVE       Action = "export-cve:create" // create, read and list CVE exports
	ActionReadLog         Action = "log:list"
	ActionReadMembers     Action = "member:read"
	ActionManageMembers   Action = "member:create" // add, change and remove members
	ActionReadRobots      Action = "robot:read"
	ActionManageRobots    Action = "robot:create"
	ActionListWebhooks    Action = "webhook-policy:list"
	ActionManageWebhooks  Action = "webhook-policy:create"
	ActionManageLabels    Action = "label:create" // create and delete the project's own labels
	ActionReadQuota       Action = "quota:read"
	ActionUpdateQuota     Action = "quota:update" // the project's storage limit: system administrators only, as in Harbor
	ActionReadRetention   Action = "tag-retention:read"
	ActionManageRetention Action = "tag-retention:update"  // create, change and delete the policy and its rules
	ActionRunRetention    Action = "tag-retention:operate" // run, dry run, stop
	ActionListImmutable   Action = "immutable-tag:list"
	ActionManageImmutable Action = "immutable-tag:create" // create, change and delete immutability rules
	// ActionManageTrustPolicy adds and removes trusted signing keys (in the system: the keys every
	// project trusts) and, in a project, re-runs verification.
	ActionManageTrustPolicy Action = "trust-policy:create"
)

// The system actions: what is done to Berth as a whole rather than inside one project. Robot
// accounts and scoped API tokens never hold them; their permission lists name project actions only.
const (
	ActionCreateProject     Action = "project:create"
	ActionListUsers         Action = "user:list"
	ActionManageUsers       Action = "user:create" // create, change and delete accounts
	ActionReadScanners      Action = "scanner:read"
	ActionManageScanners    Action = "scanner:create" // register, ping, enable, choose the default, remove
	ActionScanAll           Action = "scan-all:create"
	ActionManageAllowlist   Action = "system-cve-allowlist:update"
	ActionReadGC            Action = "garbage-collection:read"
	ActionRunGC             Action = "garbage-collection:create" // start, stop, schedule; purge uploads
	ActionReadPurge         Action = "purge-audit:read"
	ActionRunPurge          Action = "purge-audit:create" // start, stop, schedule
	ActionReadConfiguration Action = "configuration:read"
	ActionUpdateConfig      Action = "configuration:update"
	ActionReadAuditLog      Action = "audit-log:list" // the whole system's log, not one project's
	ActionReadSystemEvents  Action = "event:read"     // events that belong to no project (purges, deleted projects)
	ActionReadDeliveryReply Action = "webhook-response:read"
	ActionListCatalog       Action = "catalog:read" // /v2/_catalog (what it lists is filtered by project:read)
	ActionReadRegistries    Action = "registry:read"
	ActionManageRegistries  Action = "registry:create" // register, change, test and remove registry endpoints
	ActionReadReplication   Action = "replication:read"
	ActionRunReplication    Action = "replication:create" // policies: create, change, delete, start, stop, retry
	ActionRotateSigningKey  Action = "signing-key:create" // list the token-signing keys, rotate in a new one
	// Labels and robots exist at both levels: ActionManageLabels and ActionManageRobots, asked of
	// System, are the system's own labels and robots.
)

// Scope says where an action applies.
type Scope int

// The scopes of the table.
const (
	InProject Scope = iota
	InSystem
)

// Role is a column of the table: a project role, or one of the two system roles every principal
// has (an administrator, or any signed-in user account).
type Role string

// The system roles. The project roles are member.Role values (see Roles).
const (
	RoleSystemAdmin Role = "SYSTEM_ADMIN"
	RoleUser        Role = "USER"    // any signed-in user account, at system level
	RolePublic      Role = "PUBLIC"  // anyone, anonymous included, in a public project
	roleNone        Role = "NO_ROLE" // a column no row names
)

// row is one line of the table: an action, where it applies, and which roles grant it. A system
// administrator holds every row; it is not listed.
type row struct {
	action Action
	scope  Scope
	roles  []Role
}

var (
	admin      = Role(member.RoleProjectAdmin)
	maintainer = Role(member.RoleMaintainer)
	developer  = Role(member.RoleDeveloper)
	guest      = Role(member.RoleGuest)
	limited    = Role(member.RoleLimitedGuest)
)

// table is who may do what. It is the only place that says so; Decide reads it, and every door
// (the registry, the token service, GraphQL, REST) asks Decide.
var table = []row{
	{ActionReadProject, InProject, []Role{admin, maintainer, developer, guest, limited, RolePublic}},
	{ActionUpdateProject, InProject, []Role{admin, maintainer}},
	{ActionDeleteProject, InProject, []Role{admin}}, // Harbor: project admins only
	{ActionPull, InProject, []Role{admin, maintainer, developer, guest, limited, RolePublic}},
	{ActionPush, InProject, []Role{admin, maintainer, developer}},
	{ActionDeleteArtifact, InProject, []Role{admin, maintainer}},
	{ActionCreateTag, InProject, []Role{admin, maintainer, developer}},
	{ActionDeleteTag, InProject, []Role{admin, maintainer}},
	{ActionLabelArtifact, InProject, []Role{admin, maintainer, developer}},
	{ActionScan, InProject, []Role{admin, maintainer}},
	{ActionReadScan, InProject, []Role{admin, maintainer, developer, guest, limited, RolePublic}},
	{ActionExportCVE, InProject, []Role{admin, maintainer, developer}},
	{ActionReadLog, InProject, []Role{admin, maintainer, developer, guest}},
	{ActionReadMembers, InProject, []Role{admin, maintainer, developer, guest}},
	{ActionManageMembers, InProject, []Role{admin}},
	{ActionReadRobots, InProject, []Role{admin, maintainer, developer, guest}},
	{ActionManageRobots, InProject, []Role{admin}},
	{ActionListWebhooks, InProject, []Role{admin, maintainer}},
	{ActionManageWebhooks, InProject, []Role{admin}},
	{ActionManageLabels, InProject, []Role{admin, maintainer}},
	{ActionManageTrustPolicy, InProject, []Role{admin}},
	{ActionReadQuota, InProject, []Role{admin, maintainer, developer, guest}},
	{ActionUpdateQuota, InProject, nil},
	{ActionReadRetention, InProject, []Role{admin, maintainer, developer, guest}},
	{ActionManageRetention, InProject, []Role{admin, maintainer}},
	{ActionRunRetention, InProject, []Role{admin, maintainer}},
	{ActionListImmutable, InProject, []Role{admin, maintainer, developer, guest}},
	{ActionManageImmutable, InProject, []Role{admin, maintainer}},

	{ActionCreateProject, InSystem, []Role{RoleUser}},
	{ActionListUsers, InSystem, nil},
	{ActionManageUsers, InSystem, nil},
	{ActionReadScanners, InSystem, nil},
	{ActionManageScanners, InSystem, nil},
	{ActionScanAll, InSystem, nil},
	{ActionManageAllowlist, InSystem, nil},
	{ActionReadGC, InSystem, nil},
	{ActionRunGC, InSystem, nil},
	{ActionReadPurge, InSystem, nil},
	{ActionRunPurge, InSystem, nil},
	{ActionReadConfiguration, InSystem, nil},
	{ActionUpdateConfig, InSystem, nil},
	{ActionReadAuditLog, InSystem, nil},
	{ActionReadSystemEvents, InSystem, nil},
	{ActionReadDeliveryReply, InSystem, nil},
	{ActionListCatalog, InSystem, []Role{RoleUser, RoleRobot}},
	{ActionManageLabels, InSystem, nil},
	{ActionManageRobots, InSystem, nil},
	{ActionReadRobots, InSystem, nil},
	{ActionReadRegistries, InSystem, nil},
	{ActionManageRegistries, InSystem, nil},
	{ActionReadReplication, InSystem, nil},
	{ActionRunReplication, InSystem, nil},
	{ActionManageTrustPolicy, InSystem, nil},
	{ActionReadQuota, InSystem, nil}, // every project's quota (Harbor's GET /quotas)
	{ActionRotateSigningKey, InSystem, nil},
}

// RoleRobot is the column for robot accounts at system level: what any robot may do whatever its
// permission list (in a project, a robot's permission list is its only column).
const RoleRobot Role = "ROBOT"

// Roles lists the five project roles from most to least privileged.
var Roles = []member.Role{
	member.RoleProjectAdmin, member.RoleMaintainer, member.RoleDeveloper, member.RoleGuest, member.RoleLimitedGuest,
}

// ProjectActions lists every project action, in the order of the table.
var ProjectActions = actionsIn(InProject)

// SystemActions lists every system action, in the order of the table.
var SystemActions = actionsIn(InSystem)

func actionsIn(scope Scope) []Action {
	var out []Action
	for _, r := range table {
		if r.scope == scope {
			out = append(out, r.action)
		}
	}
	return out
}

// grants is the table as a set: scope → action → roles.
var grants = func() map[Scope]map[Action][]Role {
	g := map[Scope]map[Action][]Role{InProject: {}, InSystem: {}}
	for _, r := range table {
		g[r.scope][r.action] = r.roles
	}
	return g
}()

// Grants reports whether role grants action in scope. A system administrator holds every action.
func Grants(scope Scope, role Role, action Action) bool {
	roles, ok := grants[scope][action]
	if !ok {
		return false
	}
	return role == RoleSystemAdmin || slices.Contains(roles, role)
}

// RoleAllows reports whether a project role grants an action.
func RoleAllows(role member.Role, action Action) bool {
	return role != "" && Grants(InProject, Role(role), action)
}

// PublicAllows reports whether an action is open to everyone in a public project.
func PublicAllows(action Action) bool { return Grants(InProject, RolePublic, action) }

// IsProjectAction reports whether a is one of the project actions.
func IsProjectAction(a Action) bool {
	_, ok := grants[InProject][a]
	return ok
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

// Allows reports whether the access grants the project action.
func (a Access) Allows(action Action) bool {
	if a.Scope != nil && !a.Scope[action] {
		return false
	}
	switch {
	case a.Admin:
		return IsProjectAction(action)
	case a.Robot != nil:
		return a.Robot[action] || (a.Public && PublicAllows(action))
	case RoleAllows(a.Role, action):
		return true
	default:
		return a.Public && PublicAllows(action)
	}
}

// systemAllows reports whether p may do a system action.
func systemAllows(p *Principal, action Action) bool {
	// A scoped API token holds no system action, except the catalog: what it lists is filtered by
	// project:read, which the scopes do bound.
	if p.Scopes != nil && !slices.Contains(p.Scopes, action) && action != ActionListCatalog {
		return false
	}
	switch {
	case p.Kind == KindUser && p.Admin:
		return Grants(InSystem, RoleSystemAdmin, action)
	case p.Kind == KindUser:
		return Grants(InSystem, RoleUser, action)
	case p.Kind == KindRobot:
		return Grants(InSystem, RoleRobot, action)
	default:
		return false
	}
}
