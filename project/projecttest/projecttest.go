// Package projecttest gives the tests of the domain services a project service on a fresh database
// (servertest.NewDomain) with an administrator, and makes callers: users with a principal in their
// context.
package projecttest

import (
	"context"
	"testing"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/server/servertest"
)

// Password is every fixture user's password.
const Password = "Fixture-Password-1"

// Env is a project service over its own database, and what built it.
type Env struct {
	*servertest.Domain
	// Admin is the context of a system administrator.
	Admin context.Context
}

// Setup builds an Env on a fresh database, torn down when the test ends.
func Setup(t testing.TB) *Env {
	t.Helper()
	e := &Env{Domain: servertest.NewDomain(t)}
	e.Admin = e.User(t, "admin", true)
	return e
}

// User creates a user account with Password (a system administrator when admin) and returns a
// context in which it is the caller.
func (e *Env) User(t testing.TB, username string, admin bool) context.Context {
	t.Helper()
	return e.Domain.User(t, username, Password, admin)
}

// Anonymous is the context of a caller who presented no credentials.
func Anonymous() context.Context {
	return auth.WithPrincipal(context.Background(), auth.Anonymous)
}

// Project creates a project as the caller in ctx, through the service (the caller becomes its
// project admin).
func (e *Env) Project(t testing.TB, ctx context.Context, name string, public bool) *ent.Project {
	t.Helper()
	p, err := e.Projects.Create(ctx, ent.CreateProjectInput{Name: name, Public: &public})
	if err != nil {
		t.Fatalf("create project %s: %v", name, err)
	}
	return p
}

// WaitAudit waits until the audit log holds an entry of resourceType for resource, and returns it.
func (e *Env) WaitAudit(t testing.TB, resourceType, resource string) *ent.AuditLog {
	t.Helper()
	return e.Domain.WaitAudit(t, "", resourceType, resource)
}
