package label_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/berth-registry/berth/artifact/artifacttest"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/label"
)

type bundle struct {
	*artifacttest.Env
	labels *label.Service
}

func setup(t *testing.T) bundle {
	t.Helper()
	env := artifacttest.Setup(t)
	return bundle{Env: env, labels: label.New(env.DB, env.Auth, env.Projects, env.Artifacts)}
}

func isKind(err error, k fault.Kind) bool {
	f, ok := fault.As(err)
	return ok && f.Kind == k
}

func ptr[T any](v T) *T { return &v }

func TestAProjectLabelStaysInItsProject(t *testing.T) {
	t.Parallel()
	b := setup(t)
	one := b.Project(t, b.Admin, "one", false)
	b.Project(t, b.Admin, "two", false)
	a := b.Push(t, "two/app", "v1", "x")

	own, err := b.labels.Create(b.Admin, label.CreateInput{Name: "prod", ProjectID: &one.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.labels.AddToArtifact(b.Admin, a.ID, own.ID); !isKind(err, fault.KindBadInput) {
		t.Fatalf("project one's label on project two's artifact: %v; want bad input", err)
	}
	system, err := b.labels.Create(b.Admin, label.CreateInput{Name: "approved", Color: ptr("#00ff00")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.labels.AddToArtifact(b.Admin, a.ID, system.ID)
	if err != nil || len(got.QueryLabels().AllX(b.Admin)) != 1 {
		t.Fatalf("a system label on an artifact = %v, %v", got, err)
	}
	if _, err := b.labels.RemoveFromArtifact(b.Admin, a.ID, system.ID); err != nil {
		t.Fatal(err)
	}
	if n := b.DB.Artifact.GetX(b.Admin, a.ID).QueryLabels().CountX(b.Admin); n != 0 {
		t.Fatalf("labels after removal = %d", n)
	}
	// Project two lists the system labels, not project one's.
	list, err := b.labels.List(b.Admin, ptr(b.DB.Artifact.QueryRepository(a).OnlyX(b.Admin).ProjectID))
	if err != nil || len(list) != 1 || list[0].Name != "approved" {
		t.Fatalf("project two's labels = %v, %v; want approved only", names(list), err)
	}
}

func TestLabelRulesAndRights(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.Project(t, b.Admin, "team", false)
	dev := b.User(t, "dev", false)
	stranger := b.User(t, "stranger", false)
	b.DB.Member.Create().SetProjectID(p.ID).SetUserID(auth.PrincipalFrom(dev).UserID).SetRole(member.RoleDeveloper).ExecX(b.Admin)
	a := b.Push(t, "team/app", "v1", "x")
	own, err := b.labels.Create(b.Admin, label.CreateInput{Name: "prod", ProjectID: &p.ID})
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		in   label.CreateInput
		want fault.Kind
	}{
		{"no name", label.CreateInput{Name: ""}, fault.KindBadInput},
		{"long name", label.CreateInput{Name: strings.Repeat("n", 129)}, fault.KindBadInput},
		{"long color", label.CreateInput{Name: "c", Color: ptr(strings.Repeat("f", 17))}, fault.KindBadInput},
		{"long description", label.CreateInput{Name: "d", Description: ptr(strings.Repeat("d", 1025))}, fault.KindBadInput},
		{"taken in the project", label.CreateInput{Name: "prod", ProjectID: &p.ID}, fault.KindConflict},
	} {
		if _, err := b.labels.Create(b.Admin, c.in); !isKind(err, c.want) {
			t.Errorf("%s: %v; want a %s fault", c.name, err, c.want)
		}
	}
	if _, err := b.labels.Create(b.Admin, label.CreateInput{Name: "global"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.labels.Create(b.Admin, label.CreateInput{Name: "global"}); !isKind(err, fault.KindConflict) {
		t.Fatalf("a second system label of the same name: %v; want a conflict", err)
	}

	// A developer labels artifacts but manages no labels; a stranger sees nothing.
	if _, err := b.labels.AddToArtifact(dev, a.ID, own.ID); err != nil {
		t.Fatalf("a developer labels an artifact: %v", err)
	}
	if _, err := b.labels.Create(dev, label.CreateInput{Name: "mine", ProjectID: &p.ID}); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("a developer creates a label: %v; want ErrForbidden", err)
	}
	if _, err := b.labels.Create(dev, label.CreateInput{Name: "sys"}); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("a developer creates a system label: %v; want ErrForbidden", err)
	}
	if err := b.labels.Delete(stranger, own.ID); !fault.IsNotFound(err) {
		t.Fatalf("a stranger deletes a hidden project's label: %v; want not found", err)
	}
	if _, err := b.labels.RemoveFromArtifact(stranger, a.ID, own.ID); !fault.IsNotFound(err) {
		t.Fatalf("a stranger unlabels a hidden artifact: %v; want not found", err)
	}
	if _, err := b.labels.List(stranger, &p.ID); !fault.IsNotFound(err) {
		t.Fatalf("a stranger lists a hidden project's labels: %v; want not found", err)
	}
	if err := b.labels.Delete(b.Admin, own.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if n := b.DB.Artifact.GetX(b.Admin, a.ID).QueryLabels().CountX(b.Admin); n != 0 {
		t.Fatalf("labels of the artifact after the label's deletion = %d", n)
	}
}

func names(ls []*ent.Label) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Name
	}
	return out
}
