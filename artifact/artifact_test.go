package artifact_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/berth-registry/berth/artifact"
	"github.com/berth-registry/berth/artifact/artifacttest"
	"github.com/berth-registry/berth/auth"
	entevent "github.com/berth-registry/berth/ent/event"
	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/project/projecttest"
)

func isKind(err error, k fault.Kind) bool {
	f, ok := fault.As(err)
	return ok && f.Kind == k
}

func TestTagUntagAndDeleteGoThroughTheRegistry(t *testing.T) {
	t.Parallel()
	env := artifacttest.Setup(t)
	env.Project(t, env.Admin, "team", false)
	a := env.Push(t, "team/app", "v1", "one")

	tag, err := env.Artifacts.CreateTag(env.Admin, a.ID, "v2")
	if err != nil || tag.Name != "v2" || tag.ArtifactID != a.ID {
		t.Fatalf("createTag = %+v, %v", tag, err)
	}
	if got, err := env.Artifacts.ByReference(env.Admin, "team/app", "v2"); err != nil || got.ID != a.ID {
		t.Fatalf("artifact by its new tag = %v, %v", got, err)
	}
	for _, bad := range []string{"-bad", ".bad", "bad tag", "", strings.Repeat("a", 129)} {
		if _, err := env.Artifacts.CreateTag(env.Admin, a.ID, bad); !isKind(err, fault.KindBadInput) {
			t.Fatalf("invalid tag %q: %v; want bad input", bad, err)
		}
	}
	if err := env.Artifacts.DeleteTag(env.Admin, tag.ID); err != nil {
		t.Fatalf("deleteTag: %v", err)
	}
	if _, err := env.Artifacts.ByReference(env.Admin, "team/app", "v2"); !fault.IsNotFound(err) {
		t.Fatalf("artifact by a deleted tag: %v; want not found", err)
	}
	manifest, err := env.Artifacts.Manifest(env.Admin, a)
	if err != nil || !strings.Contains(string(manifest), `"schemaVersion":2`) {
		t.Fatalf("manifest = %s, %v", manifest, err)
	}
	if err := env.Artifacts.Delete(env.Admin, a.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := env.Artifacts.ByReference(env.Admin, "team/app", a.Digest); !fault.IsNotFound(err) {
		t.Fatalf("deleted artifact by digest: %v; want not found", err)
	}
	if _, err := env.Artifacts.Get(env.Admin, a.ID, auth.ActionReadProject); !fault.IsNotFound(err) {
		t.Fatalf("deleted artifact by id: %v; want not found", err)
	}
}

func TestDeleteRepositoryEmptiesItAndSaysSo(t *testing.T) {
	t.Parallel()
	env := artifacttest.Setup(t)
	p := env.Project(t, env.Admin, "team", false)
	env.Push(t, "team/app", "v1", "one")
	env.Push(t, "team/app", "v2", "two")
	repo, err := env.Artifacts.RepositoryByName(env.Admin, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Projects.Delete(env.Admin, p.ID); !isKind(err, fault.KindConflict) {
		t.Fatalf("deleting a project that holds a repository: %v; want a conflict", err)
	}
	if err := env.Artifacts.DeleteRepository(env.Admin, repo.ID); err != nil {
		t.Fatalf("deleteRepository: %v", err)
	}
	if _, err := env.Artifacts.RepositoryByName(env.Admin, "team/app"); !fault.IsNotFound(err) {
		t.Fatalf("deleted repository: %v; want not found", err)
	}
	n, err := env.DB.Event.Query().Where(entevent.Type(event.RepositoryDeleted), entevent.Repository("team/app")).Count(env.Admin)
	if err != nil || n != 1 {
		t.Fatalf("repository.deleted events = %d, %v; want 1", n, err)
	}
	if err := env.Projects.Delete(env.Admin, p.ID); err != nil {
		t.Fatalf("deleting the emptied project: %v", err)
	}
}

func TestHiddenRepositoryIsNotFound(t *testing.T) {
	t.Parallel()
	env := artifacttest.Setup(t)
	p := env.Project(t, env.Admin, "secret", false)
	a := env.Push(t, "secret/app", "v1", "one")
	stranger := env.User(t, "stranger", false)
	guest := env.User(t, "guest", false)
	if _, err := env.DB.Member.Create().SetProjectID(p.ID).SetUserID(auth.PrincipalFrom(guest).UserID).SetRole(member.RoleGuest).Save(guest); err != nil {
		t.Fatal(err)
	}
	tag := env.DB.Tag.Query().OnlyX(env.Admin)

	for name, err := range map[string]error{
		"repository by name":   second(env.Artifacts.RepositoryByName(stranger, "secret/app")),
		"artifact by tag":      second(env.Artifacts.ByReference(stranger, "secret/app", "v1")),
		"artifact by id":       second(env.Artifacts.Get(stranger, a.ID, auth.ActionReadProject)),
		"manifest":             second(env.Artifacts.Manifest(stranger, a)),
		"create tag":           second(env.Artifacts.CreateTag(stranger, a.ID, "mine")),
		"delete tag":           env.Artifacts.DeleteTag(stranger, tag.ID),
		"delete artifact":      env.Artifacts.Delete(stranger, a.ID),
		"delete repository":    env.Artifacts.DeleteRepository(stranger, a.RepositoryID),
		"list repositories":    third(env.Artifacts.ListRepositories(stranger, project.Ref{Name: "secret"}, project.Page{Limit: 10})),
		"list artifacts":       third(env.Artifacts.ListArtifacts(stranger, "secret/app", project.Page{Limit: 10})),
		"anonymous by tag":     second(env.Artifacts.ByReference(projecttest.Anonymous(), "secret/app", "v1")),
		"anonymous repository": second(env.Artifacts.RepositoryByName(projecttest.Anonymous(), "secret/app")),
	} {
		if !fault.IsNotFound(err) {
			t.Errorf("%s by a stranger: %v; want not found", name, err)
		} else if strings.Contains(err.Error(), "project") && !strings.Contains(name, "repositories") {
			t.Errorf("%s by a stranger: %q names the project", name, err)
		}
	}
	// A guest sees the artifact and may pull its manifest, but may not tag or delete.
	if _, err := env.Artifacts.Manifest(guest, a); err != nil {
		t.Fatalf("a guest reads the manifest: %v", err)
	}
	if _, err := env.Artifacts.CreateTag(guest, a.ID, "mine"); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("a guest tags: %v; want ErrForbidden", err)
	}
	if err := env.Artifacts.Delete(guest, a.ID); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("a guest deletes: %v; want ErrForbidden", err)
	}
	if n := env.DB.Artifact.Query().CountX(env.Admin); n != 1 {
		t.Fatalf("artifacts after refused changes = %d, want 1", n)
	}
}

