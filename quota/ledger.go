// Package quota owns project storage quotas: the limit (bytes, -1 unlimited; new projects get the
// administrator's default), the live usage the registry's indexer keeps as artifacts come and go,
// the reservations a push takes before it writes (so concurrent pushes cannot jointly overshoot),
// the QUOTA_WARNING and QUOTA_EXCEED events, and the exact recompute (a River job) that the live
// counter must agree with. Usage counts each blob once per project, however many artifacts
// (accessories included) link to it. It stores nothing in the registry and decides no access.
package quota

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/event"
)

// DefaultReservationTTL is how long a reservation waits for the manifest that links its blob:
// after it, the push is presumed abandoned (the client or the process died) and the bytes are
// released by Sweep.
const DefaultReservationTTL = time.Hour

// Blob is a blob a push is about to add to a project.
type Blob struct {
	Digest string
	Size   int64
}

// Exceeded is the error of a push the project's quota cannot hold. Its message is what the
// client reads after "DENIED: ".
type Exceeded struct {
	Project string
	Limit   int64
	Used    int64 // usage and reservations when the push was refused
	Need    int64 // what the push needed on top
}

func (e *Exceeded) Error() string {
	return fmt.Sprintf("quota exceeded: project %s has a limit of %s and uses %s; this push needs %s more",
		e.Project, Bytes(e.Limit), Bytes(e.Used), Bytes(e.Need))
}

// Bytes formats n for messages: "1.5 MiB (1572864 bytes)".
func Bytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s (%d bytes)", f, units[i], n)
}

// Ledger keeps the counters: reservations before a push writes, usage when the indexer records
// or forgets an artifact. Every change locks the project's row first, so a project's counters
// change one transaction at a time and each sees what the previous one committed.
type Ledger struct {
	db       *ent.Client
	settings *Settings
	ttl      time.Duration
	log      *slog.Logger
}

// NewLedger returns the ledger over db; ttl 0 means DefaultReservationTTL.
func NewLedger(db *ent.Client, settings *Settings, ttl time.Duration, log *slog.Logger) *Ledger {
	if ttl <= 0 {
		ttl = DefaultReservationTTL
	}
	return &Ledger{db: db, settings: settings, ttl: ttl, log: log}
}

// querier is what the ledger needs of a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// counters is a project's row, locked.
type counters struct {
	id                    int
	name                  string
	limit, used, reserved int64
}

func lockProject(ctx context.Context, q querier, where string, arg any) (counters, error) {
	var c counters
	err := queryRow(ctx, q, `SELECT id, name, quota_limit, quota_used, quota_reserved FROM projects WHERE `+where+` FOR UPDATE`,
		[]any{arg}, &c.id, &c.name, &c.limit, &c.used, &c.reserved)
	return c, err
}

