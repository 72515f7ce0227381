package project_test

import (
	"errors"
	"testing"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entevent "github.com/berth-registry/berth/ent/event"
	"github.com/berth-registry/berth/ent/member"
	entproject "github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/registryendpoint"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/project/projecttest"
)

// kind is the kind of fault err is, or "" for none.
func kind(err error) fault.Kind {
	if f, ok := fault.As(err); ok {
		return f.Kind
	}
	return ""
}

func TestCreatorBecomesProjectAdmin(t *testing.T) {
	t.Parallel()
	env := projecttest.Setup(t)
	alice := env.User(t, "alice", false)
	p := env.Project(t, alice, "team", false)

	m, err := env.DB.Member.Query().Where(member.ProjectID(p.ID)).Only(alice)
	if err != nil {
		t.Fatalf("members of a new project: %v", err)
	}
	if m.Role != member.RoleProjectAdmin || m.UserID != auth.PrincipalFrom(alice).UserID {
		t.Fatalf("member = user %d as %s; want the creator as project admin", m.UserID, m.Role)
	}
	if _, err := env.Projects.Get(alice, p.ID, auth.ActionDeleteProject); err != nil {
		t.Fatalf("the creator may not delete their project: %v", err)
	}
	n, err := env.DB.Event.Query().Where(entevent.Type(event.ProjectCreated), entevent.ProjectName("team")).Count(alice)
	if err != nil || n != 1 {
		t.Fatalf("project.created events = %d, %v; want 1", n, err)
	}
}

func TestCreateRefusesWhatCannotBe(t *testing.T) {
	t.Parallel()
	env := projecttest.Setup(t)
	env.Project(t, env.Admin, "taken", false)
	disabled, err := env.DB.Scanner.Create().SetName("off").SetURL("http://scanner.invalid").SetEnabled(false).Save(env.Admin)
	if err != nil {
		t.Fatal(err)
	}
	missing := 4242
	extreme := entproject.SeverityThreshold("EXTREME")
	for _, c := range []struct {
		name  string
		input ent.CreateProjectInput
		want  fault.Kind
	}{
		{"upper case", ent.CreateProjectInput{Name: "Team"}, fault.KindBadInput},
		{"double separator", ent.CreateProjectInput{Name: "a--b"}, fault.KindBadInput},
		{"empty", ent.CreateProjectInput{Name: ""}, fault.KindBadInput},
		{"too long", ent.CreateProjectInput{Name: string(make([]byte, 256))}, fault.KindBadInput},
		{"allowlist entry no id", ent.CreateProjectInput{Name: "a1", CveAllowlist: []string{"not-a-cve"}}, fault.KindBadInput},
		{"half a CVE", ent.CreateProjectInput{Name: "a2", CveAllowlist: []string{"CVE-24-1"}}, fault.KindBadInput},
		{"unknown scanner", ent.CreateProjectInput{Name: "a3", ScannerID: &missing}, fault.KindBadInput},
		{"disabled scanner", ent.CreateProjectInput{Name: "a4", ScannerID: &disabled.ID}, fault.KindBadInput},
		{"unknown severity", ent.CreateProjectInput{Name: "a5", SeverityThreshold: &extreme}, fault.KindBadInput},
		{"name taken", ent.CreateProjectInput{Name: "taken"}, fault.KindConflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := env.Projects.Create(env.Admin, c.input)
			if kind(err) != c.want {
				t.Fatalf("err = %v; want a %s fault", err, c.want)
			}
		})
	}
	if n := env.DB.Project.Query().CountX(env.Admin); n != 1 {
		t.Fatalf("projects after refused creations = %d, want 1", n)
	}
	if _, err := env.Projects.Create(projecttest.Anonymous(), ent.CreateProjectInput{Name: "anon"}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("anonymous create: %v; want ErrUnauthenticated", err)
	}
	ok, err := env.Projects.Create(env.Admin, ent.CreateProjectInput{Name: "ok.name_1-x", CveAllowlist: []string{"CVE-2024-1234", "GHSA-abcd-1234"}})
	if err != nil || len(ok.CveAllowlist) != 2 {
		t.Fatalf("valid project: %v, %v", ok, err)
	}
}

func TestHiddenProjectIsNotFound(t *testing.T) {
	t.Parallel()
	env := projecttest.Setup(t)
	private := env.Project(t, env.Admin, "private", false)
	public := env.Project(t, env.Admin, "public", true)
	bob := env.User(t, "bob", false)

	if _, err := env.Projects.Get(bob, private.ID, auth.ActionReadProject); !fault.IsNotFound(err) {
		t.Fatalf("Get of a private project by a stranger: %v; want not found", err)
	}
	if _, err := env.Projects.Find(bob, project.Ref{Name: "private"}); !fault.IsNotFound(err) {
		t.Fatalf("Find of a private project by a stranger: %v; want not found", err)
	}
	if _, err := env.Projects.Update(bob, private.ID, ent.UpdateProjectInput{}); !fault.IsNotFound(err) {
		t.Fatalf("Update of a private project by a stranger: %v; want not found", err)
	}
	if err := env.Projects.Delete(bob, private.ID); !fault.IsNotFound(err) {
		t.Fatalf("Delete of a private project by a stranger: %v; want not found", err)
	}
	// A project they may see but not change is a refusal, not a secret.
	if err := env.Projects.Delete(bob, public.ID); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("Delete of a public project by a stranger: %v; want ErrForbidden", err)
	}
	if _, err := env.Projects.Find(projecttest.Anonymous(), project.Ref{ID: public.ID}); err != nil {
		t.Fatalf("anonymous Find of a public project: %v", err)
	}
	list, total, err := env.Projects.List(bob, project.ListOptions{Page: project.Page{Limit: 10}})
	if err != nil || total != 1 || len(list) != 1 || list[0].Name != "public" {
		t.Fatalf("stranger's list = %v (total %d), %v; want the public project only", list, total, err)
	}
}

