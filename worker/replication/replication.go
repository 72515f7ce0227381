// Package replication copies artifacts between this registry and remote ones: replication
// policies (push-based and pull-based, with Harbor's filters, flattening, override, bandwidth
// limit and delete propagation), their executions (one per run) and tasks (one per artifact, its
// signatures and SBOMs travelling with it), the River job that performs an execution, the event
// consumer that turns pushes and deletes into event-based executions exactly once, and the
// scheduler of cron-triggered policies. It reads and writes local content only through the
// registry's indexing namespace and remote content only through an endpoint.Remote; it owns the
// replication_* tables and nothing else.
package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/replicationexecution"
	"github.com/berth-registry/berth/ent/replicationpolicy"
	"github.com/berth-registry/berth/ent/replicationtask"
	"github.com/berth-registry/berth/ent/schema"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/worker/export/glob"
	"github.com/berth-registry/berth/worker/run"
)

// Table is where executions are recorded, for the shared run lifecycle.
var Table = run.Table{Name: "replication_executions", What: "replication", End: run.LogEnd,
	StoppedBeforeStart: run.LogStoppedBeforeStart, Keep: keptExecutions, Scope: "policy_id"}

// Timeout bounds one attempt of an execution.
const Timeout = 24 * time.Hour

// MaxPage is the most rows one list returns.
const MaxPage = 100

// keptExecutions is how many finished executions each policy keeps.
const keptExecutions = 100

// Args is the job that performs one execution.
type Args struct {
	ExecutionID int `json:"execution_id" river:"unique"`
	// EventID, for an event-based execution, is the event it replicates.
	EventID int64 `json:"event_id,omitempty" river:"unique"`
}

// Kind names the job in River's table.
func (Args) Kind() string { return "replication" }

// InsertOpts: an execution has at most one job queued or running; a worker that dies mid-run
// has its attempt retried (up to 3), which resumes the tasks not yet done.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 3, UniqueOpts: run.Unique(true)}
}

// Queue is the River queue executions run on, apart from exports and scans.
const Queue = "replication"

// QueueWorkers is how many executions one process runs at once.
const QueueWorkers = 4

// Service is the replication domain service: policies, executions and tasks.
type Service struct {
	pool  *pgxpool.Pool
	db    *ent.Client
	jobs  *river.Client[pgx.Tx]
	auth  *auth.Service
	audit *audit.Writer
	log   *slog.Logger
}

// NewService returns the replication service.
func NewService(pool *pgxpool.Pool, db *ent.Client, jobs *river.Client[pgx.Tx], authz *auth.Service, auditLog *audit.Writer, log *slog.Logger) *Service {
	return &Service{pool: pool, db: db, jobs: jobs, auth: authz, audit: auditLog, log: log}
}

func (s *Service) check(ctx context.Context, action auth.Action) error {
	return s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, action, "replication")
}

// PolicyInput is what an administrator says about a policy.
type PolicyInput struct {
	Name, Description         string
	Direction                 replicationpolicy.Direction
	RegistryID                int
	SourceNamespace           string
	Filter                    schema.ReplicationFilter
	DestNamespace             string
	DestNamespaceReplaceCount int
	Trigger                   replicationpolicy.Trigger
	Cron                      string
	Override, Enabled         bool
	ReplicateDeletion         bool
	IncludeProxyCache         bool
	SpeedKB                   int
	CopyByChunk               bool
}

// apply sets every field of a policy from in, for a create and an update alike.
func (in PolicyInput) apply(m *ent.ReplicationPolicyMutation) {
	m.SetName(in.Name)
	m.SetDescription(in.Description)
	m.SetDirection(in.Direction)
	m.SetRegistryID(in.RegistryID)
	m.SetSourceNamespace(in.SourceNamespace)
	m.SetFilter(in.Filter)
	m.SetDestNamespace(in.DestNamespace)
	m.SetDestNamespaceReplaceCount(in.DestNamespaceReplaceCount)
	m.SetTrigger(in.Trigger)
	m.SetCron(in.Cron)
	m.SetOverride(in.Override)
	m.SetEnabled(in.Enabled)
	m.SetReplicateDeletion(in.ReplicateDeletion)
	m.SetIncludeProxyCache(in.IncludeProxyCache)
	m.SetSpeedKB(in.SpeedKB)
	m.SetCopyByChunk(in.CopyByChunk)
}