func TestListsArePagesWithTotals(t *testing.T) {
	t.Parallel()
	env := artifacttest.Setup(t)
	env.Project(t, env.Admin, "team", true)
	env.Push(t, "team/b", "v1", "b1")
	env.Push(t, "team/a", "v1", "a1")
	env.Push(t, "team/a", "v2", "a2")
	env.Push(t, "team/a", "v3", "a3")
	anon := projecttest.Anonymous()

	repos, total, err := env.Artifacts.ListRepositories(anon, project.Ref{Name: "team"}, project.Page{Limit: 1})
	if err != nil || total != 2 || len(repos) != 1 || repos[0].Name != "team/a" || repos[0].Artifacts != 3 {
		t.Fatalf("first repository page = %+v (total %d), %v; want team/a with 3 artifacts, of 2", repos, total, err)
	}
	arts, total, err := env.Artifacts.ListArtifacts(anon, "team/a", project.Page{Offset: 1, Limit: 1})
	if err != nil || total != 3 || len(arts) != 1 || len(arts[0].Edges.Tags) != 1 {
		t.Fatalf("second artifact page = %v (total %d), %v; want one tagged artifact of 3", arts, total, err)
	}
	if _, _, err := env.Artifacts.ListArtifacts(anon, "team/a", project.Page{Limit: project.MaxPage + 1}); !isKind(err, fault.KindBadInput) {
		t.Fatalf("a page too large: %v; want bad input", err)
	}
	a, err := env.Artifacts.ByReference(anon, "team/a", "v1")
	if err != nil {
		t.Fatal(err)
	}
	signed, err := env.Artifacts.Signed(anon, []artifact.Subject{{RepositoryID: a.RepositoryID, Digest: a.Digest}})
	if err != nil || len(signed) != 1 || signed[0] {
		t.Fatalf("signed = %v, %v; want one false", signed, err)
	}
}

func second[T any](_ T, err error) error       { return err }
func third[T any](_ T, _ int, err error) error { return err }

func TestDeletingTheLastArtifactDropsTheRepository(t *testing.T) {
	t.Parallel()
	env := artifacttest.Setup(t)
	p := env.Project(t, env.Admin, "team", false)
	one := env.Push(t, "team/app", "v1", "one")
	two := env.Push(t, "team/app", "v2", "two")
	if err := env.Artifacts.Delete(env.Admin, one.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := env.Artifacts.RepositoryByName(env.Admin, "team/app"); err != nil {
		t.Fatalf("a repository that still holds an artifact: %v; want it kept", err)
	}
	if err := env.Artifacts.Delete(env.Admin, two.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := env.Artifacts.RepositoryByName(env.Admin, "team/app"); !fault.IsNotFound(err) {
		t.Fatalf("repository without artifacts: %v; want not found", err)
	}
	n, err := env.DB.Event.Query().Where(entevent.Type(event.RepositoryDeleted), entevent.Repository("team/app")).Count(env.Admin)
	if err != nil || n != 1 {
		t.Fatalf("repository.deleted events = %d, %v; want 1", n, err)
	}
	if err := env.Projects.Delete(env.Admin, p.ID); err != nil {
		t.Fatalf("deleting the emptied project: %v", err)
	}
	// A push after that finds no project; into a new one, the repository comes back.
	env.Project(t, env.Admin, "team2", false)
	env.Push(t, "team2/app", "v1", "one")
	if _, err := env.Artifacts.RepositoryByName(env.Admin, "team2/app"); err != nil {
		t.Fatalf("pushed repository: %v", err)
	}
}
