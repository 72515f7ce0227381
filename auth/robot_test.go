package auth

import (
	"strings"
	"testing"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/ent/schema"
)

func perm(ns string, projectID int, action Action) schema.RobotPermission {
	p := schema.RobotPermission{Namespace: ns, ProjectID: projectID}
	p.Resource, p.Action, _ = strings.Cut(string(action), ":")
	return p
}

// TestRobotAccess holds a robot's access to its permission list: only role-table actions, only
// the projects it names, and never outside its own project for a project robot.
func TestRobotAccess(t *testing.T) {
	t.Parallel()
	s := &Service{} // robots never touch the database in Access
	alpha := &ent.Project{ID: 1, Name: "alpha"}
	beta := &ent.Project{ID: 2, Name: "beta"}
	public := &ent.Project{ID: 3, Name: "pub", Public: true}

	projectRobot := &Principal{Kind: KindRobot, Name: "robot$alpha+ci", RobotProjectID: 1, Permissions: []schema.RobotPermission{
		perm("alpha", 1, ActionPull),
		perm("beta", 2, ActionPush), // cannot be created; ignored if it ever were
		perm("*", 0, ActionDeleteArtifact),
		{Namespace: "alpha", ProjectID: 1, Resource: "repository", Action: "fly"},
	}}
	systemRobot := &Principal{Kind: KindRobot, Name: "robot$mirror", Permissions: []schema.RobotPermission{
		perm("*", 0, ActionPull),
		perm("beta", 2, ActionPush),
	}}
	cases := []struct {
		who     *Principal
		proj    *ent.Project
		allowed []Action
	}{
		{projectRobot, alpha, []Action{ActionReadProject, ActionPull}},
		{projectRobot, beta, nil},
		{projectRobot, public, []Action{ActionReadProject, ActionPull, ActionReadScan}},
		{systemRobot, alpha, []Action{ActionReadProject, ActionPull}},
		{systemRobot, beta, []Action{ActionReadProject, ActionPull, ActionPush}},
	}
	for _, c := range cases {
		a, err := s.Access(t.Context(), c.who, c.proj)
		if err != nil {
			t.Fatal(err)
		}
		want := map[Action]bool{}
		for _, act := range c.allowed {
			want[act] = true
		}
		for _, act := range ProjectActions {
			if got := a.Allows(act); got != want[act] {
				t.Errorf("%s in %s: Allows(%s) = %v, want %v", c.who.Name, c.proj.Name, act, got, want[act])
			}
		}
	}
}

// TestScopedAccess holds an API token's scopes as a bound on the user's own rights.
func TestScopedAccess(t *testing.T) {
	t.Parallel()
	dev := Access{Role: member.RoleDeveloper, Scope: map[Action]bool{ActionPull: true, ActionDeleteArtifact: true}}
	for act, want := range map[Action]bool{ActionPull: true, ActionPush: false, ActionDeleteArtifact: false} {
		if got := dev.Allows(act); got != want {
			t.Errorf("developer with pull and delete scopes: Allows(%s) = %v, want %v", act, got, want)
		}
	}
	admin := Access{Admin: true, Scope: map[Action]bool{ActionPull: true}}
	if admin.Allows(ActionPush) || !admin.Allows(ActionPull) {
		t.Errorf("admin with a pull scope: push %v pull %v, want false true", admin.Allows(ActionPush), admin.Allows(ActionPull))
	}
}

func TestRobotNameAndScopes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ project, name, want string }{
		{"", "mirror", "robot$mirror"}, {"alpha", "ci.build-1", "robot$alpha+ci.build-1"},
		{"alpha", "CI", ""}, {"alpha", "a+b", ""}, {"", "", ""}, {"alpha", "a..b", ""},
	} {
		got, err := RobotName(c.project, c.name)
		if (err != nil) != (c.want == "") || got != c.want {
			t.Errorf("RobotName(%q, %q) = %q, %v; want %q", c.project, c.name, got, err, c.want)
		}
	}
	for scopes, ok := range map[string]bool{"*": true, "repository:pull": true, "repository:pull,tag:create": true,
		"": false, "*,repository:pull": false, "repository:fly": false} {
		var list []string
		if scopes != "" {
			list = strings.Split(scopes, ",")
		}
		if err := ValidScopes(list); (err == nil) != ok {
			t.Errorf("ValidScopes(%q) = %v, want ok %v", scopes, err, ok)
		}
	}
}