// validate checks in with messages that say what to do.
func (s *Service) validate(ctx context.Context, in *PolicyInput) error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 255 {
		return fault.BadInput("give the policy a name of 1 to 255 characters")
	}
	if replicationpolicy.DirectionValidator(in.Direction) != nil {
		return fault.BadInput("direction must be PUSH (local to remote) or PULL (remote to local)")
	}
	if in.Trigger == "" {
		in.Trigger = replicationpolicy.TriggerManual
	}
	if replicationpolicy.TriggerValidator(in.Trigger) != nil {
		return fault.BadInput("trigger must be MANUAL, SCHEDULED or EVENT_BASED")
	}
	if in.Trigger == replicationpolicy.TriggerScheduled {
		if _, err := cron.ParseStandard(in.Cron); err != nil {
			return fault.BadInput("invalid cron expression %q (five fields: minute hour day-of-month month day-of-week)", in.Cron)
		}
	} else {
		in.Cron = ""
	}
	if in.Trigger == replicationpolicy.TriggerEventBased && in.Direction == replicationpolicy.DirectionPull {
		return fault.BadInput("an event-based trigger needs a push-based policy: remote registries send no events")
	}
	if in.ReplicateDeletion && in.Direction == replicationpolicy.DirectionPull {
		return fault.BadInput("delete propagation needs a push-based policy")
	}
	if _, err := glob.Regex(in.Filter.Repository); err != nil {
		return fault.BadInput("repository filter: %v", err)
	}
	if _, err := glob.Regex(in.Filter.Tag); err != nil {
		return fault.BadInput("tag filter: %v", err)
	}
	switch in.Filter.Resource {
	case "", "image", "artifact":
	default:
		return fault.BadInput("resource filter must be image, artifact or empty (both)")
	}
	if len(in.Filter.Labels) > 0 && in.Direction == replicationpolicy.DirectionPull {
		return fault.BadInput("the label filter applies to push-based policies only: remote labels are not read")
	}
	if len(in.Description) > 1024 {
		return fault.BadInput("the description is longer than 1024 characters")
	}
	if len(in.Filter.Labels) > 100 {
		return fault.BadInput("a label filter names at most 100 labels")
	}
	if len(in.SourceNamespace) > 255 || len(in.DestNamespace) > 255 {
		return fault.BadInput("a namespace is at most 255 characters long")
	}
	if strings.Contains(in.SourceNamespace, "/") || strings.Contains(in.DestNamespace, "//") {
		return fault.BadInput("namespaces are project names (the destination may have a path, without empty parts)")
	}
	in.DestNamespace = strings.Trim(in.DestNamespace, "/")
	if in.DestNamespaceReplaceCount < -1 {
		return fault.BadInput("flattening must be -1 (all levels), 0 (none) or the number of levels to replace")
	}
	if in.DestNamespaceReplaceCount != 0 && in.DestNamespace == "" {
		return fault.BadInput("flattening replaces leading path components with the destination namespace: give one")
	}
	if in.SpeedKB < 0 {
		return fault.BadInput("the bandwidth limit is in KB/s and cannot be negative (0: unlimited)")
	}
	if _, err := s.db.RegistryEndpoint.Get(ctx, in.RegistryID); ent.IsNotFound(err) {
		return fault.BadInput("registry endpoint %d does not exist", in.RegistryID)
	} else if err != nil {
		return fmt.Errorf("load registry endpoint %d: %w", in.RegistryID, err)
	}
	return nil
}

// CreatePolicy creates a policy.
func (s *Service) CreatePolicy(ctx context.Context, in PolicyInput) (*ent.ReplicationPolicy, error) {
	if err := s.check(ctx, auth.ActionRunReplication); err != nil {
		return nil, err
	}
	if err := s.validate(ctx, &in); err != nil {
		return nil, err
	}
	c := s.db.ReplicationPolicy.Create()
	in.apply(c.Mutation())
	p, err := c.Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fault.Conflict("a replication policy named %q already exists", in.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("create replication policy: %w", err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpCreate, ResourceType: "replication-policy", Resource: p.Name})
	return p, nil
}

// UpdatePolicy replaces policy id's settings.
func (s *Service) UpdatePolicy(ctx context.Context, id int, in PolicyInput) (*ent.ReplicationPolicy, error) {
	if err := s.check(ctx, auth.ActionRunReplication); err != nil {
		return nil, err
	}
	if _, err := s.policy(ctx, id); err != nil {
		return nil, err
	}
	if err := s.validate(ctx, &in); err != nil {
		return nil, err
	}
	u := s.db.ReplicationPolicy.UpdateOneID(id)
	in.apply(u.Mutation())
	p, err := u.Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fault.Conflict("a replication policy named %q already exists", in.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("update replication policy %d: %w", id, err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpUpdate, ResourceType: "replication-policy", Resource: p.Name})
	return p, nil
}

