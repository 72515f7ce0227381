// Package scan runs vulnerability scans as River jobs: the built-in offline scanner (OS packages
// from an image's layers matched against the local OSV database in package advisory) or an
// adapter speaking the pluggable scanner protocol v1.1. It owns the scan_reports rows, their
// deduplicated vulnerabilities and the report↔vulnerability links; it only reads artifacts,
// scanners and advisories.
package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/advisory"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/scanner"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/worker/run"
)

// BuiltinName is the name of the built-in scanner, registered at first start.
const BuiltinName = "Berth"

// ReportMimeType is the report type the scanner writes and the adapter client asks for.
const ReportMimeType = "application/vnd.security.vulnerability.report; version=1.1"

// Args is the job that scans one artifact with one scanner: it fills one scan report.
type Args struct {
	ReportID int `json:"report_id" river:"unique"`
}

// Kind names the job in River's table.
func (Args) Kind() string { return "scan" }

// InsertOpts: a scan is tried once; its report says how it ended, and a rescan is a new job (one
// per report queued or running).
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: run.Unique(true)}
}

// Table is where scans are recorded, for the shared run lifecycle.
var Table = run.Table{Name: "scan_reports", What: "scan", End: `status = d.status, finished_at = now(), log = d.why`}

// ErrNoScanner is returned when no enabled scanner can take a scan.
var ErrNoScanner = errors.New("no enabled scanner: add one, or enable the built-in scanner")

// ErrNotScannable is returned for an artifact that has nothing the scanners read.
var ErrNotScannable = errors.New("the artifact is not an image or an index of images")

// Service starts and stops scans; resolvers and the push trigger call it.
type Service struct {
	pool   *pgxpool.Pool
	db     *ent.Client
	access *Callers // nil on workers and in the registry: only Serving's copy answers callers
}

// NewService returns the scan service.
func NewService(pool *pgxpool.Pool, db *ent.Client) *Service { return &Service{pool: pool, db: db} }

// ScannerFor returns the scanner a project uses: its own if set and enabled, else the default.
func (s *Service) ScannerFor(ctx context.Context, projectScannerID *int) (*ent.Scanner, error) {
	if projectScannerID != nil {
		sc, err := s.db.Scanner.Query().Where(scanner.ID(*projectScannerID), scanner.Enabled(true)).Only(ctx)
		if err == nil {
			return sc, nil
		}
		if !ent.IsNotFound(err) {
			return nil, err
		}
	}
	sc, err := s.db.Scanner.Query().Where(scanner.IsDefault(true), scanner.Enabled(true)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrNoScanner
	}
	return sc, err
}

// isIndex reports whether a media type is an image index (or Docker manifest list).
func isIndex(mediaType string) bool {
	return strings.Contains(mediaType, "image.index") || strings.Contains(mediaType, "manifest.list")
}

// Targets are the artifacts a scan of a covers: the artifact itself, or an index's children.
func (s *Service) Targets(ctx context.Context, a *ent.Artifact) ([]*ent.Artifact, error) {
	if !isIndex(a.MediaType) {
		return []*ent.Artifact{a}, nil
	}
	children, err := a.QueryChildren().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("children of %s: %w", a.Digest, err)
	}
	var out []*ent.Artifact
	for _, c := range children {
		if !isIndex(c.MediaType) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, ErrNotScannable
	}
	return out, nil
}

// Scan queues a scan of the artifact (of each child, for an index) by the project's scanner and
// returns the report ids. The reports and their jobs are written in one transaction; an artifact
// whose scan is already pending or running keeps that scan.
func (s *Service) Scan(ctx context.Context, client *river.Client[pgx.Tx], artifactID int, operator string) ([]int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	ids, err := s.ScanTx(ctx, tx, client, artifactID, operator)
	if err != nil {
		return nil, err
	}
	return ids, tx.Commit(ctx)
}

