package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/ent/replicationexecution"
	"github.com/berth-registry/berth/ent/schema"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/worker/run"
	"github.com/berth-registry/berth/worker/schedule"
)

// Consume turns dispatched pushes, tags and deletes (of artifacts and of tags) into executions of the enabled event-based
// push policies that want them. It runs in the dispatcher's transaction, which marks the events
// dispatched: an event reaches it once, whatever the replicas and crashes, and the unique
// (policy, event) index and the job's unique arguments keep it to one execution even so.
func (s *Service) Consume(ctx context.Context, tx pgx.Tx, events []event.Event) error {
	for _, e := range events {
		deletion := e.Type == event.ArtifactDeleted || e.Type == event.TagDeleted
		if e.Type != event.ArtifactPushed && e.Type != event.TagCreated && !deletion {
			continue
		}
		// What a policy pulled from a registry is not pushed back to that registry: two sites
		// replicating to each other would otherwise copy every push back and forth for ever.
		rows, err := tx.Query(ctx, `SELECT p.id, p.filter FROM replication_policies p
WHERE p.enabled AND p.trigger = 'EVENT_BASED' AND p.direction = 'PUSH' AND (p.source_namespace = '' OR p.source_namespace = $1)
	AND ($2 = false OR p.replicate_deletion)
	AND NOT EXISTS (SELECT 1 FROM replication_policies src WHERE $3 = 'replication:' || src.name AND src.registry_id = p.registry_id)`,
			e.ProjectName, deletion, e.Operator)
		if err != nil {
			return fmt.Errorf("replication policies for event %d: %w", e.ID, err)
		}
		type candidate struct {
			id     int
			filter schema.ReplicationFilter
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (candidate, error) {
			var c candidate
			return c, r.Scan(&c.id, &c.filter)
		})
		if err != nil {
			return fmt.Errorf("replication policies for event %d: %w", e.ID, err)
		}
		// The filters that the event alone can answer are applied here, so a push no policy
		// wants makes no execution; the rest (labels, resource, an accessory's subject) when the
		// execution plans.
		var ids []int
		for _, c := range found {
			if !match(c.filter.Repository, e.Repository) {
				continue
			}
			if e.Tag != "" && !isCosignTag(e.Tag) {
				if _, ok := tagsPass(c.filter, []string{e.Tag}); !ok {
					continue
				}
			}
			ids = append(ids, c.id)
		}
		for _, id := range ids {
			if _, err := insertExecution(ctx, tx, s.jobs, id, replicationexecution.TriggerEventBased, e.ID, e.Operator); err != nil {
				return fmt.Errorf("replicate event %d with policy %d: %w", e.ID, id, err)
			}
		}
	}
	return nil
}

// SchedulerArgs is the periodic job (every minute, on River's elected leader) that starts the
// executions of scheduled policies that are due.
type SchedulerArgs struct{}

// Kind names the job in River's table.
func (SchedulerArgs) Kind() string { return "replication_scheduler" }

// InsertOpts makes it unique per minute.
func (SchedulerArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// Scheduler starts scheduled executions.
type Scheduler struct {
	river.WorkerDefaults[SchedulerArgs]
	pool *pgxpool.Pool
}

// NewScheduler returns the scheduler worker.
func NewScheduler(pool *pgxpool.Pool) *Scheduler { return &Scheduler{pool: pool} }

// Work starts every due policy; one whose last execution is still under way skips this turn.
func (w *Scheduler) Work(ctx context.Context, job *river.Job[SchedulerArgs]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	rows, err := w.pool.Query(ctx, `SELECT id, cron, updated_at, last_scheduled_at FROM replication_policies
WHERE enabled AND trigger = 'SCHEDULED'`)
	if err != nil {
		return fmt.Errorf("scheduled replication policies: %w", err)
	}
	type due struct {
		id   int
		s    schedule.Schedule
		last *time.Time
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
		var d due
		d.s.Kind = schedule.Custom
		err := r.Scan(&d.id, &d.s.Cron, &d.s.UpdatedAt, &d.s.LastRunAt)
		return d, err
	})
	if err != nil {
		return fmt.Errorf("scheduled replication policies: %w", err)
	}
	now := time.Now()
	var errs []error
	for _, d := range list {
		if !d.s.Due(now) {
			continue
		}
		tx, err := w.pool.Begin(ctx)
		if err != nil {
			return err
		}
		// Claim the turn: only one scheduler run starts it.
		tag, err := tx.Exec(ctx, `UPDATE replication_policies SET last_scheduled_at = now() WHERE id = $1
	AND last_scheduled_at IS NOT DISTINCT FROM $2`, d.id, d.s.LastRunAt)
		if err == nil && tag.RowsAffected() == 1 {
			_, err = insertExecution(ctx, tx, client, d.id, replicationexecution.TriggerScheduled, 0, "scheduler")
		}
		if err == nil {
			err = tx.Commit(ctx)
		} else {
			_ = tx.Rollback(ctx)
		}
		if err != nil && !errors.Is(err, run.ErrBusy) {
			errs = append(errs, fmt.Errorf("start scheduled replication policy %d: %w", d.id, err))
		}
	}
	return errors.Join(errs...)
}