// DeletePolicy deletes policy id and its history; one with an execution under way is kept.
func (s *Service) DeletePolicy(ctx context.Context, id int) error {
	if err := s.check(ctx, auth.ActionRunReplication); err != nil {
		return err
	}
	p, err := s.policy(ctx, id)
	if err != nil {
		return err
	}
	busy, err := s.db.ReplicationExecution.Query().Where(replicationexecution.PolicyID(id),
		replicationexecution.StatusIn(replicationexecution.StatusPending, replicationexecution.StatusRunning)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("replication policy %d: %w", id, err)
	}
	if busy {
		return fault.Conflict("policy %q has an execution under way: stop it first", p.Name)
	}
	if err := s.db.ReplicationPolicy.DeleteOneID(id).Exec(ctx); err != nil {
		return fmt.Errorf("delete replication policy %d: %w", id, err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpDelete, ResourceType: "replication-policy", Resource: p.Name})
	return nil
}

// Policy returns policy id.
func (s *Service) Policy(ctx context.Context, id int) (*ent.ReplicationPolicy, error) {
	if err := s.check(ctx, auth.ActionReadReplication); err != nil {
		return nil, err
	}
	return s.policy(ctx, id)
}

func (s *Service) policy(ctx context.Context, id int) (*ent.ReplicationPolicy, error) {
	p, err := s.db.ReplicationPolicy.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("replication policy %d", id))
	}
	if err != nil {
		return nil, fmt.Errorf("load replication policy %d: %w", id, err)
	}
	return p, nil
}

// Policies returns a page of policies whose name contains q, and the total.
func (s *Service) Policies(ctx context.Context, q string, offset, limit int) ([]*ent.ReplicationPolicy, int, error) {
	if err := s.check(ctx, auth.ActionReadReplication); err != nil {
		return nil, 0, err
	}
	query := s.db.ReplicationPolicy.Query()
	if q != "" {
		query = query.Where(replicationpolicy.NameContains(q))
	}
	total, err := query.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count replication policies: %w", err)
	}
	list, err := query.Order(ent.Asc(replicationpolicy.FieldID)).Offset(max(offset, 0)).Limit(pageLimit(limit)).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list replication policies: %w", err)
	}
	return list, total, nil
}

func pageLimit(limit int) int {
	if limit <= 0 || limit > MaxPage {
		return MaxPage
	}
	return limit
}

// ExecutionFilter narrows Executions.
type ExecutionFilter struct {
	PolicyID int
	Status   replicationexecution.Status
	Trigger  replicationexecution.Trigger
}

// Executions returns a page of executions, newest first, and the total.
func (s *Service) Executions(ctx context.Context, f ExecutionFilter, offset, limit int) ([]*ent.ReplicationExecution, int, error) {
	if err := s.check(ctx, auth.ActionReadReplication); err != nil {
		return nil, 0, err
	}
	q := s.db.ReplicationExecution.Query()
	if f.PolicyID != 0 {
		q = q.Where(replicationexecution.PolicyID(f.PolicyID))
	}
	if f.Status != "" {
		q = q.Where(replicationexecution.StatusEQ(f.Status))
	}
	if f.Trigger != "" {
		q = q.Where(replicationexecution.TriggerEQ(f.Trigger))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count replication executions: %w", err)
	}
	list, err := q.Order(ent.Desc(replicationexecution.FieldID)).Offset(max(offset, 0)).Limit(pageLimit(limit)).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list replication executions: %w", err)
	}
	return list, total, nil
}

// Execution returns execution id.
func (s *Service) Execution(ctx context.Context, id int) (*ent.ReplicationExecution, error) {
	if err := s.check(ctx, auth.ActionReadReplication); err != nil {
		return nil, err
	}
	return s.execution(ctx, id)
}

func (s *Service) execution(ctx context.Context, id int) (*ent.ReplicationExecution, error) {
	e, err := s.db.ReplicationExecution.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("replication execution %d", id))
	}
	if err != nil {
		return nil, fmt.Errorf("load replication execution %d: %w", id, err)
	}
	return e, nil
}

