package audit

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/berth-registry/berth/audit/syslog"
)

// forwarderLock is the advisory lock the one forwarding replica holds ("berthfwd").
const forwarderLock int64 = 0x6265727468667764

// Forwarder sends audit entries to the configured syslog endpoint in the order they committed,
// each once (again only after a broken connection or a crash). Entries wait in
// PostgreSQL (forwarded = false) until the endpoint has taken them, so an outage loses nothing:
// the backlog goes out in order when the endpoint returns. One replica forwards at a time.
type Forwarder struct {
	pool     *pgxpool.Pool
	settings *Settings
	log      *slog.Logger
	hostname string
	idle     time.Duration
}

// NewForwarder returns a forwarder; Run starts it.
func NewForwarder(pool *pgxpool.Pool, settings *Settings, log *slog.Logger) *Forwarder {
	host, _ := os.Hostname()
	return &Forwarder{pool: pool, settings: settings, log: log, hostname: host, idle: 200 * time.Millisecond}
}

// Run competes for the forwarding lock and, while holding it, forwards until ctx ends.
func (f *Forwarder) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := f.lead(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("audit forwarder: lost leadership", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// lead holds the advisory lock on a dedicated connection for as long as it forwards.
func (f *Forwarder) lead(ctx context.Context) error {
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", forwarderLock).Scan(&got); err != nil || !got {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", forwarderLock) //nolint:errcheck

	var (
		sender  *syslog.Sender
		current Config
		backoff = time.Second
	)
	defer func() {
		if sender != nil {
			sender.Close()
		}
	}()
	for ctx.Err() == nil {
		cfg := f.settings.Current()
		if !cfg.Forwarding() {
			if sender != nil {
				sender.Close()
				sender = nil
			}
			sleep(ctx, time.Second)
			continue
		}
		if sender == nil || cfg.ForwardEndpoint != current.ForwardEndpoint || cfg.ForwardProtocol != current.ForwardProtocol {
			if sender != nil {
				sender.Close()
			}
			ep, err := syslog.ParseEndpoint(cfg.ForwardEndpoint, cfg.ForwardProtocol)
			if err != nil {
				f.failed(ctx, err)
				sleep(ctx, 5*time.Second)
				continue
			}
			sender, current = syslog.NewSender(ep, f.hostname), cfg
		}
		n, err := f.forwardBatch(ctx, conn, sender, cfg.SkipDatabase)
		switch {
		case err != nil && conn.Conn().IsClosed():
			// The session that held the lock is gone, and the lock with it: another replica may
			// be forwarding now. Compete again rather than send beside it.
			return fmt.Errorf("forwarding connection lost: %w", err)
		case err != nil:
			f.failed(ctx, err)
			sleep(ctx, backoff)
			backoff = min(backoff*2, 30*time.Second)
		case n == 0:
			backoff = time.Second
			sleep(ctx, f.idle)
		default:
			backoff = time.Second
		}
	}
	return nil
}

// forwardBatch sends up to 500 waiting entries, oldest first, and marks (or, with skipDatabase,
// deletes) the ones the endpoint took. It reads and marks on conn, the session that holds the
// forwarding lock, so that it stops when that session (and the lock) is lost.
//
// Id order is commit order (see commitOrderLock): the rows it reads are all that will ever
// exist below the highest id it sees, so nothing it skips now turns up later, and a receiver
// sees ids only ever increase (a resend after a broken connection repeats ids it has seen).
func (f *Forwarder) forwardBatch(ctx context.Context, conn *pgxpool.Conn, sender *syslog.Sender, skipDatabase bool) (int, error) {
	rows, err := conn.Query(ctx, `
SELECT id, occurred_at, username, project_name, operation, resource_type, resource, source_ip, result
FROM audit_logs WHERE NOT forwarded ORDER BY id LIMIT 500`)
	if err != nil {
		return 0, fmt.Errorf("read backlog: %w", err)
	}
	records, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (syslog.Record, error) {
		var r syslog.Record
		var result string
		err := row.Scan(&r.ID, &r.Time, &r.User, &r.Project, &r.Operation, &r.ResourceType, &r.Resource, &r.SourceIP, &result)
		r.Result = map[string]string{"SUCCESS": "success", "FAILURE": "failure"}[result]
		return r, err
	})
	if err != nil {
		return 0, fmt.Errorf("read backlog: %w", err)
	}
	if len(records) == 0 {
		forwardBehind.Set(0)
		return 0, nil
	}
	sent, sendErr := sender.Send(ctx, records)
	if sent > 0 {
		ids := make([]int64, sent)
		for i := range sent {
			ids[i] = records[i].ID
		}
		query := "UPDATE audit_logs SET forwarded = true WHERE id = ANY($1)"
		if skipDatabase {
			query = "DELETE FROM audit_logs WHERE id = ANY($1)"
		}
		if _, err := conn.Exec(ctx, query, ids); err != nil {
			return 0, fmt.Errorf("mark forwarded: %w", err)
		}
		forwardedTotal.Add(float64(sent))
	}
	if sendErr != nil {
		return sent, sendErr
	}
	f.succeeded(ctx)
	return sent, nil
}

func (f *Forwarder) failed(ctx context.Context, err error) {
	forwardHealthy.Set(0)
	now := time.Now().UTC()
	st, _ := f.loadState(ctx)
	if !st.Healthy && st.LastError == err.Error() && st.LastErrorAt != nil && now.Sub(*st.LastErrorAt) < 5*time.Second {
		return // already reported
	}
	if st.Healthy || st.LastError != err.Error() {
		f.log.Warn("audit forwarder: endpoint unavailable; entries are kept until it returns", "err", err)
	}
	st.Healthy, st.LastError, st.LastErrorAt = false, err.Error(), &now
	f.saveState(ctx, st)
}

func (f *Forwarder) succeeded(ctx context.Context) {
	forwardHealthy.Set(1)
	st, _ := f.loadState(ctx)
	now := time.Now().UTC()
	if st.Healthy && st.LastSuccessAt != nil && now.Sub(*st.LastSuccessAt) < 5*time.Second {
		return // state is fresh enough; spare the write
	}
	if !st.Healthy && st.LastError != "" {
		f.log.Info("audit forwarder: endpoint reachable again")
	}
	st.Healthy, st.LastSuccessAt = true, &now
	f.saveState(ctx, st)
}

func (f *Forwarder) loadState(ctx context.Context) (ForwarderState, error) {
	return loadState(ctx, f.pool)
}

func (f *Forwarder) saveState(ctx context.Context, st ForwarderState) {
	if err := SaveSetting(ctx, f.pool, stateKey, st); err != nil && ctx.Err() == nil {
		f.log.Warn("audit forwarder: save state", "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
