package servertest

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
	"github.com/berth-registry/berth/ent/member"
	entuser "github.com/berth-registry/berth/ent/user"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
)

// Domain is what the domain services are built from, over a fresh database of the test's own
// and without an HTTP server: the tests of a service package start here.
type Domain struct {
	Pool          *pgxpool.Pool
	DB            *ent.Client
	Auth          *auth.Service
	Audit         *audit.Writer
	AuditSettings *audit.Settings
	Dispatcher    *event.Dispatcher
	Publisher     *event.Publisher
	Projects      *project.Service
	Log           *slog.Logger
}

// NewDomain migrates a new database and builds the parts every service needs. Everything is
// closed when the test ends.
func NewDomain(t testing.TB) *Domain {
	t.Helper()
	ctx := context.Background()
	pool := NewPool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, stdlib.OpenDBFromPool(pool))))
	tokens, err := auth.NewTokens(filepath.Join(t.TempDir(), "token.pem"), "berth", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	settings, err := audit.LoadSettings(ctx, pool, log)
	if err != nil {
		t.Fatal(err)
	}
	w, err := audit.NewWriter(pool, settings, log, audit.WriterOptions{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	authz := auth.NewService(db, tokens, time.Hour)
	dispatcher := event.NewDispatcher(pool, log)
	publisher := event.NewPublisher(db, dispatcher, log, func(ctx context.Context) (string, string) {
		return auth.PrincipalFrom(ctx).Name, auth.SourceIPFrom(ctx)
	})
	return &Domain{Pool: pool, DB: db, Auth: authz, Audit: w, AuditSettings: settings, Dispatcher: dispatcher, Publisher: publisher,
		Projects: project.New(db, authz, w, publisher), Log: log}
}

// User creates an account with password (hashed cheaply) and returns a context in which it is
// the caller.
func (d *Domain) User(t testing.TB, username, password string, admin bool) context.Context {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u, err := d.DB.User.Create().SetUsername(username).SetPasswordHash(string(hash)).SetAdmin(admin).Save(context.Background())
	if err != nil {
		t.Fatalf("create user %s: %v", username, err)
	}
	return auth.WithPrincipal(context.Background(), &auth.Principal{Kind: auth.KindUser, UserID: u.ID, Name: username, Admin: admin})
}

// Project creates a private project with members (username to role) and returns it.
func (d *Domain) Project(t testing.TB, name string, members map[string]member.Role) *ent.Project {
	t.Helper()
	ctx := context.Background()
	p, err := d.DB.Project.Create().SetName(name).Save(ctx)
	if err != nil {
		t.Fatalf("create project %s: %v", name, err)
	}
	for username, role := range members {
		u := d.DB.User.Query().Where(entuser.Username(username)).OnlyX(ctx)
		d.DB.Member.Create().SetProjectID(p.ID).SetUserID(u.ID).SetRole(role).SaveX(ctx)
	}
	return p
}

// WaitAudit waits (up to ten seconds) for an audit entry of operation (any, when ""),
// resourceType and resource, and returns it.
func (d *Domain) WaitAudit(t testing.TB, operation, resourceType, resource string) *ent.AuditLog {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	q := d.DB.AuditLog.Query().Where(auditlog.ResourceType(resourceType), auditlog.Resource(resource))
	if operation != "" {
		q = q.Where(auditlog.Operation(operation))
	}
	for {
		e, err := q.Clone().First(context.Background())
		if err == nil {
			return e
		}
		if !ent.IsNotFound(err) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit entry %s %s %q within 10s", operation, resourceType, resource)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FaultKind is the kind of the fault in err's chain, or "" if there is none.
func FaultKind(err error) fault.Kind {
	if f, ok := fault.As(err); ok {
		return f.Kind
	}
	return ""
}