// ScanTx is Scan inside the caller's transaction (the event dispatcher's, for scan on push).
func (s *Service) ScanTx(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], artifactID int, operator string) ([]int, error) {
	a, err := s.db.Artifact.Query().Where(artifact.ID(artifactID)).WithRepository(func(q *ent.RepositoryQuery) { q.WithProject() }).Only(ctx)
	if err != nil {
		return nil, err
	}
	sc, err := s.ScannerFor(ctx, a.Edges.Repository.Edges.Project.ScannerID)
	if err != nil {
		return nil, err
	}
	targets, err := s.Targets(ctx, a)
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, t := range targets {
		id, err := queue(ctx, tx, client, t.ID, t.Digest, sc.ID, operator)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// queue upserts the report of (artifact, scanner) as PENDING and inserts its job, in tx. A
// report whose scan is pending or running is left alone.
func queue(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], artifactID int, dgst string, scannerID int, operator string) (int, error) {
	var id int
	var status string
	var jobAlive bool
	// A report is under way only while its job can still run: a job lost with a crashed process
	// (River discards it, a scan is tried once) must not hold the report forever.
	err := tx.QueryRow(ctx, `
SELECT r.id, r.status, coalesce(j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled'), false)
FROM scan_reports r LEFT JOIN river_job j ON j.id = r.job_id
WHERE r.artifact_id = $1 AND r.scanner_id = $2 FOR UPDATE OF r`, artifactID, scannerID).Scan(&id, &status, &jobAlive)
	switch {
	case err == nil && (status == "PENDING" || status == "RUNNING") && jobAlive:
		return id, nil
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return 0, fmt.Errorf("scan artifact %d: %w", artifactID, err)
	}
	err = tx.QueryRow(ctx, `
INSERT INTO scan_reports (artifact_id, scanner_id, status, progress, log, started_at, operator, digest)
VALUES ($1, $2, 'PENDING', 0, '', now(), $3, $4)
ON CONFLICT (artifact_id, scanner_id) DO UPDATE SET status = 'PENDING', progress = 0, log = '',
  started_at = now(), finished_at = NULL, operator = EXCLUDED.operator, digest = EXCLUDED.digest
RETURNING id`, artifactID, scannerID, operator, dgst).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record scan of artifact %d: %w", artifactID, err)
	}
	res, err := client.InsertTx(ctx, tx, Args{ReportID: id}, nil)
	if err != nil {
		return 0, fmt.Errorf("queue scan of artifact %d: %w", artifactID, err)
	}
	if _, err := tx.Exec(ctx, "UPDATE scan_reports SET job_id = $1 WHERE id = $2", res.Job.ID, id); err != nil {
		return 0, err
	}
	return id, nil
}

