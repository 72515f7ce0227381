package quota

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entproject "github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
)

// Quota is a project's storage quota as callers see it.
type Quota struct {
	ProjectID   int
	ProjectName string
	Limit       int64 // bytes; -1 unlimited
	Used        int64 // bytes of the distinct blobs its artifacts link to
	Reserved    int64 // bytes held by pushes under way
}

func quotaOf(p *ent.Project) Quota {
	return Quota{ProjectID: p.ID, ProjectName: p.Name, Limit: p.QuotaLimit, Used: p.QuotaUsed, Reserved: p.QuotaReserved}
}

// Service answers callers about quotas: reading and setting a project's limit, the system's
// defaults, and recomputing usage on demand.
type Service struct {
	db       *ent.Client
	auth     *auth.Service
	projects *project.Service
	settings *Settings
	ledger   *Ledger
	audit    *audit.Writer
	river    *river.Client[pgx.Tx] // nil: recompute runs in the caller's request
}

// NewService returns the quota service.
func NewService(db *ent.Client, authz *auth.Service, projects *project.Service, settings *Settings, ledger *Ledger, auditLog *audit.Writer) *Service {
	return &Service{db: db, auth: authz, projects: projects, settings: settings, ledger: ledger, audit: auditLog}
}

// UseRiver has Recompute queue its job on client.
func (s *Service) UseRiver(client *river.Client[pgx.Tx]) { s.river = client }

// Get is project id's quota, for a caller who may read it.
func (s *Service) Get(ctx context.Context, id int) (Quota, error) {
	p, err := s.projects.Get(ctx, id, auth.ActionReadQuota)
	if err != nil {
		return Quota{}, err
	}
	return quotaOf(p), nil
}

// Readable is project p's quota (a project the caller has been shown) if the caller may read
// it, else nil.
func (s *Service) Readable(ctx context.Context, p *ent.Project) (*Quota, error) {
	d, err := s.auth.Decide(ctx, auth.PrincipalFrom(ctx), auth.InProjectResource(p), auth.ActionReadQuota)
	if err != nil || d != auth.Allowed {
		return nil, err
	}
	q := quotaOf(p)
	return &q, nil
}

// Page is a bounded page of every project's quota, for system administrators.
func (s *Service) List(ctx context.Context, offset, limit int) ([]Quota, int, error) {
	if err := s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionReadQuota, ""); err != nil {
		return nil, 0, err
	}
	if limit <= 0 || limit > 100 || offset < 0 {
		return nil, 0, fault.BadInput("page size must be 1 to 100 and the offset not negative")
	}
	total, err := s.db.Project.Query().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count quotas: %w", err)
	}
	rows, err := s.db.Project.Query().Order(ent.Asc(entproject.FieldID)).Offset(offset).Limit(limit).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list quotas: %w", err)
	}
	out := make([]Quota, len(rows))
	for i, p := range rows {
		out[i] = quotaOf(p)
	}
	return out, total, nil
}

// SetLimit sets project id's storage limit in bytes (-1: unlimited). A limit under the current
// usage is allowed: it refuses the next push, as Harbor's does.
func (s *Service) SetLimit(ctx context.Context, id int, limit int64) (Quota, error) {
	p, err := s.projects.Get(ctx, id, auth.ActionUpdateQuota)
	if err != nil {
		return Quota{}, err
	}
	if limit < -1 {
		return Quota{}, fault.BadInput("invalid storage limit %d: give a number of bytes, or -1 for unlimited", limit)
	}
	p, err = s.db.Project.UpdateOneID(id).SetQuotaLimit(limit).Save(ctx)
	if ent.IsNotFound(err) {
		return Quota{}, fault.NotFound(fmt.Sprintf("project %d", id))
	}
	if err != nil {
		return Quota{}, fmt.Errorf("set quota of project %d: %w", id, err)
	}
	s.audit.Log(ctx, audit.Entry{Project: p.Name, Operation: audit.OpUpdate, ResourceType: "quota", Resource: fmt.Sprintf("%s: %d", p.Name, limit)})
	return quotaOf(p), nil
}

// Config is the system's quota configuration, for a caller who may read the configuration.
func (s *Service) Config(ctx context.Context) (Config, error) {
	if err := s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionReadConfiguration, ""); err != nil {
		return Config{}, err
	}
	return s.settings.Current(), nil
}

// SetConfig changes the default limit of new projects and the warning share.
func (s *Service) SetConfig(ctx context.Context, c Config) (Config, error) {
	if err := s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionUpdateConfig, ""); err != nil {
		return Config{}, err
	}
	if c.DefaultLimit < -1 {
		return Config{}, fault.BadInput("invalid default storage limit %d: give a number of bytes, or -1 for unlimited", c.DefaultLimit)
	}
	if c.WarningPercent < 0 || c.WarningPercent > 100 {
		return Config{}, fault.BadInput("invalid warning percentage %d: give 1 to 100, or 0 for no warnings", c.WarningPercent)
	}
	if err := s.settings.save(ctx, c); err != nil {
		return Config{}, fmt.Errorf("save quota configuration: %w", err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpUpdate, ResourceType: "configuration", Resource: "quota"})
	return c, nil
}

// Recompute queues the exact recompute of project id's usage (which also releases its expired
// reservations) and returns the job's id; with no job client it recomputes at once (job id 0).
// The caller must be allowed to change the quota.
func (s *Service) Recompute(ctx context.Context, id int) (int64, error) {
	if _, err := s.projects.Get(ctx, id, auth.ActionUpdateQuota); err != nil {
		return 0, err
	}
	if s.river == nil {
		_, err := s.ledger.Recompute(ctx, id)
		return 0, err
	}
	res, err := s.river.Insert(ctx, RecomputeArgs{ProjectID: id}, nil)
	if err != nil {
		return 0, fmt.Errorf("queue quota recompute of project %d: %w", id, err)
	}
	return res.Job.ID, nil
}

// TotalUsed is the storage every project uses (Harbor's total_storage_consumption), for a caller
// who may read every quota (system administrators); ok is false for anyone else.
func (s *Service) TotalUsed(ctx context.Context) (used int64, ok bool, err error) {
	d, err := s.auth.Decide(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionReadQuota)
	if err != nil || d != auth.Allowed {
		return 0, false, err
	}
	var v []struct {
		Sum sql.NullInt64 `json:"sum"`
	}
	if err := s.db.Project.Query().Aggregate(ent.As(ent.Sum(entproject.FieldQuotaUsed), "sum")).Scan(ctx, &v); err != nil {
		return 0, false, fmt.Errorf("total storage used: %w", err)
	}
	if len(v) == 1 {
		used = v[0].Sum.Int64
	}
	return used, true, nil
}
