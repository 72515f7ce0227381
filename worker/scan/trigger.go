package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/worker/run"
)

// PushConsumer starts scans of pushed artifacts in projects with auto_scan. It runs inside the
// event dispatcher's transaction, so each push is scanned once, whichever replica dispatches it.
type PushConsumer struct {
	svc    *Service
	client *river.Client[pgx.Tx]
	log    *slog.Logger
}

// NewPushConsumer returns the scan-on-push consumer.
func NewPushConsumer(svc *Service, client *river.Client[pgx.Tx], log *slog.Logger) *PushConsumer {
	return &PushConsumer{svc: svc, client: client, log: log}
}

// Consume queues a scan for each ARTIFACT_PUSHED event of an auto_scan project.
func (c *PushConsumer) Consume(ctx context.Context, tx pgx.Tx, events []event.Event) error {
	for _, e := range events {
		if e.Type != event.ArtifactPushed || e.Digest == "" {
			continue
		}
		var artifactID int
		err := tx.QueryRow(ctx, `
SELECT a.id FROM artifacts a JOIN repositories r ON r.id = a.repository_id JOIN projects p ON p.id = r.project_id
WHERE r.name = $1 AND a.digest = $2 AND p.auto_scan`, e.Repository, e.Digest).Scan(&artifactID)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("scan on push of %s@%s: %w", e.Repository, e.Digest, err)
		}
		if _, err := c.svc.ScanTx(ctx, tx, c.client, artifactID, "system"); err != nil {
			if errors.Is(err, ErrNoScanner) || errors.Is(err, ErrNotScannable) {
				c.log.Warn("scan on push skipped", "repository", e.Repository, "digest", e.Digest, "err", err)
				continue
			}
			return fmt.Errorf("scan on push of %s@%s: %w", e.Repository, e.Digest, err)
		}
	}
	return nil
}

// AllArgs is the scheduled job that rescans every artifact.
type AllArgs struct{}

// Kind names the job in River's table.
func (AllArgs) Kind() string { return "scan_all" }

// InsertOpts: one scan-all queued or running at a time; a schedule that comes due while one runs
// is skipped.
func (AllArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: run.Unique(false)}
}

// AllTimeout bounds a scan-all: it only queues scans, 500 to a transaction, so an hour is millions
// of artifacts. (River's default, one minute, cut large ones short.)
const AllTimeout = time.Hour

// AllWorker queues a scan of every image (index children are images too) in batches.
type AllWorker struct {
	river.WorkerDefaults[AllArgs]
	svc *Service
}

// NewAllWorker returns the scan-all worker.
func NewAllWorker(svc *Service) *AllWorker { return &AllWorker{svc: svc} }

// Timeout bounds a scan-all (see AllTimeout).
func (w *AllWorker) Timeout(*river.Job[AllArgs]) time.Duration { return AllTimeout }

// Work walks artifacts in id order, queueing scans 500 at a time, one transaction each.
func (w *AllWorker) Work(ctx context.Context, job *river.Job[AllArgs]) error {
	client := river.ClientFromContext[pgx.Tx](ctx)
	last := 0
	for {
		rows, err := w.svc.pool.Query(ctx, `SELECT id FROM artifacts WHERE id > $1
AND media_type NOT LIKE '%image.index%' AND media_type NOT LIKE '%manifest.list%' ORDER BY id LIMIT 500`, last)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		tx, err := w.svc.pool.Begin(ctx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := w.svc.ScanTx(ctx, tx, client, id, "system"); err != nil && !errors.Is(err, ErrNotScannable) {
				_ = tx.Rollback(ctx)
				return fmt.Errorf("scan all: artifact %d: %w", id, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		last = ids[len(ids)-1]
	}
}
