package webhook_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/egress"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/webhook"
)

// target is an address outside every network the egress policy refuses.
const target = "https://93.184.216.34/hook"

type bundle struct {
	*servertest.Domain
	policies   *webhook.Policies
	alpha      *ent.Project
	owner      context.Context // alpha's project admin
	maintainer context.Context // alpha's maintainer: may list, not manage
	dev        context.Context // alpha's developer: neither
	outsider   context.Context
}

func setup(t *testing.T) bundle {
	t.Helper()
	d := servertest.NewDomain(t)
	// Insert-only: the test deliveries are queued, not sent.
	jobs, err := river.NewClient[pgx.Tx](riverpgxv5.New(d.Pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	deliveries := webhook.NewService(d.Pool, d.DB, jobs, "registry.example.com")
	b := bundle{Domain: d, policies: webhook.NewPolicies(d.DB, d.Projects, egress.New(nil), d.Audit, deliveries),
		owner: d.User(t, "owner", "Owner-Password-1", false), maintainer: d.User(t, "maint", "Maint-Password-1", false),
		dev: d.User(t, "dev", "Dev-Password-1", false), outsider: d.User(t, "outsider", "Outsider-Password-1", false)}
	b.alpha = d.Project(t, "alpha", map[string]member.Role{"owner": member.RoleProjectAdmin,
		"maint": member.RoleMaintainer, "dev": member.RoleDeveloper})
	return b
}

var kind = servertest.FaultKind

func (b bundle) input(name, address string, types ...event.Type) webhook.PolicyInput {
	if types == nil {
		types = []event.Type{event.ArtifactPushed}
	}
	return webhook.PolicyInput{ProjectID: b.alpha.ID, Name: name, Address: address, EventTypes: types}
}

func TestCreateShowsTheSecretOnceAndAudits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	created, err := b.policies.Create(b.owner, b.input("ci", target))
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Secret) < 32 || created.Policy.Secret != created.Secret {
		t.Fatalf("created secret %q", created.Secret)
	}
	mine := "my-own-secret-of-24-chars"
	chosen, err := b.policies.Create(b.owner, webhook.PolicyInput{ProjectID: b.alpha.ID, Name: "chosen", Address: target,
		EventTypes: []event.Type{event.TagCreated}, Secret: &mine})
	if err != nil || chosen.Secret != mine {
		t.Fatalf("a chosen secret: %v %v", chosen, err)
	}
	if e := b.WaitAudit(t, audit.OpCreate, "webhook", "alpha/ci"); e.ProjectName != "alpha" || e.Username != "owner" {
		t.Fatalf("audit entry %+v", e)
	}
	// Reading a policy never needs the secret again: GraphQL does not expose it.
	got, err := b.policies.Get(b.maintainer, created.Policy.ID)
	if err != nil || got.Edges.Project.Name != "alpha" {
		t.Fatalf("maintainer reads the policy: %v %v", got, err)
	}
	list, err := b.policies.List(b.maintainer, b.alpha.ID)
	if err != nil || len(list) != 2 || list[0].Name != "chosen" {
		t.Fatalf("maintainer lists: %v %v", list, err)
	}
	delivery, err := b.policies.Test(b.owner, created.Policy.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !delivery.Test || delivery.EventType != string(event.ArtifactPushed) || delivery.PolicyID != created.Policy.ID {
		t.Fatalf("test delivery %+v", delivery)
	}
	name := "renamed"
	if _, err := b.policies.Update(b.owner, created.Policy.ID, webhook.PolicyUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	b.WaitAudit(t, audit.OpUpdate, "webhook", "alpha/renamed")
	if err := b.policies.Delete(b.owner, created.Policy.ID); err != nil {
		t.Fatal(err)
	}
	b.WaitAudit(t, audit.OpDelete, "webhook", "alpha/renamed")
	if _, err := b.policies.Get(b.owner, created.Policy.ID); !fault.IsNotFound(err) {
		t.Fatalf("deleted policy: %v", err)
	}
}

func TestPolicyValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	short := "too-short"
	withShort := b.input("ci", target)
	withShort.Secret = &short
	for _, tc := range []struct {
		name string
		in   webhook.PolicyInput
		want string
	}{
		{"no name", b.input("", target), "name"},
		{"no event types", webhook.PolicyInput{ProjectID: b.alpha.ID, Name: "ci", Address: target}, "event type"},
		{"a system event", b.input("ci", target, event.PurgeCompleted), "belong to no project"},
		{"not a URL", b.input("ci", "ftp://93.184.216.34/"), "http"},
		{"loopback", b.input("ci", "http://user:hunter2@127.0.0.1:8080/hook"), "loopback"},
		{"metadata service", b.input("ci", "http://169.254.169.254/latest/meta-data"), "169.254.169.254"},
		{"private network", b.input("ci", "http://10.1.2.3/hook"), "10.1.2.3"},
		{"short secret", withShort, "16 characters"},
	} {
		_, err := b.policies.Create(b.owner, tc.in)
		if kind(err) != fault.KindBadInput || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want bad input about %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the refusal repeats the address's password: %v", tc.name, err)
		}
	}
	created, err := b.policies.Create(b.owner, b.input("ci", target))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.policies.Create(b.owner, b.input("ci", target)); kind(err) != fault.KindConflict {
		t.Errorf("same name twice: %v, want conflict", err)
	}
	inside := "http://127.0.0.1/hook"
	if _, err := b.policies.Update(b.owner, created.Policy.ID, webhook.PolicyUpdate{Address: &inside}); kind(err) != fault.KindBadInput {
		t.Errorf("update to an inside address: %v, want bad input", err)
	}
	// A policy saved before the event-type rule may keep a type it had.
	if err := b.DB.WebhookPolicy.UpdateOneID(created.Policy.ID).SetEventTypes([]event.Type{event.PurgeCompleted}).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	desc := "kept"
	if _, err := b.policies.Update(b.owner, created.Policy.ID, webhook.PolicyUpdate{Description: &desc}); err != nil {
		t.Errorf("edit a policy with an old event type: %v", err)
	}
}

func TestWhoMayManagePolicies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	created, err := b.policies.Create(b.owner, b.input("ci", target))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.policies.Create(b.maintainer, b.input("other", target)); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a maintainer creates a policy: %v, want forbidden", err)
	}
	if _, err := b.policies.Test(b.maintainer, created.Policy.ID); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a maintainer sends a test: %v, want forbidden", err)
	}
	if err := b.policies.Delete(b.maintainer, created.Policy.ID); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a maintainer deletes a policy: %v, want forbidden", err)
	}
	if _, err := b.policies.List(b.dev, b.alpha.ID); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a developer lists policies: %v, want forbidden", err)
	}
	if _, err := b.policies.Get(b.outsider, created.Policy.ID); !fault.IsNotFound(err) {
		t.Errorf("an outsider reads a policy of a private project: %v, want not found", err)
	}
	if _, err := b.policies.Create(context.Background(), b.input("anon", target)); !fault.IsNotFound(err) {
		t.Errorf("anonymous creates a policy in a private project: %v, want not found", err)
	}
}
