package robot_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/ent/schema"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/robot"
	"github.com/berth-registry/berth/server/servertest"
)

type bundle struct {
	*servertest.Domain
	robots      *robot.Service
	alpha, beta *ent.Project
	admin       context.Context // system administrator
	owner       context.Context // alpha's project admin
	dev         context.Context // alpha's developer
	outsider    context.Context // member of nothing
}

func setup(t *testing.T) bundle {
	t.Helper()
	d := servertest.NewDomain(t)
	b := bundle{Domain: d, robots: robot.New(d.DB, d.Auth, d.Projects, d.Audit),
		admin: d.User(t, "root", "Root-Password-1", true), owner: d.User(t, "owner", "Owner-Password-1", false),
		dev: d.User(t, "dev", "Dev-Password-1", false), outsider: d.User(t, "outsider", "Outsider-Password-1", false)}
	b.alpha = d.Project(t, "alpha", map[string]member.Role{"owner": member.RoleProjectAdmin, "dev": member.RoleDeveloper})
	b.beta = d.Project(t, "beta", nil)
	return b
}

func perm(ns, resource, action string) schema.RobotPermission {
	return schema.RobotPermission{Namespace: ns, Resource: resource, Action: action}
}

var kind = servertest.FaultKind

// login authenticates as the robot with secret, as every door does.
func (b bundle) login(name, secret string) error {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(name, secret)
	_, _, err := b.Auth.Authenticate(context.Background(), r)
	return err
}

func TestCreateShowsTheSecretOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	created, err := b.robots.Create(b.owner, robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci",
		Permissions: []schema.RobotPermission{perm("alpha", "repository", "pull"), perm("alpha", "repository", "push"), perm("alpha", "repository", "pull")}})
	if err != nil {
		t.Fatal(err)
	}
	rb := created.Robot
	if rb.Name != "robot$alpha+ci" || len(rb.Permissions) != 2 || rb.Permissions[0].ProjectID != b.alpha.ID || rb.ExpiresAt != nil {
		t.Fatalf("created %+v", rb)
	}
	if created.Secret == "" || string(rb.SecretHash) == created.Secret || string(rb.SecretHash) != string(auth.HashSecret(created.Secret)) {
		t.Fatal("the robot keeps its secret in the clear, or not at all")
	}
	if err := b.login(rb.Name, created.Secret); err != nil {
		t.Fatalf("robot logs in with its secret: %v", err)
	}
	if e := b.WaitAudit(t, audit.OpCreate, "robot", "robot$alpha+ci"); e.ProjectName != "alpha" || e.Username != "owner" {
		t.Fatalf("audit entry %+v", e)
	}
	// Read back, the robot has no secret to show; a new one replaces the old at once.
	got, err := b.robots.Get(b.dev, rb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != rb.ID {
		t.Fatalf("got robot %d", got.ID)
	}
	refreshed, err := b.robots.RefreshSecret(b.owner, rb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if refreshed.Secret == "" || refreshed.Secret == created.Secret {
		t.Fatal("refresh gave no new secret")
	}
	if err := b.login(rb.Name, created.Secret); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("old secret after refresh: %v", err)
	}
	if err := b.login(rb.Name, refreshed.Secret); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	b.WaitAudit(t, audit.OpUpdate, "robot", "robot$alpha+ci (secret)")
}

func TestCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pull := []schema.RobotPermission{perm("alpha", "repository", "pull")}
	days := func(n int) *int { return &n }
	for _, tc := range []struct {
		name string
		in   robot.CreateInput
		want fault.Kind
	}{
		{"bad name", robot.CreateInput{ProjectID: &b.alpha.ID, Name: "CI!", Permissions: pull}, fault.KindBadInput},
		{"no permissions", robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci"}, fault.KindBadInput},
		{"unknown permission", robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci", Permissions: []schema.RobotPermission{perm("alpha", "repository", "fly")}}, fault.KindBadInput},
		{"system action", robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci", Permissions: []schema.RobotPermission{perm("alpha", "user", "create")}}, fault.KindBadInput},
		{"* in a project robot", robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci", Permissions: []schema.RobotPermission{perm("*", "repository", "pull")}}, fault.KindBadInput},
		{"another project", robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci", Permissions: []schema.RobotPermission{perm("beta", "repository", "pull")}}, fault.KindBadInput},
		{"zero days", robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci", Duration: days(0), Permissions: pull}, fault.KindBadInput},
		{"too many days", robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci", Duration: days(36501), Permissions: pull}, fault.KindBadInput},
		{"unknown project", robot.CreateInput{ProjectName: "gamma", Name: "ci", Permissions: pull}, fault.KindNotFound},
	} {
		if _, err := b.robots.Create(b.admin, tc.in); kind(err) != tc.want {
			t.Errorf("%s: err = %v, want %s", tc.name, err, tc.want)
		}
	}
	many := make([]schema.RobotPermission, robot.MaxPermissions+1)
	for i := range many {
		many[i] = perm("alpha", "repository", "pull")
	}
	if _, err := b.robots.Create(b.admin, robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci", Permissions: many}); kind(err) != fault.KindBadInput {
		t.Errorf("too many permissions: %v", err)
	}
	if _, err := b.robots.Create(b.admin, robot.CreateInput{ProjectName: "alpha", Name: "ci", Duration: days(30), Permissions: pull}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.robots.Create(b.admin, robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci", Permissions: pull}); kind(err) != fault.KindConflict {
		t.Errorf("same name twice: %v, want conflict", err)
	}
}

func TestWhoMayCreateAndSee(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pull := []schema.RobotPermission{perm("alpha", "repository", "pull")}
	if _, err := b.robots.Create(b.dev, robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci", Permissions: pull}); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a developer creates a robot: %v, want forbidden", err)
	}
	if _, err := b.robots.Create(b.outsider, robot.CreateInput{ProjectID: &b.alpha.ID, Name: "ci", Permissions: pull}); !fault.IsNotFound(err) {
		t.Errorf("an outsider creates a robot in a private project: %v, want not found", err)
	}
	if _, err := b.robots.Create(b.owner, robot.CreateInput{Name: "sys", Permissions: []schema.RobotPermission{perm("*", "repository", "pull")}}); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a project admin creates a system robot: %v, want forbidden", err)
	}
	sys, err := b.robots.Create(b.admin, robot.CreateInput{Name: "sys", Permissions: []schema.RobotPermission{perm("*", "repository", "pull"), perm("beta", "repository", "push")}})
	if err != nil {
		t.Fatal(err)
	}
	if sys.Robot.Name != "robot$sys" || sys.Robot.ProjectID != nil {
		t.Fatalf("system robot %+v", sys.Robot)
	}
	if _, err := b.robots.Get(b.owner, sys.Robot.ID); !fault.IsNotFound(err) {
		t.Errorf("a project admin reads a system robot: %v, want not found", err)
	}
	if _, _, err := b.robots.List(b.owner, nil, robot.Page{}); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a project admin lists system robots: %v, want forbidden", err)
	}
	for i, name := range []string{"a", "b", "c"} {
		if _, err := b.robots.Create(b.owner, robot.CreateInput{ProjectID: &b.alpha.ID, Name: name, Permissions: pull}); err != nil {
			t.Fatalf("robot %d: %v", i, err)
		}
	}
	page, total, err := b.robots.List(b.dev, &b.alpha.ID, robot.Page{Offset: 1, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if total != 3 || len(page) != 1 || page[0].Name != "robot$alpha+b" {
		t.Fatalf("page 2 of alpha's robots: %d of %d, %v", len(page), total, page)
	}
	if _, _, err := b.robots.List(b.outsider, &b.alpha.ID, robot.Page{}); !fault.IsNotFound(err) {
		t.Errorf("an outsider lists alpha's robots: %v, want not found", err)
	}
	if _, _, err := b.robots.List(b.admin, nil, robot.Page{Limit: robot.MaxPage + 1}); kind(err) != fault.KindBadInput {
		t.Errorf("a page too large: %v, want bad input", err)
	}
}

// A robot that may manage robots cannot take over one that may do more than it may.
func TestManagerMustHoldEveryPermission(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pusher, err := b.robots.Create(b.owner, robot.CreateInput{ProjectID: &b.alpha.ID, Name: "pusher",
		Permissions: []schema.RobotPermission{perm("alpha", "repository", "push")}})
	if err != nil {
		t.Fatal(err)
	}
	puller, err := b.robots.Create(b.owner, robot.CreateInput{ProjectID: &b.alpha.ID, Name: "puller",
		Permissions: []schema.RobotPermission{perm("alpha", "repository", "pull")}})
	if err != nil {
		t.Fatal(err)
	}
	manager := auth.WithPrincipal(context.Background(), &auth.Principal{Kind: auth.KindRobot, Name: "robot$alpha+manager",
		RobotID: 1000, RobotProjectID: b.alpha.ID, Permissions: []schema.RobotPermission{
			{Namespace: "alpha", Resource: "robot", Action: "create", ProjectID: b.alpha.ID},
			{Namespace: "alpha", Resource: "robot", Action: "read", ProjectID: b.alpha.ID},
			{Namespace: "alpha", Resource: "repository", Action: "pull", ProjectID: b.alpha.ID}}})
	if _, err := b.robots.RefreshSecret(manager, pusher.Robot.ID); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("the manager refreshes a pusher's secret: %v, want forbidden", err)
	}
	if err := b.robots.Delete(manager, pusher.Robot.ID); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("the manager deletes a pusher: %v, want forbidden", err)
	}
	if _, err := b.robots.Update(manager, puller.Robot.ID, robot.UpdateInput{
		Permissions: []schema.RobotPermission{perm("alpha", "repository", "push")}}); kind(err) != fault.KindForbidden ||
		!strings.Contains(err.Error(), "repository:push") {
		t.Errorf("the manager gives a robot push: %v, want a refusal naming it", err)
	}
	if _, err := b.robots.Create(manager, robot.CreateInput{ProjectID: &b.alpha.ID, Name: "another",
		Permissions: []schema.RobotPermission{perm("alpha", "repository", "push")}}); kind(err) != fault.KindForbidden {
		t.Errorf("the manager creates a pusher: %v, want forbidden", err)
	}
	disabled := true
	if _, err := b.robots.Update(manager, puller.Robot.ID, robot.UpdateInput{Disabled: &disabled}); err != nil {
		t.Fatalf("the manager disables a puller: %v", err)
	}
	if err := b.robots.Delete(manager, puller.Robot.ID); err != nil {
		t.Fatalf("the manager deletes a puller: %v", err)
	}
	if e := b.WaitAudit(t, audit.OpDelete, "robot", "robot$alpha+puller"); e.Username != "robot$alpha+manager" {
		t.Fatalf("deleted by %q", e.Username)
	}
	if _, err := b.robots.Get(b.owner, puller.Robot.ID); !fault.IsNotFound(err) {
		t.Fatalf("deleted robot: %v", err)
	}
}

func TestPermissionChoicesAreTheProjectActions(t *testing.T) {
	t.Parallel()
	choices := robot.PermissionChoices()
	if len(choices) != len(auth.ProjectActions) {
		t.Fatalf("%d choices for %d project actions", len(choices), len(auth.ProjectActions))
	}
	for i, c := range choices {
		if a, ok := auth.PermissionAction(c); !ok || a != auth.ProjectActions[i] || c.Namespace != "*" {
			t.Errorf("choice %d = %+v", i, c)
		}
	}
}
