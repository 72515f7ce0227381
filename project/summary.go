package project

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/auth"
)

// SummaryDays is how many days the storage chart of a project's summary covers.
const SummaryDays = 30

// PullDays is how many days the pulls chart covers: pulls are counted from the event log
// (ARTIFACT_PULLED rows, recorded for every pull in batches), which keeps a week of events
// (worker.EventRetention); older days would read as zero without being so.
const PullDays = 7

// Summary is a project's figures over time, for the dashboard's project summary.
type Summary struct {
	// Storage is, per day (UTC) of the last SummaryDays, the bytes of the project's current
	// artifacts' blobs first pushed on or before that day: storage of what is there now by push
	// date, cumulative. What was pushed and since deleted is not recorded, so it is not shown; the
	// last day equals the project's storage used.
	Storage []DayValue
	// Pulls is the number of pulls per day (UTC) of the last PullDays.
	Pulls []DayValue
	// Severities counts the project's images (artifacts that are neither indexes nor accessories)
	// by the highest severity their latest successful scan with the project's scanner found;
	// NOT_SCANNED for those without one. Nil when the caller may not read scans.
	Severities []SeverityCount
}

// DayValue is one day's figure.
type DayValue struct {
	Day   string // YYYY-MM-DD, UTC
	Value int64
}

// SeverityCount is how many images have Severity as their highest.
type SeverityCount struct {
	Severity string
	Count    int
}

// severityOrder is the order of Summary.Severities, worst first; every level is listed, zero or not.
var severityOrder = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN", "NOT_SCANNED"}

// Summary reads project id's summary, for a caller who may read the project (and, for the
// severities, its scans): a constant number of statements, each aggregated and bounded in days.
func (s *Service) Summary(ctx context.Context, id int) (*Summary, error) {
	proj, err := s.Get(ctx, id, auth.ActionReadProject)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	out := &Summary{}

	// Storage: each blob counts once, on the day of the first push of a current artifact that
	// links it; blobs first pushed before the window count on its first day.
	from := today.AddDate(0, 0, -(SummaryDays - 1))
	perDay, err := s.daySums(ctx, `
		WITH firsts AS (
			SELECT ab.blob_id, min(a.push_time) AS first_push
			FROM repositories r
			JOIN artifacts a ON a.repository_id = r.id
			JOIN artifact_blobs ab ON ab.artifact_id = a.id
			WHERE r.project_id = $1
			GROUP BY ab.blob_id)
		SELECT to_char(GREATEST(f.first_push, $2::timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), COALESCE(SUM(b.size), 0)::bigint
		FROM firsts f JOIN blobs b ON b.id = f.blob_id
		GROUP BY 1`, proj.ID, from)
	if err != nil {
		return nil, fmt.Errorf("storage by day of project %d: %w", id, err)
	}
	var total int64
	for d := from; !d.After(today); d = d.AddDate(0, 0, 1) {
		day := d.Format(time.DateOnly)
		total += perDay[day]
		out.Storage = append(out.Storage, DayValue{Day: day, Value: total})
	}

	from = today.AddDate(0, 0, -(PullDays - 1))
	perDay, err = s.daySums(ctx, `
		SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), COALESCE(SUM(count), 0)::bigint
		FROM events
		WHERE type = 'ARTIFACT_PULLED' AND project_id = $1 AND occurred_at >= $2::timestamptz
		GROUP BY 1`, proj.ID, from)
	if err != nil {
		return nil, fmt.Errorf("pulls by day of project %d: %w", id, err)
	}
	for d := from; !d.After(today); d = d.AddDate(0, 0, 1) {
		day := d.Format(time.DateOnly)
		out.Pulls = append(out.Pulls, DayValue{Day: day, Value: perDay[day]})
	}

	if err := s.authorize(ctx, proj, auth.ActionReadScan, fmt.Sprintf("project %d", id)); errors.Is(err, auth.ErrForbidden) {
		return out, nil
	} else if err != nil {
		return nil, err
	}
	// The project's scanner is its own when enabled, else the default (as scan.Service.ScannerFor).
	rows, err := s.db.QueryContext(ctx, `
		WITH sc AS (
			SELECT COALESCE(
				(SELECT s.id FROM projects p JOIN scanners s ON s.id = p.scanner_id AND s.enabled WHERE p.id = $1),
				(SELECT s.id FROM scanners s WHERE s.is_default AND s.enabled ORDER BY s.id LIMIT 1)) AS id),
		latest AS (
			SELECT DISTINCT ON (a.id) a.id, sr.severity
			FROM repositories r
			JOIN artifacts a ON a.repository_id = r.id
			LEFT JOIN scan_reports sr ON sr.artifact_id = a.id AND sr.status = 'SUCCESS' AND sr.scanner_id = (SELECT id FROM sc)
			WHERE r.project_id = $1 AND NOT a.accessory
			  AND a.media_type NOT LIKE '%image.index%' AND a.media_type NOT LIKE '%manifest.list%'
			ORDER BY a.id, sr.id DESC NULLS LAST)
		SELECT COALESCE(severity, 'NOT_SCANNED'), count(*) FROM latest GROUP BY 1`, proj.ID)
	if err != nil {
		return nil, fmt.Errorf("severities of project %d: %w", id, err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var sev string
		var n int
		if err := rows.Scan(&sev, &n); err != nil {
			return nil, fmt.Errorf("severities of project %d: %w", id, err)
		}
		counts[sev] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("severities of project %d: %w", id, err)
	}
	out.Severities = make([]SeverityCount, 0, len(severityOrder))
	for _, sev := range severityOrder {
		out.Severities = append(out.Severities, SeverityCount{Severity: sev, Count: counts[sev]})
	}
	return out, nil
}

// daySums runs a query answering (day, sum) rows.
func (s *Service) daySums(ctx context.Context, query string, args ...any) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func(rows *sql.Rows) { _ = rows.Close() }(rows)
	out := map[string]int64{}
	for rows.Next() {
		var day string
		var v int64
		if err := rows.Scan(&day, &v); err != nil {
			return nil, err
		}
		out[day] = v
	}
	return out, rows.Err()
}
