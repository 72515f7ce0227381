// Package export runs CVE exports (Harbor 2.6's "export CVEs"): it turns an export's filters into
// one SQL query, streams the rows as CSV into the registry's storage from a River job, records
// each execution's progress and result, and serves the file once to its owner. It reads scan
// results; it never writes them.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/cveexport"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/worker/run"
)

const (
	// Queue is the River queue exports run on, apart from other jobs: a few exports at once, each
	// holding one database connection, so that pulls and pushes always find connections.
	Queue = "exports"
	// QueueWorkers is how many exports run at once on each worker process.
	QueueWorkers = 3
	// DefaultTTL is how long an undownloaded file is kept.
	DefaultTTL = 24 * time.Hour
	// keptPerOwner is how many executions each user keeps; older finished ones are deleted.
	keptPerOwner = 50
	// maxAttempts: a crash or a failed write is retried from the start, twice.
	maxAttempts = 3
	// NothingMatched is the status text of an export that found no rows (Harbor's words).
	NothingMatched = "No vulnerabilities found or matched"
	// storageRoot holds the files, one folder per execution, beside Distribution's /docker tree.
	storageRoot = "/berth/cve-exports"
)

// FileName is the name a download is offered under (Harbor's).
func FileName(id int) string { return fmt.Sprintf("scandata_export_%d.csv", id) }

func folder(id int) string { return fmt.Sprintf("%s/%d", storageRoot, id) }

// Owner is who starts an export: only they may read, stop or download it.
type Owner struct {
	Name   string // username or robot name
	UserID *int   // nil for a robot
}

// Args is the job that writes one execution's file.
type Args struct {
	ExportID int `json:"export_id" river:"unique"`
}

// Kind names the job in River's table.
func (Args) Kind() string { return "cve_export" }

// InsertOpts puts exports on their own queue; a failed attempt starts over; an execution has one
// job queued or running.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: maxAttempts, UniqueOpts: run.Unique(true)}
}

// Table is where executions are recorded, for the shared run lifecycle.
var Table = run.Table{Name: "cve_exports", What: "CVE export",
	End: `status = d.status, finished_at = now(), status_text = CASE d.status WHEN 'STOPPED' THEN 'Stopped' ELSE 'Export failed' END,
	error = d.why`,
	StoppedBeforeStart: `status = 'STOPPED', status_text = 'Stopped before it started', finished_at = now()`,
	Keep:               keptPerOwner, Scope: "owner"}

// Timeout bounds one attempt: 1,000,000 rows take about 5 s, so this is billions of rows. A
// worker that dies is noticed by its lease, not by this.
const Timeout = 6 * time.Hour

// Service starts, stops, serves and expires executions. API handlers on any replica use it.
type Service struct {
	pool    *pgxpool.Pool
	db      *ent.Client
	storage storagedriver.StorageDriver
	log     *slog.Logger
	access  *access // nil on workers: only Serving's copy answers callers
}

// NewService returns the export service over the registry's storage.
func NewService(pool *pgxpool.Pool, db *ent.Client, storage storagedriver.StorageDriver, log *slog.Logger) *Service {
	return &Service{pool: pool, db: db, storage: storage, log: log}
}

// Start validates p, then records an execution and queues its job in one transaction: an
// execution exists only with its job. The owner's oldest finished executions beyond the newest
// 50 are deleted with their files.
func (s *Service) Start(ctx context.Context, client *river.Client[pgx.Tx], owner Owner, jobName string, p Params) (*ent.CVEExport, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	id, trimmed, err := run.Start(ctx, s.pool, client, Table, run.New{
		Record: func(ctx context.Context, tx pgx.Tx) (int, error) {
			var id int
			return id, tx.QueryRow(ctx, `
INSERT INTO cve_exports (owner, owner_user_id, job_name, params, status, status_text, rows, estimated_rows, size, digest, file_path, error, created_at)
VALUES ($1, $2, $3, $4, 'PENDING', 'Pending', 0, 0, 0, '', '', '', now()) RETURNING id`,
				owner.Name, owner.UserID, jobName, raw).Scan(&id)
		},
		Job:   func(id int) river.JobArgs { return Args{ExportID: id} },
		Scope: owner.Name,
	})
	if err != nil {
		return nil, err
	}
	for _, old := range trimmed {
		s.removeFiles(ctx, old)
	}
	return s.db.CVEExport.Get(ctx, id)
}

// removeFiles deletes an execution's folder; a missing folder is fine.
func (s *Service) removeFiles(ctx context.Context, id int) {
	err := s.storage.Delete(context.WithoutCancel(ctx), folder(id))
	var missing storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &missing) {
		s.log.Warn("delete export file", "export", id, "err", err)
	}
}