// Stop cancels the pending or running scans of an artifact (and of an index's children). A
// pending scan is stopped at once; a running one stops at its next layer.
func (s *Service) Stop(ctx context.Context, client *river.Client[pgx.Tx], artifactID int, kick func()) (int, error) {
	a, err := s.db.Artifact.Get(ctx, artifactID)
	if err != nil {
		return 0, err
	}
	targets, err := s.Targets(ctx, a)
	if err != nil {
		return 0, err
	}
	ids := make([]int, len(targets))
	for i, t := range targets {
		ids[i] = t.ID
	}
	reports, err := s.db.ScanReport.Query().Where(scanreport.ArtifactIDIn(ids...),
		scanreport.StatusIn(scanreport.StatusPending, scanreport.StatusRunning)).
		WithArtifact(func(q *ent.ArtifactQuery) { q.WithRepository() }).All(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range reports {
		if r.JobID != nil {
			if _, err := client.JobCancel(ctx, *r.JobID); err != nil && !errors.Is(err, river.ErrNotFound) {
				return 0, fmt.Errorf("stop scan %d: %w", r.ID, err)
			}
		}
		tx, err := s.db.Tx(ctx)
		if err != nil {
			return 0, err
		}
		n, err := tx.ScanReport.Update().Where(scanreport.ID(r.ID), scanreport.StatusEQ(scanreport.StatusPending)).
			SetStatus(scanreport.StatusStopped).SetFinishedAt(time.Now()).SetLog("stopped before it started").ClearJobID().Save(ctx)
		if err == nil && n > 0 {
			err = event.Record(ctx, tx, scanEvent(event.ScanStopped, r, r.Edges.Artifact.Edges.Repository.Name))
		}
		if err != nil {
			_ = tx.Rollback()
			return 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	if kick != nil {
		kick()
	}
	return len(reports), nil
}

// scanEvent is the event for report r of an artifact in repo.
func scanEvent(t event.Type, r *ent.ScanReport, repo string) event.Event {
	project, _, _ := strings.Cut(repo, "/")
	return event.Event{Type: t, Operator: r.Operator, ProjectName: project, Repository: repo, Digest: r.Digest, JobID: int64(r.ID)}
}

// Finding is one vulnerability as a scanner reported it, with the vendor attributes (JSON text)
// that CVE export copies verbatim.
type Finding struct {
	advisory.Finding
	CVSSScoreV2      *float64
	CVSSVectorV2     string
	VendorAttributes string
}

// key is the deduplication key of f as scanner scannerID reported it.
func (f *Finding) key(scannerID int) string {
	b, _ := json.Marshal([]any{scannerID, f.CVEID, f.Package, f.Version, f.FixedVersion, f.Severity, f.CVSSScoreV3,
		f.CVSSVectorV3, f.CVSSScoreV2, f.CVSSVectorV2, f.CWEIDs, f.Description, f.Links, f.VendorAttributes})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Worker performs scans.
type Worker struct {
	river.WorkerDefaults[Args]
	db         *ent.Client
	content    Content
	advisories *advisory.Store
	adapter    *AdapterClient
	kick       func()
	log        *slog.Logger
	unpack     Unpack
}

// NewWorker returns the scan worker. content reads images from storage; adapter, if not nil,
// scans with pluggable scanners; kick, if not nil, has events dispatched at once; unpack is the
// built-in scanner's folder and limits. Scan folders that killed scans left behind are removed.
func NewWorker(db *ent.Client, content Content, advisories *advisory.Store, adapter *AdapterClient, kick func(), log *slog.Logger, unpack Unpack) *Worker {
	if unpack.Dir != "" {
		if err := CleanScratch(unpack.Dir, scratchAge); err != nil {
			log.Warn("scanner folder: remove what killed scans left", "dir", unpack.Dir, "err", err)
		}
	}
	return &Worker{db: db, content: content, advisories: advisories, adapter: adapter, kick: kick, log: log, unpack: unpack}
}

// timeout: a scan of a large image against a large database takes minutes at most.
const timeout = 30 * time.Minute

// scratchAge is the age past which a scan folder belongs to no live scan.
const scratchAge = timeout + 5*time.Minute

// Timeout is how long one scan may run.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return timeout }

// Work runs one scan and records how it ended.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	r, err := w.db.ScanReport.Query().Where(scanreport.ID(job.Args.ReportID)).
		WithArtifact(func(q *ent.ArtifactQuery) { q.WithRepository() }).WithScanner().Only(ctx)
	if ent.IsNotFound(err) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if r.Status != scanreport.StatusPending || r.JobID == nil || *r.JobID != job.ID {
		return nil
	}
	repo := r.Edges.Artifact.Edges.Repository.Name
	sc := r.Edges.Scanner
	if err := w.finish(ctx, r, scanreport.StatusRunning, event.ScanStarted, repo, ""); err != nil {
		return err
	}
	var findings []Finding
	var scannerName string
	if sc.Builtin {
		scannerName = sc.Name
		findings, err = w.builtin(ctx, r, repo)
	} else {
		if w.adapter == nil {
			err = errors.New("this process cannot reach scanner adapters")
		} else {
			findings, scannerName, err = w.adapter.Scan(ctx, sc, repo, r.Edges.Artifact)
		}
	}
	bg := context.WithoutCancel(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		return w.finish(bg, r, scanreport.StatusStopped, event.ScanStopped, repo, "stopped: "+err.Error())
	case err != nil:
		w.log.Warn("scan failed", "report", r.ID, "repository", repo, "digest", r.Digest, "err", err)
		return w.finish(bg, r, scanreport.StatusError, event.ScanFailed, repo, err.Error())
	}
	if err := w.write(bg, r, sc.ID, scannerName, repo, findings); err != nil {
		_ = w.finish(bg, r, scanreport.StatusError, event.ScanFailed, repo, "write the report: "+err.Error())
		return err
	}
	return nil
}

// builtin scans an image with the built-in scanner.
func (w *Worker) builtin(ctx context.Context, r *ent.ScanReport, repo string) ([]Finding, error) {
	if w.unpack.Dir != "" {
		// Also here, so that a long-running process clears what a killed sibling left.
		_ = CleanScratch(w.unpack.Dir, scratchAge)
	}
	pkgs, _, err := packages(ctx, w.content, repo, digest.Digest(r.Digest), w.unpack, func(done, total int) {
		_ = w.db.ScanReport.UpdateOneID(r.ID).SetProgress(done * 90 / total).Exec(ctx)
	})
	if err != nil {
		return nil, err
	}
	if len(pkgs) == 0 {
		return nil, nil
	}
	found, err := w.advisories.Match(ctx, pkgs)
	if err != nil {
		return nil, err
	}
	out := make([]Finding, len(found))
	for i, f := range found {
		attrs := map[string]any{"advisory": f.AdvisoryID}
		if f.CVSSVectorV3 != "" {
			attrs["CVSS"] = map[string]any{"nvd": map[string]any{"V3Score": f.CVSSScoreV3, "V3Vector": f.CVSSVectorV3}}
		}
		if f.SourcePackage != "" && f.SourcePackage != f.Package {
			attrs["source_package"] = f.SourcePackage
		}
		b, _ := json.Marshal(attrs)
		out[i] = Finding{Finding: f, VendorAttributes: string(b)}
	}
	return out, nil
}

// finish moves report r to status and records the event t in the same transaction.
func (w *Worker) finish(ctx context.Context, r *ent.ScanReport, status scanreport.Status, t event.Type, repo, log string) error {
	tx, err := w.db.Tx(ctx)
	if err != nil {
		return err
	}
	u := tx.ScanReport.UpdateOneID(r.ID).SetStatus(status).SetLog(log)
	if status == scanreport.StatusRunning {
		u.SetStartedAt(time.Now()).SetProgress(0)
	} else {
		u.SetFinishedAt(time.Now())
	}
	if err := u.Exec(ctx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("scan %d: record %s: %w", r.ID, status, err)
	}
	if err := event.Record(ctx, tx, scanEvent(t, r, repo)); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if w.kick != nil {
		w.kick()
	}
	return nil
}

// write stores the findings as report r's vulnerabilities (records shared by key with other
// reports), its summary, and the SCAN_COMPLETED event, in one transaction.
func (w *Worker) write(ctx context.Context, r *ent.ScanReport, scannerID int, scannerName, repo string, findings []Finding) error {
	tx, err := w.db.Tx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	summary := map[string]int{}
	top, fixable := "NONE", 0
	keys := make([]string, 0, len(findings))
	seen := map[string]bool{}
	var unique []*Finding
	for i := range findings {
		f := &findings[i]
		f.Severity = strings.ToUpper(f.Severity)
		if advisory.SeverityRank(f.Severity) == 0 {
			f.Severity = "UNKNOWN"
		}
		k := f.key(scannerID)
		if seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
		unique = append(unique, f)
		summary[f.Severity]++
		if f.FixedVersion != "" {
			fixable++
		}
		if advisory.SeverityRank(f.Severity) > advisory.SeverityRank(top) || top == "NONE" && f.Severity == "UNKNOWN" {
			top = f.Severity
		}
	}
	// Records go in batches of 1,000 rows, one statement each; a record another report already
	// has is left as it is (the key covers every field).
	for lo := 0; lo < len(unique); lo += 1000 {
		batch := unique[lo:min(lo+1000, len(unique))]
		cols := struct {
			key, cve, pkg, ver, fixed, sev, vec3, vec2, cwes, desc, links, vendor []string
			rank                                                                  []int
			score3, score2                                                        []*float64
		}{}
		for i, f := range batch {
			cols.key = append(cols.key, keys[lo+i])
			cols.cve = append(cols.cve, f.CVEID)
			cols.pkg = append(cols.pkg, f.Package)
			cols.ver = append(cols.ver, f.Version)
			cols.fixed = append(cols.fixed, f.FixedVersion)
			cols.sev = append(cols.sev, f.Severity)
			cols.rank = append(cols.rank, advisory.SeverityRank(f.Severity))
			cols.score3 = append(cols.score3, f.CVSSScoreV3)
			cols.vec3 = append(cols.vec3, f.CVSSVectorV3)
			cols.score2 = append(cols.score2, f.CVSSScoreV2)
			cols.vec2 = append(cols.vec2, f.CVSSVectorV2)
			cols.cwes = append(cols.cwes, jsonList(f.CWEIDs))
			cols.desc = append(cols.desc, f.Description)
			cols.links = append(cols.links, jsonList(f.Links))
			cols.vendor = append(cols.vendor, f.VendorAttributes)
		}
		_, err := tx.ExecContext(ctx, `
INSERT INTO vulnerabilities (key, scanner_id, cve_id, package, package_version, fixed_version, severity, severity_rank,
  cvss_score_v3, cvss_vector_v3, cvss_score_v2, cvss_vector_v2, cwe_ids, description, links, vendor_attributes)
SELECT k, $1, c, p, v, f, s, r, s3, v3, s2, v2, cw::jsonb, d, l::jsonb, va
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::float8[], $10::text[],
  $11::float8[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[]) AS t(k, c, p, v, f, s, r, s3, v3, s2, v2, cw, d, l, va)
ON CONFLICT (key) DO NOTHING`,
			scannerID, cols.key, cols.cve, cols.pkg, cols.ver, cols.fixed, cols.sev, cols.rank, cols.score3, cols.vec3,
			cols.score2, cols.vec2, cols.cwes, cols.desc, cols.links, cols.vendor)
		if err != nil {
			return fmt.Errorf("scan %d: store vulnerabilities: %w", r.ID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM scan_report_vulnerabilities WHERE scan_report_id = $1", r.ID); err != nil {
		return err
	}
	if len(keys) > 0 {
		if _, err := tx.ExecContext(ctx, `
INSERT INTO scan_report_vulnerabilities (scan_report_id, vulnerability_id)
SELECT $1, id FROM vulnerabilities WHERE key = ANY($2)`, r.ID, keys); err != nil {
			return fmt.Errorf("scan %d: link vulnerabilities: %w", r.ID, err)
		}
	}
	if len(findings) == 0 {
		top = "NONE"
	}
	err = tx.ScanReport.UpdateOneID(r.ID).SetStatus(scanreport.StatusSuccess).SetSeverity(scanreport.Severity(top)).
		SetSummary(summary).SetFixable(fixable).SetProgress(100).SetFinishedAt(time.Now()).SetLog("").
		SetScannerName(scannerName).Exec(ctx)
	if err != nil {
		return fmt.Errorf("scan %d: record the report: %w", r.ID, err)
	}
	if err := event.Record(ctx, tx, scanEvent(event.ScanCompleted, r, repo)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if w.kick != nil {
		w.kick()
	}
	return nil
}

// jsonList is how ent stores a Strings field.
func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