// Tasks returns a page of execution id's tasks (only those with status, if given) and the total.
func (s *Service) Tasks(ctx context.Context, id int, status replicationtask.Status, offset, limit int) ([]*ent.ReplicationTask, int, error) {
	if err := s.check(ctx, auth.ActionReadReplication); err != nil {
		return nil, 0, err
	}
	if _, err := s.execution(ctx, id); err != nil {
		return nil, 0, err
	}
	q := s.db.ReplicationTask.Query().Where(replicationtask.ExecutionID(id))
	if status != "" {
		q = q.Where(replicationtask.StatusEQ(status))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count replication tasks: %w", err)
	}
	list, err := q.Order(ent.Asc(replicationtask.FieldID)).Offset(max(offset, 0)).Limit(pageLimit(limit)).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list replication tasks: %w", err)
	}
	return list, total, nil
}

// Task returns task taskID of execution id (for its log).
func (s *Service) Task(ctx context.Context, id, taskID int) (*ent.ReplicationTask, error) {
	if err := s.check(ctx, auth.ActionReadReplication); err != nil {
		return nil, err
	}
	t, err := s.db.ReplicationTask.Query().Where(replicationtask.ID(taskID), replicationtask.ExecutionID(id)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("task %d of replication execution %d", taskID, id))
	}
	return t, err
}

// Start runs policy id now (a manual execution).
func (s *Service) Start(ctx context.Context, policyID int) (*ent.ReplicationExecution, error) {
	if err := s.check(ctx, auth.ActionRunReplication); err != nil {
		return nil, err
	}
	p, err := s.policy(ctx, policyID)
	if err != nil {
		return nil, err
	}
	if !p.Enabled {
		return nil, fault.BadInput("policy %q is disabled: enable it first", p.Name)
	}
	id, err := start(ctx, s.pool, s.jobs, p.ID, replicationexecution.TriggerManual, 0, auth.PrincipalFrom(ctx).Name)
	if err != nil {
		return nil, err
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpCreate, ResourceType: "replication-execution", Resource: fmt.Sprintf("%s #%d", p.Name, id)})
	return s.db.ReplicationExecution.Get(ctx, id)
}

// start records an execution and queues its job in one transaction.
func start(ctx context.Context, pool *pgxpool.Pool, jobs *river.Client[pgx.Tx], policyID int, trigger replicationexecution.Trigger, eventID int64, operator string) (int, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	id, err := insertExecution(ctx, tx, jobs, policyID, trigger, eventID, operator)
	if err != nil {
		return 0, err
	}
	return id, tx.Commit(ctx)
}

// insertExecution records an execution and its job in tx. For an event, a second insert for the
// same (policy, event) finds the first and inserts nothing (id 0).
func insertExecution(ctx context.Context, tx pgx.Tx, jobs *river.Client[pgx.Tx], policyID int, trigger replicationexecution.Trigger, eventID int64, operator string) (int, error) {
	var ev *int64
	if eventID != 0 {
		ev = &eventID
	}
	var id int
	err := tx.QueryRow(ctx, `
INSERT INTO replication_executions (policy_id, status, trigger, event_id, log, operator, created_at)
VALUES ($1, 'PENDING', $2, $3, '', $4, now()) ON CONFLICT (policy_id, event_id) DO NOTHING RETURNING id`,
		policyID, string(trigger), ev, operator).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("record replication execution: %w", err)
	}
	if _, err := run.Insert(ctx, tx, jobs, Table, id, Args{ExecutionID: id, EventID: eventID}); err != nil {
		return 0, err
	}
	if _, err := run.Trim(ctx, tx, Table, policyID); err != nil {
		return 0, err
	}
	return id, nil
}

// Stop stops execution id: its tasks not yet done are recorded as stopped.
func (s *Service) Stop(ctx context.Context, id int) (*ent.ReplicationExecution, error) {
	if err := s.check(ctx, auth.ActionRunReplication); err != nil {
		return nil, err
	}
	e, err := s.execution(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.Status != replicationexecution.StatusPending && e.Status != replicationexecution.StatusRunning {
		return e, nil
	}
	if err := Table.Stop(ctx, s.pool, s.jobs, id); err != nil {
		return nil, err
	}
	// Whatever the job did not get to is stopped.
	if _, err := s.pool.Exec(ctx, `UPDATE replication_tasks SET status = 'STOPPED', ended_at = now()
WHERE execution_id = $1 AND status IN ('PENDING')`, id); err != nil {
		return nil, fmt.Errorf("stop replication execution %d: %w", id, err)
	}
	if err := recount(ctx, s.pool, id); err != nil {
		return nil, err
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpUpdate, ResourceType: "replication-execution", Resource: fmt.Sprintf("stop #%d", id)})
	return s.execution(ctx, id)
}

