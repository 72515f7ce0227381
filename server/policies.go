package server

import (
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/quota"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/tagrule"
)

// pushPolicies are the policies the registry's index middleware asks before it writes: storage
// quotas and tag immutability. Every process that writes through a registry (serve, and a worker
// running retention or replication) builds them the same way.
type pushPolicies struct {
	settings *quota.Settings
	ledger   *quota.Ledger
	guard    *tagrule.Guard
}

// newIndexer returns the registry's indexer with the push policies in front of every write.
func newIndexer(cfg Config, db *ent.Client, pool *pgxpool.Pool, dispatch *event.Dispatcher, log *slog.Logger) (*registry.Indexer, pushPolicies) {
	settings := quota.NewSettings(pool)
	p := pushPolicies{settings: settings, ledger: quota.NewLedger(db, settings, cfg.QuotaReservationTTL, log), guard: tagrule.NewGuard(db)}
	ix := registry.NewIndexer(db, dispatch, log)
	ix.UseQuota(p.ledger)
	ix.UseTagRules(p.guard)
	return ix, p
}

// service is the quota service callers reach through GraphQL and REST.
func (p pushPolicies) service(db *ent.Client, authz *auth.Service, projects *project.Service, auditLog *audit.Writer, jobs *river.Client[pgx.Tx]) *quota.Service {
	s := quota.NewService(db, authz, projects, p.settings, p.ledger, auditLog)
	s.UseRiver(jobs)
	return s
}