func TestOnlyAnEmptyProjectIsDeleted(t *testing.T) {
	t.Parallel()
	env := projecttest.Setup(t)
	p := env.Project(t, env.Admin, "full", false)
	env.DB.Repository.Create().SetName("full/app").SetProjectID(p.ID).ExecX(env.Admin)

	err := env.Projects.Delete(env.Admin, p.ID)
	if kind(err) != fault.KindConflict {
		t.Fatalf("delete of a project with a repository: %v; want a conflict", err)
	}
	if !env.DB.Project.Query().Where(entproject.ID(p.ID)).ExistX(env.Admin) {
		t.Fatal("the refused project is gone")
	}
	env.DB.Repository.Delete().ExecX(env.Admin)
	if err := env.Projects.Delete(env.Admin, p.ID); err != nil {
		t.Fatalf("delete of an empty project: %v", err)
	}
	if _, err := env.Projects.Get(env.Admin, p.ID, auth.ActionReadProject); !fault.IsNotFound(err) {
		t.Fatalf("deleted project: %v; want not found", err)
	}
}

func TestUpdateIsAudited(t *testing.T) {
	t.Parallel()
	env := projecttest.Setup(t)
	p := env.Project(t, env.Admin, "audited", false)
	public := true
	got, err := env.Projects.Update(env.Admin, p.ID, ent.UpdateProjectInput{Public: &public, AppendCveAllowlist: []string{"CVE-2024-0001"}})
	if err != nil || !got.Public || len(got.CveAllowlist) != 1 {
		t.Fatalf("update = %+v, %v", got, err)
	}
	if _, err := env.Projects.Update(env.Admin, p.ID, ent.UpdateProjectInput{AppendCveAllowlist: []string{"nope"}}); kind(err) != fault.KindBadInput {
		t.Fatalf("update with a bad allowlist entry: %v; want bad input", err)
	}
	if e := env.WaitAudit(t, "project", "audited"); e.Operation != "update" || e.Username != "admin" {
		t.Fatalf("audit entry = %+v", e)
	}
}

func TestListPagesAndCounts(t *testing.T) {
	t.Parallel()
	env := projecttest.Setup(t)
	for _, name := range []string{"c", "a", "b"} {
		env.Project(t, env.Admin, name, false)
	}
	a, _ := env.Projects.Find(env.Admin, project.Ref{Name: "a"})
	env.DB.Repository.Create().SetName("a/one").SetProjectID(a.ID).ExecX(env.Admin)
	env.DB.Repository.Create().SetName("a/two").SetProjectID(a.ID).ExecX(env.Admin)

	list, total, err := env.Projects.List(env.Admin, project.ListOptions{Page: project.Page{Offset: 0, Limit: 2}})
	if err != nil || total != 3 || len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" {
		t.Fatalf("first page = %v (total %d), %v; want a, b of 3", list, total, err)
	}
	if list[0].Repositories != 2 || list[1].Repositories != 0 {
		t.Fatalf("repository counts = %d, %d; want 2, 0", list[0].Repositories, list[1].Repositories)
	}
	for _, pg := range []project.Page{{Limit: 0}, {Limit: project.MaxPage + 1}, {Offset: -1, Limit: 1}} {
		if _, _, err := env.Projects.List(env.Admin, project.ListOptions{Page: pg}); kind(err) != fault.KindBadInput {
			t.Fatalf("page %+v: %v; want bad input", pg, err)
		}
	}
}

func TestCreateProxyCacheProject(t *testing.T) {
	t.Parallel()
	env := projecttest.Setup(t)
	alice := env.User(t, "alice", false)
	ep, err := env.DB.RegistryEndpoint.Create().SetName("hub").SetURL("https://registry.example").
		SetType(registryendpoint.TypeDockerRegistry).Save(env.Admin)
	if err != nil {
		t.Fatal(err)
	}
	missing := ep.ID + 1000
	ns := func(s string) *string { return &s }
	for _, c := range []struct {
		name  string
		input ent.CreateProjectInput
	}{
		{"unknown endpoint", ent.CreateProjectInput{Name: "p1", ProxyRegistryID: &missing}},
		{"namespace without endpoint", ent.CreateProjectInput{Name: "p2", ProxyNamespace: ns("library")}},
		{"bad namespace", ent.CreateProjectInput{Name: "p3", ProxyRegistryID: &ep.ID, ProxyNamespace: ns("Library/../x")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := env.Projects.Create(env.Admin, c.input); kind(err) != fault.KindBadInput {
				t.Fatalf("err = %v; want a bad input fault", err)
			}
		})
	}
	// Only those who may read registry endpoints may name one.
	if _, err := env.Projects.Create(alice, ent.CreateProjectInput{Name: "mine", ProxyRegistryID: &ep.ID}); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("a user naming an endpoint: %v; want ErrForbidden", err)
	}
	p, err := env.Projects.Create(env.Admin, ent.CreateProjectInput{Name: "cache", ProxyRegistryID: &ep.ID, ProxyNamespace: ns("library")})
	if err != nil || p.ProxyRegistryID == nil || *p.ProxyRegistryID != ep.ID || p.ProxyNamespace != "library" || p.ProxyFreshnessSeconds != 300 {
		t.Fatalf("proxy-cache project: %+v, %v", p, err)
	}
}