// Stop cancels a pending or running execution; a running one stops at its next row.
func (s *Service) Stop(ctx context.Context, client *river.Client[pgx.Tx], id int) (*ent.CVEExport, error) {
	if err := Table.Stop(ctx, s.pool, client, id); errors.Is(err, run.ErrNoRun) {
		return nil, fault.NotFound(fmt.Sprintf("CVE export %d", id))
	} else if err != nil {
		return nil, err
	}
	return s.db.CVEExport.Get(ctx, id)
}

// ErrNoFile is returned for a download of an execution that has no file (any more).
var ErrNoFile = errors.New("export file not found")

// Open claims e's file for its one download: the execution is deleted at once (a second
// download finds nothing) and the file when the returned reader is closed.
func (s *Service) Open(ctx context.Context, e *ent.CVEExport) (io.ReadCloser, error) {
	if e.Status != cveexport.StatusSuccess || e.FilePath == "" {
		return nil, ErrNoFile
	}
	r, err := s.storage.Reader(ctx, e.FilePath, 0)
	var missing storagedriver.PathNotFoundError
	if errors.As(err, &missing) {
		return nil, ErrNoFile
	}
	if err != nil {
		return nil, fmt.Errorf("open export %d: %w", e.ID, err)
	}
	n, err := s.db.CVEExport.Delete().Where(cveexport.ID(e.ID), cveexport.StatusEQ(cveexport.StatusSuccess)).Exec(ctx)
	if err != nil || n == 0 {
		_ = r.Close()
		if err == nil {
			err = ErrNoFile // another download took it first
		}
		return nil, err
	}
	return &claimedFile{ReadCloser: r, done: func() { s.removeFiles(ctx, e.ID) }}, nil
}

type claimedFile struct {
	io.ReadCloser
	done func()
}

func (f *claimedFile) Close() error {
	err := f.ReadCloser.Close()
	f.done()
	return err
}

// Expire deletes executions whose file was not downloaded in time, and their files.
func (s *Service) Expire(ctx context.Context) (int, error) {
	rows, err := s.pool.Query(ctx, `DELETE FROM cve_exports WHERE expires_at < now() RETURNING id`)
	if err != nil {
		return 0, fmt.Errorf("expire exports: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return 0, fmt.Errorf("expire exports: %w", err)
	}
	for _, id := range ids {
		s.removeFiles(ctx, id)
	}
	return len(ids), nil
}

// Worker writes executions' files.
type Worker struct {
	river.WorkerDefaults[Args]
	svc    *Service
	ttl    time.Duration
	events *run.Announcer
}

// NewWorker returns the export worker; finished files are kept ttl (0: DefaultTTL) unless
// downloaded; kick, if not nil, has progress events dispatched at once.
func NewWorker(svc *Service, ttl time.Duration, kick func()) *Worker {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Worker{svc: svc, ttl: ttl, events: run.NewAnnouncer(svc.db, kick, svc.log)}
}

// Timeout bounds an attempt (see the constant).
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return Timeout }

// publish records a job event for e's owner (and admins) and has it dispatched.
func (w *Worker) publish(ctx context.Context, e *ent.CVEExport, typ event.Type, rows int64) {
	w.events.Announce(ctx, typ, e.Owner, e.ID, rows)
}

