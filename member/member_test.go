package member_test

import (
	"errors"
	"testing"

	"github.com/berth-registry/berth/auth"
	entmember "github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/member"
	"github.com/berth-registry/berth/project/projecttest"
)

type bundle struct {
	*projecttest.Env
	members *member.Service
}

func setup(t *testing.T) bundle {
	t.Helper()
	env := projecttest.Setup(t)
	return bundle{Env: env, members: member.New(env.DB, env.Projects, env.Audit)}
}

func TestMembershipLifecycleIsAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	owner := b.User(t, "owner", false)
	b.User(t, "dev", false)
	p := b.Project(t, owner, "team", false)

	m, err := b.members.Add(owner, p.ID, "dev", entmember.RoleDeveloper)
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	if e := b.WaitAudit(t, "member", "team/dev"); e.Operation != "create" || e.Username != "owner" {
		t.Fatalf("audit of add = %+v", e)
	}
	if _, err := b.members.Add(owner, p.ID, "dev", entmember.RoleGuest); !isKind(err, fault.KindConflict) {
		t.Fatalf("adding a member twice: %v; want a conflict", err)
	}
	if _, err := b.members.Add(owner, p.ID, "nobody", entmember.RoleGuest); !fault.IsNotFound(err) {
		t.Fatalf("adding an unknown user: %v; want not found", err)
	}
	if _, err := b.members.Add(owner, p.ID, "dev", entmember.Role("OWNER")); !isKind(err, fault.KindBadInput) {
		t.Fatalf("an unknown role: %v; want bad input", err)
	}
	updated, err := b.members.Update(owner, m.ID, entmember.RoleMaintainer)
	if err != nil || updated.Role != entmember.RoleMaintainer {
		t.Fatalf("update = %v, %v", updated, err)
	}
	list, err := b.members.List(owner, p)
	if err != nil || len(list) != 2 || list[1].Edges.User.Username != "dev" {
		t.Fatalf("members = %v, %v; want the owner and dev", list, err)
	}
	if err := b.members.Remove(owner, m.ID); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if n := b.DB.AuditLog.Query().CountX(owner); n < 1 {
		t.Fatal("no audit entries")
	}
}

func TestMembersOfAHiddenProjectAreNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	owner := b.User(t, "owner", false)
	stranger := b.User(t, "stranger", false)
	guest := b.User(t, "guest", false)
	p := b.Project(t, owner, "secret", false)
	m, err := b.members.Add(owner, p.ID, "guest", entmember.RoleGuest)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := b.members.Add(stranger, p.ID, "stranger", entmember.RoleProjectAdmin); !fault.IsNotFound(err) {
		t.Fatalf("a stranger adds themselves: %v; want not found", err)
	}
	if _, err := b.members.Update(stranger, m.ID, entmember.RoleProjectAdmin); !fault.IsNotFound(err) {
		t.Fatalf("a stranger changes a role: %v; want not found", err)
	}
	if err := b.members.Remove(stranger, m.ID); !fault.IsNotFound(err) {
		t.Fatalf("a stranger removes a member: %v; want not found", err)
	}
	if _, err := b.members.List(stranger, p); !fault.IsNotFound(err) {
		t.Fatalf("a stranger lists members: %v; want not found", err)
	}
	// A guest sees the project and its members, but may not manage them.
	if _, err := b.members.List(guest, p); err != nil {
		t.Fatalf("a guest lists members: %v", err)
	}
	if _, err := b.members.Update(guest, m.ID, entmember.RoleProjectAdmin); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("a guest promotes themselves: %v; want ErrForbidden", err)
	}
	if got := b.DB.Member.GetX(owner, m.ID); got.Role != entmember.RoleGuest {
		t.Fatalf("role after refused changes = %s", got.Role)
	}
}

func isKind(err error, k fault.Kind) bool {
	f, ok := fault.As(err)
	return ok && f.Kind == k
}

func TestCandidatesAreBoundedAndForMemberManagersOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	owner := b.User(t, "owner", false)
	guest := b.User(t, "guest", false)
	for i := range 12 {
		b.User(t, "dev"+string(rune('a'+i)), false)
	}
	p := b.Project(t, owner, "team", false)
	if _, err := b.members.Add(owner, p.ID, "deva", entmember.RoleDeveloper); err != nil {
		t.Fatal(err)
	}
	if _, err := b.members.Add(owner, p.ID, "guest", entmember.RoleGuest); err != nil {
		t.Fatal(err)
	}
	names, err := b.members.Candidates(owner, p.ID, "dev")
	if err != nil || len(names) != 10 || names[0] != "devb" {
		t.Fatalf("candidates = %v, %v; want 10, members left out, in name order", names, err)
	}
	if _, err := b.members.Candidates(guest, p.ID, "dev"); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("a guest asking: %v; want forbidden", err)
	}
	if _, err := b.members.Candidates(owner, p.ID, " "); !isKind(err, fault.KindBadInput) {
		t.Fatalf("an empty prefix: %v; want bad input", err)
	}
}