// Reserve holds room for blobs in project projectName before a push writes them: blobs the
// project already links to or has reserved cost nothing (their reservations are renewed); the
// rest must fit under the limit with the usage and every other reservation, or the push is
// refused with *Exceeded (and a QUOTA_EXCEED event) and nothing is reserved. It returns the
// digests it reserved, for Release if the write then fails.
func (l *Ledger) Reserve(ctx context.Context, projectName string, blobs []Blob) (reserved []string, err error) {
	digests := make([]string, 0, len(blobs))
	size := map[string]int64{}
	for _, b := range blobs {
		if _, dup := size[b.Digest]; !dup {
			digests = append(digests, b.Digest)
		}
		size[b.Digest] = b.Size
	}
	var refused *Exceeded
	err = l.inTx(ctx, func(tx *ent.Tx) error {
		c, err := lockProject(ctx, tx, "name = $1", projectName)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // the registry answers for unknown projects
		}
		if err != nil {
			return err
		}
		known, err := strings(ctx, tx, `
SELECT b.digest FROM blobs b
WHERE b.digest = ANY($2) AND EXISTS (
	SELECT 1 FROM artifact_blobs ab JOIN artifacts a ON a.id = ab.artifact_id JOIN repositories r ON r.id = a.repository_id
	WHERE ab.blob_id = b.id AND r.project_id = $1)
UNION
SELECT digest FROM quota_reservations WHERE project_id = $1 AND digest = ANY($2)`, c.id, digests)
		if err != nil {
			return err
		}
		isKnown := map[string]bool{}
		for _, d := range known {
			isKnown[d] = true
		}
		var need int64
		for _, d := range digests {
			if !isKnown[d] {
				reserved = append(reserved, d)
				need += size[d]
			}
		}
		expires := time.Now().Add(l.ttl)
		if _, err := tx.ExecContext(ctx, `UPDATE quota_reservations SET expires_at = $3 WHERE project_id = $1 AND digest = ANY($2)`,
			c.id, digests, expires); err != nil {
			return err
		}
		if need == 0 {
			return nil
		}
		if c.limit >= 0 && c.used+c.reserved+need > c.limit {
			refused = &Exceeded{Project: c.name, Limit: c.limit, Used: c.used + c.reserved, Need: need}
			reserved = nil
			return l.record(ctx, tx, c, event.QuotaExceeded)
		}
		for _, d := range reserved {
			if _, err := tx.ExecContext(ctx, `INSERT INTO quota_reservations (project_id, digest, size, expires_at) VALUES ($1, $2, $3, $4)`,
				c.id, d, size[d], expires); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE projects SET quota_reserved = quota_reserved + $2 WHERE id = $1`, c.id, need); err != nil {
			return err
		}
		return l.warnIfCrossed(ctx, tx, c, c.used+c.reserved, c.used+c.reserved+need)
	})
	if err != nil {
		return nil, fmt.Errorf("quota of %s: reserve: %w", projectName, err)
	}
	if refused != nil {
		return nil, refused
	}
	return reserved, nil
}

// Release gives back reservations Reserve took for a write that failed.
func (l *Ledger) Release(ctx context.Context, projectName string, digests []string) error {
	if len(digests) == 0 {
		return nil
	}
	err := l.inTx(ctx, func(tx *ent.Tx) error {
		c, err := lockProject(ctx, tx, "name = $1", projectName)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return release(ctx, tx, c.id, `digest = ANY($2)`, digests)
	})
	if err != nil {
		return fmt.Errorf("quota of %s: release: %w", projectName, err)
	}
	return nil
}

// release deletes the project's reservations matching cond and takes their bytes off its counter.
func release(ctx context.Context, tx querier, projectID int, cond string, arg any) error {
	_, err := tx.ExecContext(ctx, `
WITH gone AS (DELETE FROM quota_reservations WHERE project_id = $1 AND `+cond+` RETURNING size)
UPDATE projects SET quota_reserved = GREATEST(quota_reserved - (SELECT COALESCE(SUM(size), 0) FROM gone), 0) WHERE id = $1`,
		projectID, arg)
	return err
}

// Linked is called by the indexer inside its transaction, before it links artifactID to blobIDs
// (the manifest among them): the blobs the project did not link to yet become usage, and the
// push's reservations of them end.
func (l *Ledger) Linked(ctx context.Context, tx *ent.Tx, projectID, artifactID int, blobIDs []int) error {
	c, err := lockProject(ctx, tx, "id = $1", projectID)
	if err != nil {
		return fmt.Errorf("quota of project %d: %w", projectID, err)
	}
	var added int64
	err = queryRow(ctx, tx, `
SELECT COALESCE(SUM(b.size), 0)::bigint FROM blobs b
WHERE b.id = ANY($2) AND NOT EXISTS (
	SELECT 1 FROM artifact_blobs ab JOIN artifacts a ON a.id = ab.artifact_id JOIN repositories r ON r.id = a.repository_id
	WHERE ab.blob_id = b.id AND r.project_id = $1)`, []any{projectID, blobIDs}, &added)
	if err != nil {
		return fmt.Errorf("quota of project %d: new blobs: %w", projectID, err)
	}
	var consumed int64
	err = queryRow(ctx, tx, `
WITH gone AS (DELETE FROM quota_reservations WHERE project_id = $1 AND digest IN (SELECT digest FROM blobs WHERE id = ANY($2)) RETURNING size)
SELECT COALESCE(SUM(size), 0)::bigint FROM gone`, []any{projectID, blobIDs}, &consumed)
	if err != nil {
		return fmt.Errorf("quota of project %d: end reservations: %w", projectID, err)
	}
	if added == 0 && consumed == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE projects SET quota_used = quota_used + $2, quota_reserved = GREATEST(quota_reserved - $3, 0) WHERE id = $1`,
		projectID, added, consumed); err != nil {
		return fmt.Errorf("quota of project %d: %w", projectID, err)
	}
	before, after := c.used+c.reserved, c.used+added+max(c.reserved-consumed, 0)
	if c.limit >= 0 && after > c.limit && before <= c.limit {
		// Only a push that took no reservation (a proxy-cache fill, a reservation that expired
		// mid-push) gets here.
		return l.record(ctx, tx, c, event.QuotaExceeded)
	}
	return l.warnIfCrossed(ctx, tx, c, before, after)
}

// Unlinking is called by the indexer inside its transaction, before it deletes artifactID: the
// blobs no other artifact of the project links to stop counting.
func (l *Ledger) Unlinking(ctx context.Context, tx *ent.Tx, projectID, artifactID int) error {
	if _, err := lockProject(ctx, tx, "id = $1", projectID); err != nil {
		return fmt.Errorf("quota of project %d: %w", projectID, err)
	}
	_, err := tx.ExecContext(ctx, `
UPDATE projects SET quota_used = GREATEST(quota_used - (
	SELECT COALESCE(SUM(b.size), 0) FROM blobs b
	JOIN artifact_blobs mine ON mine.blob_id = b.id AND mine.artifact_id = $2
	WHERE NOT EXISTS (
		SELECT 1 FROM artifact_blobs ab JOIN artifacts a ON a.id = ab.artifact_id JOIN repositories r ON r.id = a.repository_id
		WHERE ab.blob_id = b.id AND r.project_id = $1 AND a.id <> $2)), 0)
WHERE id = $1`, projectID, artifactID)
	if err != nil {
		return fmt.Errorf("quota of project %d: forget artifact %d: %w", projectID, artifactID, err)
	}
	return nil
}

// Sweep releases the reservations that expired (their push was abandoned, or the process that
// took them died) and reports how many bytes went back.
func (l *Ledger) Sweep(ctx context.Context) (int64, error) {
	var freed int64
	err := l.inTx(ctx, func(tx *ent.Tx) error {
		ids, err := ints(ctx, tx, `SELECT DISTINCT project_id FROM quota_reservations WHERE expires_at < now() ORDER BY project_id`)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := lockProject(ctx, tx, "id = $1", id); err != nil {
				return err
			}
			var n int64
			if err := queryRow(ctx, tx, `SELECT COALESCE(SUM(size), 0)::bigint FROM quota_reservations WHERE project_id = $1 AND expires_at < now()`, []any{id}, &n); err != nil {
				return err
			}
			if err := release(ctx, tx, id, `expires_at < $2`, time.Now()); err != nil {
				return err
			}
			freed += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("quota: sweep expired reservations: %w", err)
	}
	return freed, nil
}

// Usage is a project's counters as the exact recompute finds them.
type Usage struct {
	ProjectID int
	Used      int64
	Reserved  int64
	// LiveUsed is what the live counter said before the recompute corrected it.
	LiveUsed int64
}

// Recompute counts project id's usage exactly (each linked blob once) and its reservations
// (expired ones released first), and writes both over the live counters.
func (l *Ledger) Recompute(ctx context.Context, id int) (Usage, error) {
	u := Usage{ProjectID: id}
	err := l.inTx(ctx, func(tx *ent.Tx) error {
		c, err := lockProject(ctx, tx, "id = $1", id)
		if err != nil {
			return err
		}
		u.LiveUsed = c.used
		if err := release(ctx, tx, id, `expires_at < $2`, time.Now()); err != nil {
			return err
		}
		if err := queryRow(ctx, tx, `
SELECT COALESCE(SUM(b.size), 0)::bigint FROM blobs b WHERE b.id IN (
	SELECT ab.blob_id FROM artifact_blobs ab JOIN artifacts a ON a.id = ab.artifact_id JOIN repositories r ON r.id = a.repository_id
	WHERE r.project_id = $1)`, []any{id}, &u.Used); err != nil {
			return err
		}
		if err := queryRow(ctx, tx, `SELECT COALESCE(SUM(size), 0)::bigint FROM quota_reservations WHERE project_id = $1`, []any{id}, &u.Reserved); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE projects SET quota_used = $2, quota_reserved = $3 WHERE id = $1`, id, u.Used, u.Reserved)
		return err
	})
	if err != nil {
		return Usage{}, fmt.Errorf("quota of project %d: recompute: %w", id, err)
	}
	if u.LiveUsed != u.Used {
		l.log.Warn("quota: live usage disagreed with the recompute; corrected", "project_id", id, "live", u.LiveUsed, "exact", u.Used)
	}
	return u, nil
}

// warnIfCrossed records QUOTA_WARNING when a change takes the project's usage (with
// reservations) from below the warning threshold to at or above it.
func (l *Ledger) warnIfCrossed(ctx context.Context, tx *ent.Tx, c counters, before, after int64) error {
	if c.limit <= 0 || l.settings == nil {
		return nil
	}
	pct := int64(l.settings.Current().WarningPercent)
	if pct <= 0 {
		return nil
	}
	threshold := c.limit * pct / 100
	if before < threshold && after >= threshold {
		return l.record(ctx, tx, c, event.QuotaWarning)
	}
	return nil
}

func (l *Ledger) record(ctx context.Context, tx *ent.Tx, c counters, t event.Type) error {
	return event.Record(ctx, tx, event.Event{Type: t, ProjectID: c.id, ProjectName: c.name, Operator: operator(ctx)})
}

func (l *Ledger) inTx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	tx, err := l.db.Tx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

func queryRow(ctx context.Context, q querier, query string, args []any, dest ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}

func strings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func ints(ctx context.Context, q querier, query string, args ...any) ([]int, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
