// Package projecttest builds the project service and what it stands on (a fresh PostgreSQL database,
// auth, the audit writer, the event publisher) for the tests of the domain services, and makes
// callers: users with a principal in their context.
package projecttest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/auditlog"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/migrations"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/server/servertest"
)

// Password is every fixture user's password.
const Password = "Fixture-Password-1"

// Env is a project service over its own database, and what built it.
type Env struct {
	Pool       *pgxpool.Pool
	DB         *ent.Client
	Auth       *auth.Service
	Audit      *audit.Writer
	Dispatcher *event.Dispatcher
	Events     *event.Publisher
	Projects   *project.Service
	Log        *slog.Logger
	// Admin is the context of a system administrator.
	Admin context.Context
}

// Setup builds an Env on a fresh database, torn down when the test ends.
func Setup(t testing.TB) *Env {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, servertest.NewDatabase(t)+"&pool_max_conns=4")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := migrations.Apply(ctx, pool, log); err != nil {
		t.Fatal(err)
	}
	db := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, stdlib.OpenDBFromPool(pool))))
	tokens, err := auth.NewTokens(filepath.Join(t.TempDir(), "token.pem"), "berth", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	settings, err := audit.LoadSettings(ctx, pool, log)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := audit.NewWriter(pool, settings, log, audit.WriterOptions{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = writer.Close(ctx)
	})
	dispatcher := event.NewDispatcher(pool, log)
	publisher := event.NewPublisher(db, dispatcher, log, func(ctx context.Context) (string, string) {
		return auth.PrincipalFrom(ctx).Name, auth.SourceIPFrom(ctx)
	})
	authz := auth.NewService(db, tokens, time.Hour)
	e := &Env{Pool: pool, DB: db, Auth: authz, Audit: writer, Dispatcher: dispatcher, Events: publisher,
		Projects: project.New(db, authz, writer, publisher), Log: log}
	e.Admin = e.User(t, "admin", true)
	return e
}

// User creates a user account (a system administrator when admin) and returns a context in which
// it is the caller.
func (e *Env) User(t testing.TB, username string, admin bool) context.Context {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.DB.User.Create().SetUsername(username).SetPasswordHash(string(hash)).SetAdmin(admin).Save(context.Background())
	if err != nil {
		t.Fatalf("create user %s: %v", username, err)
	}
	return auth.WithPrincipal(context.Background(), &auth.Principal{Kind: auth.KindUser, UserID: u.ID, Name: u.Username, Admin: admin})
}

// Anonymous is the context of a caller who presented no credentials.
func Anonymous() context.Context {
	return auth.WithPrincipal(context.Background(), auth.Anonymous)
}

// Project creates a project as the caller in ctx.
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		entry, err := e.DB.AuditLog.Query().Where(auditlog.ResourceType(resourceType), auditlog.Resource(resource)).First(context.Background())
		if err == nil {
			return entry
		}
		if !ent.IsNotFound(err) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit entry for %s %s", resourceType, resource)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
