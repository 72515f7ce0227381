package user_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/user"
)

type bundle struct {
	*servertest.Domain
	users *user.Service
	admin context.Context // a system administrator
	alice context.Context // an ordinary user
}

func setup(t *testing.T) bundle {
	t.Helper()
	d := servertest.NewDomain(t)
	return bundle{Domain: d, users: user.New(d.DB, d.Auth, d.Audit),
		admin: d.User(t, "root", "Root-Password-1", true), alice: d.User(t, "alice", "Alice-Password-1", false)}
}

var kind = servertest.FaultKind

func TestCreateValidatesAndAudits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name string
		in   user.CreateInput
		want fault.Kind
	}{
		{"bad username", user.CreateInput{Username: "-bob", Password: "Bob-Password-1"}, fault.KindBadInput},
		{"username with a slash", user.CreateInput{Username: "bo/b", Password: "Bob-Password-1"}, fault.KindBadInput},
		{"long username", user.CreateInput{Username: strings.Repeat("b", 256), Password: "Bob-Password-1"}, fault.KindBadInput},
		{"weak password", user.CreateInput{Username: "bob", Password: "password"}, fault.KindBadInput},
		{"taken", user.CreateInput{Username: "alice", Password: "Bob-Password-1"}, fault.KindConflict},
	} {
		if _, err := b.users.Create(b.admin, tc.in); kind(err) != tc.want {
			t.Errorf("%s: err = %v, want %s", tc.name, err, tc.want)
		}
	}
	if _, err := b.users.Create(b.admin, user.CreateInput{Username: "bob", Password: "password"}); err == nil || !strings.Contains(err.Error(), "upper-case") {
		t.Errorf("weak password: %v, want the rules stated", err)
	}
	email := "bob@example.com"
	u, err := b.users.Create(b.admin, user.CreateInput{Username: "bob", Password: "Bob-Password-1", Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != email || u.PasswordHash == "Bob-Password-1" || u.Admin {
		t.Fatalf("created %+v", u)
	}
	if e := b.WaitAudit(t, audit.OpCreate, "user", "bob"); e.Username != "root" {
		t.Fatalf("audit entry by %q, want root", e.Username)
	}
	if _, err := b.Auth.Login(context.Background(), "bob", "Bob-Password-1"); err != nil {
		t.Fatalf("bob logs in with his password: %v", err)
	}
}

func TestOnlyAdministratorsManageUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.users.Create(b.alice, user.CreateInput{Username: "bob", Password: "Bob-Password-1"}); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a user creates a user: %v, want forbidden", err)
	}
	if _, err := b.users.Create(context.Background(), user.CreateInput{Username: "bob", Password: "Bob-Password-1"}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("anonymous creates a user: %v, want unauthenticated", err)
	}
	if _, err := b.users.Query(b.alice); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a user lists users: %v, want forbidden", err)
	}
	root := auth.PrincipalFrom(b.admin)
	if err := b.users.Delete(b.alice, root.UserID); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a user deletes the admin: %v, want forbidden", err)
	}
	admin := true
	if _, err := b.users.Update(b.alice, auth.PrincipalFrom(b.alice).UserID, user.UpdateInput{Admin: &admin}); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a user makes herself admin: %v, want forbidden", err)
	}
	q, err := b.users.Query(b.admin)
	if err != nil {
		t.Fatal(err)
	}
	if n := q.CountX(context.Background()); n != 2 {
		t.Fatalf("admin lists %d users, want 2", n)
	}
}

func TestCannotDeleteYourself(t *testing.T) {
	t.Parallel()
	b := setup(t)
	root := auth.PrincipalFrom(b.admin)
	if err := b.users.Delete(b.admin, root.UserID); kind(err) != fault.KindBadInput {
		t.Fatalf("admin deletes herself: %v, want bad input", err)
	}
	if err := b.users.Delete(b.admin, 999999); !fault.IsNotFound(err) {
		t.Fatalf("delete a user that is not there: %v, want not found", err)
	}
	if err := b.users.Delete(b.admin, auth.PrincipalFrom(b.alice).UserID); err != nil {
		t.Fatal(err)
	}
	b.WaitAudit(t, audit.OpDelete, "user", "alice")
}

func TestUpdateResetsPassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := auth.PrincipalFrom(b.alice).UserID
	weak := "short"
	if _, err := b.users.Update(b.admin, id, user.UpdateInput{Password: &weak}); kind(err) != fault.KindBadInput {
		t.Fatalf("reset to a weak password: %v, want bad input", err)
	}
	if _, err := b.users.Update(b.admin, 999999, user.UpdateInput{}); !fault.IsNotFound(err) {
		t.Fatalf("update a user that is not there: %v, want not found", err)
	}
	strong, name := "Alice-Password-2", "Alice A."
	u, err := b.users.Update(b.admin, id, user.UpdateInput{Password: &strong, FullName: &name})
	if err != nil {
		t.Fatal(err)
	}
	if u.FullName != name {
		t.Fatalf("full name %q", u.FullName)
	}
	if _, err := b.Auth.Login(context.Background(), "alice", "Alice-Password-1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("old password after reset: %v", err)
	}
	if _, err := b.Auth.Login(context.Background(), "alice", strong); err != nil {
		t.Fatalf("new password after reset: %v", err)
	}
	b.WaitAudit(t, audit.OpUpdate, "user", "alice")
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.users.ChangePassword(b.alice, "Wrong-Password-1", "Alice-Password-2"); kind(err) != fault.KindBadInput {
		t.Fatalf("wrong current password: %v, want bad input", err)
	}
	if err := b.users.ChangePassword(b.alice, "Alice-Password-1", "weak"); kind(err) != fault.KindBadInput {
		t.Fatalf("weak new password: %v, want bad input", err)
	}
	if err := b.users.ChangePassword(context.Background(), "x", "Alice-Password-2"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("anonymous changes a password: %v, want unauthenticated", err)
	}
	robot := auth.WithPrincipal(context.Background(), &auth.Principal{Kind: auth.KindRobot, Name: "robot$x", RobotID: 1})
	if err := b.users.ChangePassword(robot, "x", "Alice-Password-2"); kind(err) != fault.KindBadInput {
		t.Fatalf("a robot changes a password: %v, want bad input", err)
	}
	if err := b.users.ChangePassword(b.alice, "Alice-Password-1", "Alice-Password-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Auth.Login(context.Background(), "alice", "Alice-Password-2"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	b.WaitAudit(t, audit.OpUpdate, "user", "alice (password)")
}

func TestCurrent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	v, err := b.users.Current(b.alice)
	if err != nil {
		t.Fatal(err)
	}
	if v.User == nil || v.User.Username != "alice" || v.Admin || v.Kind != auth.KindUser {
		t.Fatalf("alice sees %+v", v)
	}
	v, err = b.users.Current(context.Background())
	if err != nil || v.User != nil || v.Kind != auth.KindAnonymous {
		t.Fatalf("anonymous sees %+v, %v", v, err)
	}
}
