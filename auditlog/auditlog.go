// Package auditlog is the audit log as its readers and administrators see it: who may read which
// entries (the whole system's with audit-log:list, one project's with log:list in it), the
// resource filter, and the run-time settings (forwarding to syslog, pull logging), whose
// forwarding endpoint is dialled before it is saved. GraphQL is a thin adapter over it.
// Recording and forwarding entries is package audit's; purging them is worker/purge's. (It is a
// package of its own because audit sits below project, which records audit entries.)
package auditlog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/audit/syslog"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entauditlog "github.com/berth-registry/berth/ent/auditlog"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
)

// endpointCheckTimeout bounds the dial of a forwarding endpoint before it is saved.
const endpointCheckTimeout = 3 * time.Second

// Service is the audit log domain service.
type Service struct {
	pool     *pgxpool.Pool
	db       *ent.Client
	auth     *auth.Service
	projects *project.Service
	settings *audit.Settings
	audit    *audit.Writer
}

// New returns the audit log service.
func New(pool *pgxpool.Pool, db *ent.Client, authz *auth.Service, projects *project.Service, settings *audit.Settings, auditLog *audit.Writer) *Service {
	return &Service{pool: pool, db: db, auth: authz, projects: projects, settings: settings, audit: auditLog}
}

// Query is the entries the caller asked for: one project's (projectID given; log:list in it) or
// the whole system's (audit-log:list), narrowed by resourceGlob when given (*, ?, {a,b}). The
// adapter orders and pages it.
func (s *Service) Query(ctx context.Context, projectID *int, resourceGlob *string) (*ent.AuditLogQuery, error) {
	q := s.db.AuditLog.Query()
	if projectID != nil {
		if _, err := s.projects.Get(ctx, *projectID, auth.ActionReadLog); err != nil {
			return nil, err
		}
		q = q.Where(entauditlog.ProjectID(*projectID))
	} else if err := s.allow(ctx, auth.ActionReadAuditLog); err != nil {
		return nil, err
	}
	if resourceGlob != nil {
		pred, err := globPredicate(*resourceGlob)
		if err != nil {
			return nil, err
		}
		q = q.Where(pred)
	}
	return q, nil
}

// Settings are the audit log's settings with the forwarder's state.
type Settings struct {
	audit.Config
	Forwarder audit.ForwarderState
}

// SettingsInput changes the settings; nil fields stay as they are. An empty ForwardEndpoint turns
// forwarding off.
type SettingsInput struct {
	ForwardEndpoint *string
	// ForwardProtocol is tcp, udp or tls (any case).
	ForwardProtocol *string
	SkipDatabase    *bool
	LogPulls        *bool
}

// Settings reads the settings (configuration:read).
func (s *Service) Settings(ctx context.Context) (*Settings, error) {
	if err := s.allow(ctx, auth.ActionReadConfiguration); err != nil {
		return nil, err
	}
	cfg := s.settings.Current()
	st, err := audit.State(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	// A forwarder that has not tried yet, or has nothing to do, is not unhealthy.
	st.Healthy = st.Healthy || (st.LastError == "" && st.Behind == 0) || !cfg.Forwarding()
	return &Settings{Config: cfg, Forwarder: st}, nil
}

// UpdateSettings changes the settings (configuration:update). A forwarding endpoint is dialled
// first: one that cannot be reached is refused, and so is skipping the database without one.
func (s *Service) UpdateSettings(ctx context.Context, in SettingsInput) error {
	if err := s.allow(ctx, auth.ActionUpdateConfig); err != nil {
		return err
	}
	cfg := s.settings.Current()
	if in.ForwardEndpoint != nil {
		cfg.ForwardEndpoint = *in.ForwardEndpoint
	}
	if in.ForwardProtocol != nil {
		cfg.ForwardProtocol = strings.ToLower(*in.ForwardProtocol)
	}
	if in.SkipDatabase != nil {
		cfg.SkipDatabase = *in.SkipDatabase
	}
	if in.LogPulls != nil {
		cfg.LogPulls = *in.LogPulls
	}
	if cfg.SkipDatabase && !cfg.Forwarding() {
		return fault.BadInput("skipDatabase needs a forwarding endpoint: without one the entries would be lost")
	}
	if cfg.Forwarding() {
		ep, err := syslog.ParseEndpoint(cfg.ForwardEndpoint, cfg.ForwardProtocol)
		if err == nil {
			err = syslog.Check(ctx, ep, endpointCheckTimeout)
		}
		if err != nil {
			return fault.BadInput("%s", err.Error())
		}
	}
	if err := s.settings.Save(ctx, cfg); err != nil {
		return fmt.Errorf("save audit settings: %w", err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpUpdate, ResourceType: "configuration", Resource: "audit log settings"})
	return nil
}

// allow checks that the caller may do a system action.
func (s *Service) allow(ctx context.Context, action auth.Action) error {
	return s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, action, "")
}

// Filter narrows a list of entries (Harbor's audit-log q).
type Filter struct {
	Operations    []string // any of these operations
	ResourceTypes []string // any of these resource types
	Username      string   // exactly this user
	// UsernameContains and ResourceContains keep entries whose user or resource contains them.
	UsernameContains, ResourceContains string
	ResourceGlob                       *string // resources matching this glob (*, ?, {a,b})
	From, To                           *time.Time
}

// MaxFilterValues bounds the lists of a Filter.
const MaxFilterValues = 32

// List is a page of the entries the caller may read (one project's when projectID is set, see
// Query), newest first, narrowed by f, and how many there are in all.
func (s *Service) List(ctx context.Context, projectID *int, f Filter, page project.Page) ([]*ent.AuditLog, int, error) {
	if err := page.Check(); err != nil {
		return nil, 0, err
	}
	if len(f.Operations) > MaxFilterValues || len(f.ResourceTypes) > MaxFilterValues {
		return nil, 0, fault.BadInput("at most %d operations or resource types", MaxFilterValues)
	}
	q, err := s.Query(ctx, projectID, f.ResourceGlob)
	if err != nil {
		return nil, 0, err
	}
	if len(f.Operations) > 0 {
		q = q.Where(entauditlog.OperationIn(f.Operations...))
	}
	if len(f.ResourceTypes) > 0 {
		q = q.Where(entauditlog.ResourceTypeIn(f.ResourceTypes...))
	}
	if f.Username != "" {
		q = q.Where(entauditlog.Username(f.Username))
	}
	if f.UsernameContains != "" {
		q = q.Where(entauditlog.UsernameContains(f.UsernameContains))
	}
	if f.ResourceContains != "" {
		q = q.Where(entauditlog.ResourceContains(f.ResourceContains))
	}
	if f.From != nil {
		q = q.Where(entauditlog.OccurredAtGTE(*f.From))
	}
	if f.To != nil {
		q = q.Where(entauditlog.OccurredAtLTE(*f.To))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count audit log: %w", err)
	}
	rows, err := q.Order(ent.Desc(entauditlog.FieldOccurredAt), ent.Desc(entauditlog.FieldID)).Offset(page.Offset).Limit(page.Limit).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit log: %w", err)
	}
	return rows, total, nil
}
