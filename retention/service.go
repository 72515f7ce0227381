package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/retentionpolicy"
	"github.com/berth-registry/berth/ent/retentionrun"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/worker/run"
)

// Service is what callers ask of tag retention: a project's policy (tag-retention:read to read
// it, tag-retention:update to change it, audited), and its runs (tag-retention:operate to start a
// run or a dry run and to stop one; read to list them).
type Service struct {
	db       *ent.Client
	pool     *pgxpool.Pool
	jobs     *river.Client[pgx.Tx]
	projects *project.Service
	audit    *audit.Writer
	bus      *event.Bus
}

// runEvents are the events that say a run changed.
var runEvents = []event.Type{event.RetentionStarted, event.RetentionProgress, event.RetentionCompleted}

// NewService returns the retention service; bus feeds Follow.
func NewService(db *ent.Client, pool *pgxpool.Pool, jobs *river.Client[pgx.Tx], projects *project.Service, auditLog *audit.Writer, bus *event.Bus) *Service {
	return &Service{db: db, pool: pool, jobs: jobs, projects: projects, audit: auditLog, bus: bus}
}

// Policy is project projectID's rules (none if it has no policy).
func (s *Service) Policy(ctx context.Context, projectID int) ([]Rule, error) {
	if _, err := s.projects.Get(ctx, projectID, auth.ActionReadRetention); err != nil {
		return nil, err
	}
	p, err := s.db.RetentionPolicy.Query().Where(retentionpolicy.ProjectID(projectID)).Only(ctx)
	if ent.IsNotFound(err) {
		return []Rule{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("retention policy of project %d: %w", projectID, err)
	}
	rules := []Rule{}
	if err := json.Unmarshal([]byte(p.Rules), &rules); err != nil {
		return nil, fmt.Errorf("retention policy of project %d: %w", projectID, err)
	}
	return rules, nil
}

// SetPolicy replaces project projectID's rules (at most MaxRules; none clears the policy).
func (s *Service) SetPolicy(ctx context.Context, projectID int, rules []Rule) ([]Rule, error) {
	proj, err := s.projects.Get(ctx, projectID, auth.ActionManageRetention)
	if err != nil {
		return nil, err
	}
	if len(rules) > MaxRules {
		return nil, fault.BadInput("a retention policy has at most %d rules, not %d", MaxRules, len(rules))
	}
	for i, r := range rules {
		if err := r.Check(); err != nil {
			return nil, fault.BadInput("rule %d: %s", i+1, err.Error())
		}
	}
	if rules == nil {
		rules = []Rule{}
	}
	b, _ := json.Marshal(rules)
	err = s.db.RetentionPolicy.Create().SetProjectID(projectID).SetRules(string(b)).
		OnConflictColumns(retentionpolicy.FieldProjectID).UpdateRules().UpdateUpdatedAt().Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("save retention policy of project %d: %w", projectID, err)
	}
	s.audit.Log(ctx, audit.Entry{Project: proj.Name, Operation: audit.OpUpdate, ResourceType: "retention_policy", Resource: proj.Name})
	return rules, nil
}

// Start starts a run (or a dry run) of project projectID's policy now.
func (s *Service) Start(ctx context.Context, projectID int, dryRun bool) (*ent.RetentionRun, error) {
	if _, err := s.projects.Get(ctx, projectID, auth.ActionRunRetention); err != nil {
		return nil, err
	}
	id, err := Start(ctx, s.pool, s.jobs, projectID, dryRun, retentionrun.TriggerManual, auth.PrincipalFrom(ctx).Name)
	if errors.Is(err, run.ErrBusy) {
		return nil, fault.Conflict("%s", err.Error())
	}
	if err != nil {
		return nil, err
	}
	return s.db.RetentionRun.Get(ctx, id)
}

// Stop stops run id.
func (s *Service) Stop(ctx context.Context, id int) (*ent.RetentionRun, error) {
	r, err := s.load(ctx, id, auth.ActionRunRetention)
	if err != nil {
		return nil, err
	}
	if err := Table.Stop(ctx, s.pool, s.jobs, r.ID); err != nil {
		return nil, err
	}
	return s.db.RetentionRun.Get(ctx, id)
}

// Run is run id, for a caller who may read its project's retention.
func (s *Service) Run(ctx context.Context, id int) (*ent.RetentionRun, error) {
	return s.load(ctx, id, auth.ActionReadRetention)
}

// Runs is project projectID's history, newest first (at most 50 are kept).
func (s *Service) Runs(ctx context.Context, projectID int) ([]*ent.RetentionRun, error) {
	if _, err := s.projects.Get(ctx, projectID, auth.ActionReadRetention); err != nil {
		return nil, err
	}
	return s.db.RetentionRun.Query().Where(retentionrun.ProjectID(projectID)).
		Order(ent.Desc(retentionrun.FieldCreatedAt), ent.Desc(retentionrun.FieldID)).Limit(Table.Keep).All(ctx)
}

func (s *Service) load(ctx context.Context, id int, action auth.Action) (*ent.RetentionRun, error) {
	what := fmt.Sprintf("retention run %d", id)
	r, err := s.db.RetentionRun.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(what)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	if _, err := s.projects.Get(ctx, r.ProjectID, action); err != nil {
		if fault.IsNotFound(err) {
			return nil, fault.NotFound(what)
		}
		return nil, err
	}
	return r, nil
}

// Results decodes a run's per-repository results.
func Results(r *ent.RetentionRun) []RepositoryResult {
	var out []RepositoryResult
	_ = json.Unmarshal([]byte(r.Results), &out)
	return out
}