// Retry runs the failed and stopped tasks of a finished execution again, in the same execution.
func (s *Service) Retry(ctx context.Context, id int) (*ent.ReplicationExecution, error) {
	if err := s.check(ctx, auth.ActionRunReplication); err != nil {
		return nil, err
	}
	e, err := s.execution(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.Status == replicationexecution.StatusPending || e.Status == replicationexecution.StatusRunning {
		return nil, fault.Conflict("execution %d is still under way: wait for it or stop it", id)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	tag, err := tx.Exec(ctx, `UPDATE replication_tasks SET status = 'PENDING', message = '', ended_at = NULL
WHERE execution_id = $1 AND status IN ('FAILED', 'STOPPED')`, id)
	if err != nil {
		return nil, fmt.Errorf("retry replication execution %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 && e.Planned {
		return nil, fault.BadInput("execution %d has no failed or stopped tasks to retry", id)
	}
	var eventID int64
	if e.EventID != nil {
		eventID = *e.EventID
	}
	// Queued before the execution is marked pending again: Insert waits for the last attempt's job
	// (its run already ended, River about to complete it) only while the run reads as ended.
	if _, err := run.Insert(ctx, tx, s.jobs, Table, id, Args{ExecutionID: id, EventID: eventID}); err != nil {
		if errors.Is(err, run.ErrBusy) {
			return nil, fault.Conflict("execution %d is still under way", id)
		}
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE replication_executions SET status = 'PENDING', ended_at = NULL, log = log || $2 WHERE id = $1`,
		id, run.Line("retrying %d tasks (by %s)", tag.RowsAffected(), auth.PrincipalFrom(ctx).Name)); err != nil {
		return nil, fmt.Errorf("retry replication execution %d: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	if err := recount(ctx, s.pool, id); err != nil {
		return nil, err
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpUpdate, ResourceType: "replication-execution", Resource: fmt.Sprintf("retry #%d", id)})
	return s.execution(ctx, id)
}

// recount sets an execution's totals from its tasks.
func recount(ctx context.Context, pool *pgxpool.Pool, id int) error {
	_, err := pool.Exec(ctx, `UPDATE replication_executions e SET total = c.total, succeeded = c.succeeded, failed = c.failed,
	skipped = c.skipped, stopped = c.stopped, bytes = c.bytes
FROM (SELECT count(*) AS total, count(*) FILTER (WHERE status = 'SUCCESS') AS succeeded,
	count(*) FILTER (WHERE status = 'FAILED') AS failed, count(*) FILTER (WHERE status = 'SKIPPED') AS skipped,
	count(*) FILTER (WHERE status = 'STOPPED') AS stopped, coalesce(sum(bytes), 0) AS bytes
	FROM replication_tasks WHERE execution_id = $1) c WHERE e.id = $1`, id)
	if err != nil {
		return fmt.Errorf("count the tasks of replication execution %d: %w", id, err)
	}
	return nil
}

// match reports whether a doublestar glob (validated when saved) matches s; "" matches all.
func match(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, err := doublestar.Match(pattern, s)
	return err == nil && ok
}

// tagsPass applies the tag filter to an artifact's tags: the tags to copy, and whether the
// artifact passes at all (an untagged one passes only without a tag filter).
func tagsPass(f schema.ReplicationFilter, tags []string) ([]string, bool) {
	if f.Tag == "" {
		return tags, true
	}
	var out []string
	for _, t := range tags {
		if match(f.Tag, t) != f.TagExclude {
			out = append(out, t)
		}
	}
	return out, len(out) > 0
}

// destRepository is where src lands: the destination namespace replaces the first n path
// components of src (n = -1: all but the last), as Harbor's flattening does; without a
// namespace src keeps its name.
func destRepository(p *ent.ReplicationPolicy, src string) string {
	if p.DestNamespace == "" {
		return src
	}
	parts := strings.Split(src, "/")
	n := p.DestNamespaceReplaceCount
	if n < 0 || n >= len(parts) {
		n = len(parts) - 1
	}
	return p.DestNamespace + "/" + strings.Join(parts[n:], "/")
}

// LastExecution returns policy id's newest execution, or nil.
func (s *Service) LastExecution(ctx context.Context, policyID int) (*ent.ReplicationExecution, error) {
	if err := s.check(ctx, auth.ActionReadReplication); err != nil {
		return nil, err
	}
	e, err := s.db.ReplicationExecution.Query().Where(replicationexecution.PolicyID(policyID)).
		Order(ent.Desc(replicationexecution.FieldID)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return e, err
}