// Work writes the file: rows stream from PostgreSQL into the storage under a temporary name,
// which becomes the file's name only once every row is written and committed. A crash leaves at
// most a temporary file, which the retry deletes before it starts over.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	db := w.svc.db
	e, ok, err := run.Claim(ctx, db.CVEExport.Get, job.Args.ExportID, func(e *ent.CVEExport) bool { return !run.Finished(e.Status) })
	if !ok {
		return err // finished or stopped already
	}
	var p Params
	raw, _ := json.Marshal(e.Params)
	if err := json.Unmarshal(raw, &p); err != nil {
		return river.JobCancel(fmt.Errorf("export %d: read params: %w", e.ID, err))
	}
	query, args := p.Query()
	estimate := w.estimate(ctx, query, args)
	e, err = e.Update().SetStatus(cveexport.StatusRunning).SetStatusText("Running").SetStartedAt(time.Now()).
		SetRows(0).SetEstimatedRows(estimate).SetError("").Save(ctx)
	if err != nil {
		return err
	}
	w.publish(ctx, e, event.ExportStarted, 0)

	finish := func(u *ent.CVEExportUpdateOne, typ event.Type, rows int64) error {
		// Only an execution still under way: the reconciler may have ended it (this worker presumed dead).
		err := u.Where(cveexport.StatusIn(cveexport.StatusPending, cveexport.StatusRunning)).
			SetFinishedAt(time.Now()).Exec(context.WithoutCancel(ctx))
		w.publish(ctx, e, typ, rows)
		if ent.IsNotFound(err) {
			return nil
		}
		return err
	}
	fail := func(rows int64, cause error) error {
		stopped, why, ended := run.Outcome(ctx, Timeout)
		switch {
		case ended && stopped && errors.Is(context.Cause(ctx), river.ErrJobCancelledRemotely):
			_ = finish(db.CVEExport.UpdateOne(e).SetStatus(cveexport.StatusStopped).SetStatusText("Stopped").SetRows(rows),
				event.ExportFailed, rows)
			return river.JobCancel(cause)
		case ended && !stopped:
			// Out of time, or presumed dead: trying again would end the same way.
			_ = finish(db.CVEExport.UpdateOne(e).SetStatus(cveexport.StatusError).SetStatusText("Export failed").
				SetError(why).SetRows(rows), event.ExportFailed, rows)
			return river.JobCancel(cause)
		case job.Attempt < job.MaxAttempts:
			// Left Running: the retry starts over (River waits a few seconds first).
			_ = db.CVEExport.UpdateOne(e).SetStatusText(fmt.Sprintf("Attempt %d failed, retrying", job.Attempt)).
				SetError(cause.Error()).Exec(context.WithoutCancel(ctx))
			return cause
		default:
			_ = finish(db.CVEExport.UpdateOne(e).SetStatus(cveexport.StatusError).SetStatusText("Export failed").
				SetError(cause.Error()).SetRows(rows), event.ExportFailed, rows)
			return cause
		}
	}

	// Whatever an earlier attempt left (a crash mid-file) goes first.
	w.svc.removeFiles(ctx, e.ID)
	tmp := fmt.Sprintf("%s/attempt-%d.partial", folder(e.ID), job.Attempt)
	fw, err := w.svc.storage.Writer(ctx, tmp, false)
	if err != nil {
		return fail(0, fmt.Errorf("export %d: create file: %w", e.ID, err))
	}
	lastReport := time.Now()
	rows, size, digest, err := WriteCSV(ctx, w.svc.pool, p, fw, func(rows int64) error {
		if time.Since(lastReport) < time.Second {
			return nil
		}
		lastReport = time.Now()
		if err := db.CVEExport.UpdateOne(e).SetRows(rows).Exec(ctx); err != nil {
			return err
		}
		w.publish(ctx, e, event.ExportProgress, rows)
		return nil
	})
	if err == nil {
		err = fw.Commit(ctx)
	}
	if err != nil {
		_ = fw.Cancel(context.WithoutCancel(ctx))
		_ = fw.Close()
		return fail(rows, fmt.Errorf("export %d: %w", e.ID, err))
	}
	if err := fw.Close(); err != nil {
		return fail(rows, fmt.Errorf("export %d: close file: %w", e.ID, err))
	}
	if rows == 0 {
		w.svc.removeFiles(ctx, e.ID)
		return finish(db.CVEExport.UpdateOne(e).SetStatus(cveexport.StatusSuccess).SetStatusText(NothingMatched),
			event.ExportCompleted, 0)
	}
	final := folder(e.ID) + "/" + FileName(e.ID)
	if err := w.svc.storage.Move(ctx, tmp, final); err != nil {
		return fail(rows, fmt.Errorf("export %d: move file into place: %w", e.ID, err))
	}
	return finish(db.CVEExport.UpdateOne(e).SetStatus(cveexport.StatusSuccess).SetStatusText("Success").
		SetRows(rows).SetSize(size).SetDigest(digest).SetFilePath(final).SetExpiresAt(time.Now().Add(w.ttl)),
		event.ExportCompleted, rows)
}

// estimate is PostgreSQL's guess of the rows query returns (0 if it cannot say): cheap, and
// good enough for a progress bar.
func (w *Worker) estimate(ctx context.Context, query string, args []any) int64 {
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	var raw []byte
	if err := w.svc.pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+query, args...).Scan(&raw); err != nil {
		return 0
	}
	if json.Unmarshal(raw, &plan) != nil || len(plan) == 0 {
		return 0
	}
	return int64(plan[0].Plan.Rows)
}

// ExpireArgs is the periodic job that deletes undownloaded files past their time.
type ExpireArgs struct{}

// Kind names the job in River's table.
func (ExpireArgs) Kind() string { return "cve_export_expire" }

// InsertOpts makes it unique per 10 minutes, so replicas never queue it twice.
func (ExpireArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: 10 * time.Minute}}
}

// Expirer deletes expired executions.
type Expirer struct {
	river.WorkerDefaults[ExpireArgs]
	svc *Service
}

// NewExpirer returns the expiry worker.
func NewExpirer(svc *Service) *Expirer { return &Expirer{svc: svc} }

// Work deletes what has expired.
func (w *Expirer) Work(ctx context.Context, _ *river.Job[ExpireArgs]) error {
	_, err := w.svc.Expire(ctx)
	return err
}
