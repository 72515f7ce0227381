// Package graph is Berth's GraphQL API: the schema in schema/ (one file per feature), the
// resolvers beside this file and the generated executor in generated/. Resolvers are adapters over
// the domain services, which check permissions (through auth.Decide), validate, and do the work;
// this package holds no rule and no state of its own, only transport (handler.go), operation
// limits (limits.go), dataloaders and the mapping of fault errors to GraphQL codes.
package graph

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/artifact"
	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auditlog"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/label"
	"github.com/berth-registry/berth/member"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/quota"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/retention"
	"github.com/berth-registry/berth/robot"
	"github.com/berth-registry/berth/secrets"
	"github.com/berth-registry/berth/signature"
	"github.com/berth-registry/berth/tagrule"
	"github.com/berth-registry/berth/user"
	"github.com/berth-registry/berth/worker/export"
	"github.com/berth-registry/berth/worker/gc"
	"github.com/berth-registry/berth/worker/purge"
	"github.com/berth-registry/berth/worker/replication"
	"github.com/berth-registry/berth/worker/scan"
	"github.com/berth-registry/berth/worker/webhook"
)

// Resolver holds what every resolver needs. The server builds one.
type Resolver struct {
	DB        *ent.Client
	Pool      *pgxpool.Pool
	Jobs      *river.Client[pgx.Tx]
	Audit     *audit.Writer
	Purge     *purge.Service
	Exports   *export.Service
	GC        *gc.Service
	Auth      *auth.Service
	Registry  *registry.Registry
	Events    *event.Bus       // what subscriptions listen to
	Publisher *event.Publisher // records and dispatches the events of committed changes
	// The domain services: each owns its rules, and resolvers are adapters over them.
	Projects   *project.Service
	Members    *member.Service
	Artifacts  *artifact.Service
	Labels     *label.Service
	Signatures *signature.Service
	Dispatcher *event.Dispatcher // kicked after recording an event
	Webhooks   *webhook.Service
	Log        *slog.Logger
	// Scans starts, stops and reads scans, manages scanners and scan-all.
	Scans *scan.Service

	// Users, Robots (robot accounts and personal API tokens), WebhookPolicies and AuditLog (reading
	// the log, its settings) are the account and audit domain services.
	Users           *user.Service
	Robots          *robot.Service
	WebhookPolicies *webhook.Policies
	AuditLog        *auditlog.Service
	// Endpoints are the remote registries; Replication their policies, executions and tasks.
	Endpoints   *endpoint.Service
	Replication *replication.Service
	// Quotas are project storage quotas; TagRules the tag immutability rules.
	Quotas   *quota.Service
	TagRules *tagrule.Service
	// Retention is tag retention: policies and runs.
	Retention *retention.Service
	// Secrets rotates the token-signing keys every replica shares.
	Secrets *secrets.Service
}

type responseWriterKey struct{}

// WithResponseWriter lets resolvers set cookies on the HTTP response (login and logout do).
func WithResponseWriter(ctx context.Context, w http.ResponseWriter) context.Context {
	return context.WithValue(ctx, responseWriterKey{}, w)
}

type requestKey struct{}

// WithRequest gives resolvers the HTTP request (logout reads its session cookie).
func WithRequest(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

type requestIDKey struct{}

// WithRequestID names the request in ctx: an internal error reaches the caller with this id, and
// the log with the error, so that one can be found from the other.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the id WithRequestID gave the request, or "-".
func RequestID(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		return id
	}
	return "-"
}
