// Package audit owns the audit log: what is recorded (Entry), how it reaches PostgreSQL without
// slowing requests (Writer, a bounded queue written in batches), how registry events become entries
// (Consumer), the run-time settings (forwarding endpoint, pull logging), and the forwarder that
// sends entries to syslog. Reading the log is GraphQL's; purging it is worker/purge's.
package audit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/auth"
)

// Operations are the values of an entry's Operation.
const (
	OpCreate = "create"
	OpDelete = "delete"
	OpUpdate = "update"
	OpPull   = "pull"
	OpLogin  = "login"
)

// Operations lists every operation Berth records, for validation of filters and purges.
var Operations = []string{OpCreate, OpDelete, OpUpdate, OpPull, OpLogin}

// Entry is one recorded operation.
type Entry struct {
	Time         time.Time
	User         string // username, robot name, or "anonymous"
	Project      string // project name, or ""
	Operation    string
	ResourceType string // project, repository, artifact, tag, user, member, robot, api-token, webhook, configuration, session
	Resource     string
	SourceIP     string
	Failed       bool
}

// FromContext fills the who and where of an entry from the request context.
func FromContext(ctx context.Context, e Entry) Entry {
	if e.User == "" {
		e.User = auth.PrincipalFrom(ctx).Name
	}
	if e.SourceIP == "" {
		e.SourceIP = auth.SourceIPFrom(ctx)
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	return e
}

var (
	queued = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "berth", Name: "audit_queue_length", Help: "Audit entries waiting to be written."})
	written = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "berth", Name: "audit_entries_written_total", Help: "Audit entries written to PostgreSQL."})
	writeErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "berth", Name: "audit_write_errors_total", Help: "Failed audit batch writes (retried)."})
)

func init() { prometheus.MustRegister(queued, written, writeErrors) }

// execer is what inserts run on: the pool, or the event dispatcher's transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insert writes entries in one statement, in order (ids follow the slice).
func insert(ctx context.Context, db execer, entries []Entry, forwarded bool) error {
	n := len(entries)
	times := make([]time.Time, n)
	cols := make([][]string, 7)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	for i, e := range entries {
		times[i] = e.Time
		result := "SUCCESS"
		if e.Failed {
			result = "FAILURE"
		}
		for j, v := range []string{e.User, e.Project, e.Operation, e.ResourceType, truncate(e.Resource, 1024), e.SourceIP, result} {
			cols[j][i] = v
		}
	}
	_, err := db.Exec(ctx, `
INSERT INTO audit_logs (occurred_at, username, project_id, project_name, operation, resource_type, resource, source_ip, result, forwarded)
SELECT t.occurred_at, t.username, p.id, t.project_name, t.operation, t.resource_type, t.resource, t.source_ip, t.result, $9
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
     WITH ORDINALITY AS t(occurred_at, username, project_name, operation, resource_type, resource, source_ip, result, ord)
LEFT JOIN projects p ON p.name = t.project_name
ORDER BY t.ord`, times, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], forwarded)
	if err != nil {
		return fmt.Errorf("write %d audit entries: %w", n, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Writer takes entries from request handlers and writes them in batches, so that no request waits
// for the database. Its queue is bounded: when it is full, Record waits (back-pressure) rather than
// dropping an entry. Close writes everything still queued.
type Writer struct {
	pool     *pgxpool.Pool
	settings *Settings
	log      *slog.Logger
	queue    chan Entry
	done     chan struct{}
	stop     sync.Once
	closed   atomic.Bool
}

// Queue and batch sizes.
const (
	queueSize = 10000
	batchSize = 1000
)

// NewWriter starts a writer.
func NewWriter(pool *pgxpool.Pool, settings *Settings, log *slog.Logger) *Writer {
	w := &Writer{pool: pool, settings: settings, log: log, queue: make(chan Entry, queueSize), done: make(chan struct{})}
	go w.run()
	return w
}

// Record queues e, filling user, source IP and time from ctx. It waits while the queue is full,
// until ctx ends.
func (w *Writer) Record(ctx context.Context, e Entry) error {
	if w.closed.Load() {
		return fmt.Errorf("audit writer closed")
	}
	e = FromContext(ctx, e)
	select {
	case w.queue <- e:
		queued.Set(float64(len(w.queue)))
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit queue full: %w", ctx.Err())
	}
}

// LogPulls reports whether pulls are to be recorded (a setting).
func (w *Writer) LogPulls() bool { return w.settings.Current().LogPulls }

// Close stops taking entries and writes every queued one.
func (w *Writer) Close() {
	w.stop.Do(func() {
		w.closed.Store(true)
		close(w.queue)
		<-w.done
	})
}

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]Entry, 0, batchSize)
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	flush := func() {
		for len(batch) > 0 {
			err := w.write(batch)
			if err == nil {
				batch = batch[:0]
				return
			}
			// Keep the batch and try again: an entry is never dropped for a database hiccup.
			writeErrors.Inc()
			w.log.Error("audit: write batch, retrying", "entries", len(batch), "err", err)
			time.Sleep(time.Second)
		}
	}
	for {
		select {
		case e, ok := <-w.queue:
			if !ok {
				flush()
				return
			}
			batch = append(batch, e)
			if len(batch) >= batchSize {
				flush()
			}
		case <-ticker.C:
			flush()
			queued.Set(float64(len(w.queue)))
		}
	}
}

func (w *Writer) write(batch []Entry) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := insert(ctx, w.pool, batch, !w.settings.Current().Forwarding()); err != nil {
		return err
	}
	written.Add(float64(len(batch)))
	return nil
}
