package event

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Execer runs SQL: an ent client or transaction (both have ExecContext), or a database/sql one.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Record writes e to the events table (the outbox). Call it inside the transaction that makes the
// change e reports, so that the event exists if and only if the change does; then call
// Dispatcher.Kick after the commit so it goes out at once rather than at the next sweep.
func Record(ctx context.Context, db Execer, e Event) error {
	if e.OccurredAt.IsZero() {
		e.OccurredAt = time.Now().UTC()
	}
	if e.Count == 0 {
		e.Count = 1
	}
	_, err := db.ExecContext(ctx, `
INSERT INTO events (type, occurred_at, operator, project_id, project_name, repository, digest, tag, source_ip, count, job_id)
VALUES ($1, $2, $3, (SELECT id FROM projects WHERE name = $4), $4, $5, $6, $7, $8, $9, $10)`,
		string(e.Type), e.OccurredAt, e.Operator, e.ProjectName, e.Repository, e.Digest, e.Tag, e.SourceIP, e.Count, e.JobID)
	if err != nil {
		return fmt.Errorf("record event %s: %w", e.Type, err)
	}
	return nil
}

// Consumer takes a batch of events inside the dispatcher's transaction: whatever it writes (webhook
// deliveries and their jobs) commits together with the events being marked dispatched, so each
// event reaches each consumer exactly once.
type Consumer interface {
	Consume(ctx context.Context, tx pgx.Tx, events []Event) error
}

// Dispatcher moves events from the outbox to their consumers and to every replica's subscribers.
// Each replica runs one; they share the work through row locks (FOR UPDATE SKIP LOCKED).
type Dispatcher struct {
	pool      *pgxpool.Pool
	log       *slog.Logger
	consumers []Consumer
	kick      chan struct{}
	sweep     time.Duration
}

// NewDispatcher returns a dispatcher over pool. Add consumers before Run.
func NewDispatcher(pool *pgxpool.Pool, log *slog.Logger) *Dispatcher {
	return &Dispatcher{pool: pool, log: log, kick: make(chan struct{}, 1), sweep: 2 * time.Second}
}

// AddConsumer registers c for every event dispatched from now on.
func (d *Dispatcher) AddConsumer(c Consumer) { d.consumers = append(d.consumers, c) }

// Kick asks for a dispatch now: call it after committing a Record.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run dispatches until ctx ends: at once when kicked, and every sweep interval for events that
// another replica recorded or that a crash left behind.
func (d *Dispatcher) Run(ctx context.Context) {
	ticker := time.NewTicker(d.sweep)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		case <-ticker.C:
		}
		for {
			n, err := d.dispatchBatch(ctx)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Error("dispatch events", "err", err)
				}
				break
			}
			if n < batchSize {
				break
			}
		}
	}
}

const batchSize = 200

// dispatchBatch claims up to batchSize undispatched events, hands them to the consumers, notifies
// every replica's subscribers, and marks them dispatched, all in one transaction.
func (d *Dispatcher) dispatchBatch(ctx context.Context) (int, error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	rows, err := tx.Query(ctx, `
SELECT id, type, occurred_at, operator, coalesce(project_id, 0), project_name, repository, digest, tag, source_ip, count, job_id
FROM events WHERE dispatched_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, batchSize)
	if err != nil {
		return 0, fmt.Errorf("claim events: %w", err)
	}
	var (
		events []Event
		ids    []int64
	)
	for rows.Next() {
		var (
			e  Event
			id int64
		)
		if err := rows.Scan(&id, &e.Type, &e.OccurredAt, &e.Operator, &e.ProjectID, &e.ProjectName, &e.Repository, &e.Digest, &e.Tag, &e.SourceIP, &e.Count, &e.JobID); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read event: %w", err)
		}
		e.ID = id
		events = append(events, e)
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("claim events: %w", err)
	}
	if len(events) == 0 {
		return 0, nil
	}
	for _, c := range d.consumers {
		if err := c.Consume(ctx, tx, events); err != nil {
			return 0, err
		}
	}
	for _, e := range events {
		payload, err := json.Marshal(e)
		if err != nil {
			return 0, err
		}
		// NOTIFY is transactional: subscribers hear of the event only if this commits.
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload)); err != nil {
			return 0, fmt.Errorf("notify: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE events SET dispatched_at = now() WHERE id = ANY($1)", ids); err != nil {
		return 0, fmt.Errorf("mark dispatched: %w", err)
	}
	return len(events), tx.Commit(ctx)
}
