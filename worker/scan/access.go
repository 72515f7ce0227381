package scan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/artifact"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/egress"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/ent/vulnerability"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/worker/run"
)

// Callers is what the service needs to answer callers (GraphQL and Harbor's REST API).
type Callers struct {
	// Deps queue and stop scans and authorize system actions.
	run.Deps
	// Artifacts loads artifacts for callers who may act on them.
	Artifacts *artifact.Service
	// Kick dispatches the events a stop records at once.
	Kick func()
	// Egress refuses scanner URLs that lead where Berth must not connect; Adapter pings them.
	Egress  *egress.Policy
	Adapter *AdapterClient
}

// Serving returns the service that answers callers through c (the methods below and in
// scanners.go need it).
func (s *Service) Serving(c Callers) *Service {
	out := *s
	out.access = &c
	return &out
}

// load loads artifact id for a caller who may do action in its project.
func (s *Service) load(ctx context.Context, id int, action auth.Action) (*ent.Artifact, error) {
	return s.access.Artifacts.Get(ctx, id, action)
}

// ScanArtifact queues a scan of artifact id (each child, for an index) and returns its reports.
func (s *Service) ScanArtifact(ctx context.Context, id int) ([]*ent.ScanReport, error) {
	a, err := s.load(ctx, id, auth.ActionScan)
	if err != nil {
		return nil, err
	}
	ids, err := s.Scan(ctx, s.access.Jobs, a.ID, auth.PrincipalFrom(ctx).Name)
	switch {
	case errors.Is(err, ErrNoScanner), errors.Is(err, ErrNotScannable):
		return nil, fault.BadInput("%s", err.Error())
	case err != nil:
		return nil, err
	}
	return s.db.ScanReport.Query().Where(scanreport.IDIn(ids...)).Order(ent.Asc(scanreport.FieldID)).All(ctx)
}

// StopArtifact stops the pending and running scans of artifact id and says how many.
func (s *Service) StopArtifact(ctx context.Context, id int) (int, error) {
	a, err := s.load(ctx, id, auth.ActionScan)
	if err != nil {
		return 0, err
	}
	n, err := s.Stop(ctx, s.access.Jobs, a.ID, s.access.Kick)
	if errors.Is(err, ErrNotScannable) {
		return 0, nil
	}
	return n, err
}

// ScanAll queues a rescan of every image (the scan-all:create action).
func (s *Service) ScanAll(ctx context.Context) error {
	if err := s.access.Auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionScanAll, ""); err != nil {
		return err
	}
	if _, err := s.access.Jobs.Insert(ctx, AllArgs{}, &river.InsertOpts{MaxAttempts: 1}); err != nil {
		return fmt.Errorf("queue scan all: %w", err)
	}
	return nil
}

// Summary counts vulnerabilities per severity.
type Summary struct {
	Critical, High, Medium, Low, None, Unknown int
}

// Overview is an artifact's scan, summed over an index's children: the latest reports of the
// project's scanner, each vulnerability counted once.
type Overview struct {
	// Status is RUNNING while any report is under way; else ERROR if any failed, STOPPED if any
	// stopped, else SUCCESS.
	Status scanreport.Status
	// Severity is the highest found (NONE when nothing was).
	Severity       scanreport.Severity
	Summary        *Summary
	Total, Fixable int
	Scanner        *ent.Scanner
	StartedAt      time.Time
	FinishedAt     *time.Time
	Reports        []*ent.ScanReport
}

// Overview is artifact id's scan for a caller who may read scans in its project: nil if it was
// never scanned by the project's scanner.
func (s *Service) Overview(ctx context.Context, id int) (*Overview, error) {
	a, err := s.load(ctx, id, auth.ActionReadScan)
	if err != nil {
		return nil, err
	}
	reports, sc, err := s.LatestReports(ctx, a)
	if err != nil || len(reports) == 0 {
		return nil, err
	}
	return s.overview(ctx, reports, sc)
}

// LatestReports returns the reports an artifact's overview sums: those of its project's scanner
// for the artifact (each child, for an index); none when it was never scanned.
func (s *Service) LatestReports(ctx context.Context, a *ent.Artifact) ([]*ent.ScanReport, *ent.Scanner, error) {
	proj, err := a.QueryRepository().QueryProject().Only(ctx)
	if err != nil {
		return nil, nil, err
	}
	sc, err := s.ScannerFor(ctx, proj.ScannerID)
	if errors.Is(err, ErrNoScanner) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	targets, err := s.Targets(ctx, a)
	if errors.Is(err, ErrNotScannable) {
		return nil, sc, nil
	}
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int, len(targets))
	for i, t := range targets {
		ids[i] = t.ID
	}
	reports, err := s.db.ScanReport.Query().Where(scanreport.ArtifactIDIn(ids...), scanreport.ScannerID(sc.ID)).
		Order(ent.Asc(scanreport.FieldID)).All(ctx)
	return reports, sc, err
}

// overview sums reports, counting each vulnerability record once.
func (s *Service) overview(ctx context.Context, reports []*ent.ScanReport, sc *ent.Scanner) (*Overview, error) {
	o := summarize(reports, sc)
	ids := make([]int, len(reports))
	for i, rep := range reports {
		ids[i] = rep.ID
	}
	rows, err := s.pool.Query(ctx, `
SELECT v.severity, count(DISTINCT v.id), count(DISTINCT v.id) FILTER (WHERE v.fixed_version <> '')
FROM scan_report_vulnerabilities l JOIN vulnerabilities v ON v.id = l.vulnerability_id
WHERE l.scan_report_id = ANY($1) GROUP BY v.severity`, ids)
	if err != nil {
		return nil, fmt.Errorf("scan overview: %w", err)
	}
	defer rows.Close()
	top := 1 // NONE
	for rows.Next() {
		var sev string
		var n, fixable int
		if err := rows.Scan(&sev, &n, &fixable); err != nil {
			return nil, err
		}
		o.Total += n
		o.Fixable += fixable
		switch sev {
		case "CRITICAL":
			o.Summary.Critical = n
		case "HIGH":
			o.Summary.High = n
		case "MEDIUM":
			o.Summary.Medium = n
		case "LOW":
			o.Summary.Low = n
		case "NONE":
			o.Summary.None = n
		default:
			o.Summary.Unknown = n
		}
		if rank := severityRank(sev); rank > top || (rank == 0 && top == 1) {
			top = rank
			o.Severity = scanreport.Severity(sev)
		}
	}
	return o, rows.Err()
}

func severityRank(s string) int {
	return map[string]int{"UNKNOWN": 0, "NONE": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}[s]
}

// Vulnerabilities lists what the overview's reports found, most severe first (Harbor's report).
func (s *Service) Vulnerabilities(ctx context.Context, o *Overview) ([]*ent.Vulnerability, error) {
	ids := make([]int, len(o.Reports))
	for i, rep := range o.Reports {
		ids[i] = rep.ID
	}
	return s.db.Vulnerability.Query().Where(vulnerability.HasReportsWith(scanreport.IDIn(ids...))).
		Order(ent.Desc(vulnerability.FieldSeverityRank), ent.Asc(vulnerability.FieldCveID), ent.Asc(vulnerability.FieldPackage)).
		All(ctx)
}
