package tagrule

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/immutablerule"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
)

// Service manages a project's immutability rules for callers: immutable-tag:list to read them,
// immutable-tag:create to add, change or remove them (audited).
type Service struct {
	db       *ent.Client
	projects *project.Service
	audit    *audit.Writer
}

// NewService returns the rules service.
func NewService(db *ent.Client, projects *project.Service, auditLog *audit.Writer) *Service {
	return &Service{db: db, projects: projects, audit: auditLog}
}

// Input is a rule as a caller writes it.
type Input struct {
	RepositoryPattern string
	RepositoryExclude bool
	TagPattern        string
	TagExclude        bool
	Disabled          bool
}

func (in Input) check() error {
	if err := CheckPattern("repository pattern", in.RepositoryPattern); err != nil {
		return fault.BadInput("%s", err.Error())
	}
	if err := CheckPattern("tag pattern", in.TagPattern); err != nil {
		return fault.BadInput("%s", err.Error())
	}
	return nil
}

// List is project projectID's rules, oldest first.
func (s *Service) List(ctx context.Context, projectID int) ([]Rule, error) {
	if _, err := s.projects.Get(ctx, projectID, auth.ActionListImmutable); err != nil {
		return nil, err
	}
	rows, err := s.db.ImmutableRule.Query().Where(immutablerule.ProjectID(projectID)).Order(immutablerule.ByID()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("immutability rules of project %d: %w", projectID, err)
	}
	out := make([]Rule, len(rows))
	for i, r := range rows {
		out[i] = ruleOf(r)
	}
	return out, nil
}

// Create adds a rule to project projectID (at most MaxRules).
func (s *Service) Create(ctx context.Context, projectID int, in Input) (Rule, error) {
	proj, err := s.projects.Get(ctx, projectID, auth.ActionManageImmutable)
	if err != nil {
		return Rule{}, err
	}
	if err := in.check(); err != nil {
		return Rule{}, err
	}
	n, err := s.db.ImmutableRule.Query().Where(immutablerule.ProjectID(projectID)).Count(ctx)
	if err != nil {
		return Rule{}, fmt.Errorf("count immutability rules: %w", err)
	}
	if n >= MaxRules {
		return Rule{}, fault.BadInput("project %s already has %d immutability rules, the most it may have: change or delete one", proj.Name, n)
	}
	r, err := s.db.ImmutableRule.Create().SetProjectID(projectID).
		SetRepositoryPattern(in.RepositoryPattern).SetRepositoryExclude(in.RepositoryExclude).
		SetTagPattern(in.TagPattern).SetTagExclude(in.TagExclude).SetDisabled(in.Disabled).Save(ctx)
	if err != nil {
		return Rule{}, fmt.Errorf("create immutability rule: %w", err)
	}
	rule := ruleOf(r)
	s.audit.Log(ctx, audit.Entry{Project: proj.Name, Operation: audit.OpCreate, ResourceType: "immutable_tag_rule", Resource: rule.Describe()})
	return rule, nil
}

// Update changes rule id.
func (s *Service) Update(ctx context.Context, id int, in Input) (Rule, error) {
	proj, err := s.load(ctx, id)
	if err != nil {
		return Rule{}, err
	}
	if err := in.check(); err != nil {
		return Rule{}, err
	}
	r, err := s.db.ImmutableRule.UpdateOneID(id).
		SetRepositoryPattern(in.RepositoryPattern).SetRepositoryExclude(in.RepositoryExclude).
		SetTagPattern(in.TagPattern).SetTagExclude(in.TagExclude).SetDisabled(in.Disabled).Save(ctx)
	if ent.IsNotFound(err) {
		return Rule{}, fault.NotFound(fmt.Sprintf("immutability rule %d", id))
	}
	if err != nil {
		return Rule{}, fmt.Errorf("update immutability rule %d: %w", id, err)
	}
	rule := ruleOf(r)
	s.audit.Log(ctx, audit.Entry{Project: proj.Name, Operation: audit.OpUpdate, ResourceType: "immutable_tag_rule", Resource: rule.Describe()})
	return rule, nil
}

// Delete removes rule id.
func (s *Service) Delete(ctx context.Context, id int) error {
	proj, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if err := s.db.ImmutableRule.DeleteOneID(id).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("delete immutability rule %d: %w", id, err)
	}
	s.audit.Log(ctx, audit.Entry{Project: proj.Name, Operation: audit.OpDelete, ResourceType: "immutable_tag_rule", Resource: fmt.Sprintf("rule %d", id)})
	return nil
}

// load finds rule id's project for a caller who may manage its rules.
func (s *Service) load(ctx context.Context, id int) (*ent.Project, error) {
	what := fmt.Sprintf("immutability rule %d", id)
	r, err := s.db.ImmutableRule.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(what)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	proj, err := s.projects.Get(ctx, r.ProjectID, auth.ActionManageImmutable)
	if fault.IsNotFound(err) {
		return nil, fault.NotFound(what)
	}
	return proj, err
}

// Protected is Guard.Protected for a caller who has already read the tags (their immutable
// status tells no more than the tags do): for each of tags in repository repo, whether an
// enabled rule selects it. One query for the whole list.
func (s *Service) Protected(ctx context.Context, repo string, tags []string) ([]bool, error) {
	return NewGuard(s.db).Protected(ctx, repo, tags)
}
