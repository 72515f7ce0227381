package auth_test

import (
	"testing"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent/member"
)

// spec is the role table of harbor-compat §1, copied here by hand from the spec, apart from the
// implementation, so that a change to either shows up. Columns: project admin, maintainer,
// developer, guest, limited guest, anyone on a public project.
var spec = map[auth.Action][6]bool{
	auth.ActionReadProject:     {true, true, true, true, true, true},
	auth.ActionPull:            {true, true, true, true, true, true},
	auth.ActionPush:            {true, true, true, false, false, false},
	auth.ActionDeleteArtifact:  {true, true, false, false, false, false},
	auth.ActionCreateTag:       {true, true, true, false, false, false},
	auth.ActionDeleteTag:       {true, true, false, false, false, false},
	auth.ActionLabelArtifact:   {true, true, true, false, false, false},
	auth.ActionScan:            {true, true, false, false, false, false},
	auth.ActionReadScan:        {true, true, true, true, true, true},
	auth.ActionExportCVE:       {true, true, true, false, false, false},
	auth.ActionReadLog:         {true, true, true, true, false, false},
	auth.ActionManageMembers:   {true, false, false, false, false, false},
	auth.ActionReadMembers:     {true, true, true, true, false, false},
	auth.ActionUpdateProject:   {true, true, false, false, false, false},
	auth.ActionManageLabels:    {true, true, false, false, false, false},
	auth.ActionDeleteProject:   {true, false, false, false, false, false}, // Harbor: project admins only
	auth.ActionManageRobots:    {true, false, false, false, false, false},
	auth.ActionReadRobots:      {true, true, true, true, false, false},
	auth.ActionManageWebhooks:  {true, false, false, false, false, false},
	auth.ActionListWebhooks:    {true, true, false, false, false, false},
	auth.ActionReadQuota:       {true, true, true, true, false, false},
	auth.ActionUpdateQuota:     {false, false, false, false, false, false}, // system administrators only
	auth.ActionReadRetention:   {true, true, true, true, false, false},
	auth.ActionManageRetention: {true, true, false, false, false, false},
	auth.ActionRunRetention:    {true, true, false, false, false, false},
	auth.ActionListImmutable:   {true, true, true, true, false, false},
	auth.ActionManageImmutable: {true, true, false, false, false, false},
	// Not in Harbor's table (Harbor has no trust policy): project admins only, like members.
	auth.ActionManageTrustPolicy: {true, false, false, false, false, false},
}

var roles = []member.Role{member.RoleProjectAdmin, member.RoleMaintainer, member.RoleDeveloper, member.RoleGuest, member.RoleLimitedGuest}

func TestRoleTableMatchesHarbor(t *testing.T) {
	t.Parallel()
	if len(spec) != len(auth.ProjectActions) {
		t.Fatalf("the spec copy has %d actions, the implementation %d: a new action needs a row here", len(spec), len(auth.ProjectActions))
	}
	for _, action := range auth.ProjectActions {
		want, ok := spec[action]
		if !ok {
			t.Errorf("action %s is not in the spec copy", action)
			continue
		}
		for i, role := range roles {
			for _, public := range []bool{false, true} {
				got := auth.Access{Role: role, Public: public}.Allows(action)
				// A member's role grants the same in a public project, plus the public actions.
				if w := want[i] || (public && want[5]); got != w {
					t.Errorf("%s, public=%v, %s: allowed=%v, want %v", role, public, action, got, w)
				}
			}
		}
		if got := (auth.Access{Public: true}).Allows(action); got != want[5] {
			t.Errorf("non-member on a public project, %s: allowed=%v, want %v", action, got, want[5])
		}
		if (auth.Access{}).Allows(action) {
			t.Errorf("non-member on a private project may %s", action)
		}
		if !(auth.Access{Admin: true}).Allows(action) {
			t.Errorf("a system admin may not %s", action)
		}
	}
}

func TestDeniedSays401Or403(t *testing.T) {
	t.Parallel()
	if auth.Denied(auth.Anonymous) != auth.ErrUnauthenticated {
		t.Error("anonymous callers must be asked to authenticate (401)")
	}
	if auth.Denied(&auth.Principal{Kind: auth.KindUser, Name: "u"}) != auth.ErrForbidden {
		t.Error("a known user without permission must get 403")
	}
}
