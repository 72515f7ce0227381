package scan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entartifact "github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/scanreport"
)

// Overviews is Overview for a page of artifacts, in a number of statements that does not grow
// with the page: the artifacts with their projects (each project authorized once), each
// project's scanner, the children of the indexes, the reports, and the counts per severity.
// errs[i] is Overview's error for ids[i]; an artifact never scanned has a nil overview.
func (s *Service) Overviews(ctx context.Context, ids []int) ([]*Overview, []error) {
	out := make([]*Overview, len(ids))
	arts, errs := s.access.Artifacts.GetMany(ctx, ids, auth.ActionReadScan)
	fail := func(err error) ([]*Overview, []error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return out, errs
	}

	// The scanner of each project (its own, or the default).
	scanners := map[int]*ent.Scanner{}
	for _, a := range arts {
		if a == nil {
			continue
		}
		proj := a.Edges.Repository.Edges.Project
		if _, ok := scanners[proj.ID]; ok {
			continue
		}
		sc, err := s.ScannerFor(ctx, proj.ScannerID)
		if err != nil && !errors.Is(err, ErrNoScanner) {
			return fail(err)
		}
		scanners[proj.ID] = sc
	}

	// What each artifact's scan covers: itself, or an index's children that are not indexes.
	var indexIDs []int
	for _, a := range arts {
		if a != nil && isIndex(a.MediaType) {
			indexIDs = append(indexIDs, a.ID)
		}
	}
	children := map[int][]int{}
	if len(indexIDs) > 0 {
		parents, err := s.db.Artifact.Query().Where(entartifact.IDIn(indexIDs...)).Select(entartifact.FieldID).
			WithChildren(func(q *ent.ArtifactQuery) { q.Select(entartifact.FieldID, entartifact.FieldMediaType) }).All(ctx)
		if err != nil {
			return fail(fmt.Errorf("children of indexes: %w", err))
		}
		for _, p := range parents {
			for _, c := range p.Edges.Children {
				if !isIndex(c.MediaType) {
					children[p.ID] = append(children[p.ID], c.ID)
				}
			}
		}
	}
	targets := make([][]int, len(ids))
	var allTargets, scannerIDs []int
	for i, a := range arts {
		if a == nil || scanners[a.Edges.Repository.Edges.Project.ID] == nil {
			continue
		}
		if isIndex(a.MediaType) {
			targets[i] = children[a.ID]
		} else {
			targets[i] = []int{a.ID}
		}
		allTargets = append(allTargets, targets[i]...)
	}
	for _, sc := range scanners {
		if sc != nil {
			scannerIDs = append(scannerIDs, sc.ID)
		}
	}
	if len(allTargets) == 0 {
		return out, errs
	}
	reports, err := s.db.ScanReport.Query().
		Where(scanreport.ArtifactIDIn(allTargets...), scanreport.ScannerIDIn(scannerIDs...)).
		Order(ent.Asc(scanreport.FieldID)).All(ctx)
	if err != nil {
		return fail(fmt.Errorf("scan reports: %w", err))
	}
	type key struct{ artifact, scanner int }
	byTarget := map[key][]*ent.ScanReport{}
	for _, r := range reports {
		k := key{r.ArtifactID, r.ScannerID}
		byTarget[k] = append(byTarget[k], r)
	}

	// Each artifact's reports, then every artifact's counts in one statement: a vulnerability
	// found in two children of an index counts once, as Overview counts it.
	var keys, reportIDs []int
	for i, a := range arts {
		if a == nil || len(targets[i]) == 0 {
			continue
		}
		sc := scanners[a.Edges.Repository.Edges.Project.ID]
		var mine []*ent.ScanReport
		for _, t := range targets[i] {
			mine = append(mine, byTarget[key{t, sc.ID}]...)
		}
		if len(mine) == 0 {
			continue
		}
		out[i] = summarize(mine, sc)
		for _, r := range mine {
			keys = append(keys, i)
			reportIDs = append(reportIDs, r.ID)
		}
	}
	if len(keys) == 0 {
		return out, errs
	}
	rows, err := s.pool.Query(ctx, `
SELECT m.k, v.severity, count(DISTINCT v.id), count(DISTINCT v.id) FILTER (WHERE v.fixed_version <> '')
FROM unnest($1::bigint[], $2::bigint[]) AS m(k, r)
JOIN scan_report_vulnerabilities l ON l.scan_report_id = m.r
JOIN vulnerabilities v ON v.id = l.vulnerability_id
GROUP BY m.k, v.severity`, keys, reportIDs)
	if err != nil {
		return fail(fmt.Errorf("scan overviews: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var k, n, fixable int
		var sev string
		if err := rows.Scan(&k, &sev, &n, &fixable); err != nil {
			return fail(err)
		}
		count(out[k], sev, n, fixable)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return out, errs
}

// summarize is an overview's status and times from its reports, before the counts.
func summarize(reports []*ent.ScanReport, sc *ent.Scanner) *Overview {
	o := &Overview{Status: scanreport.StatusSuccess, Severity: scanreport.SeverityNone, Summary: &Summary{},
		Scanner: sc, Reports: reports, StartedAt: reports[0].StartedAt}
	var finished *time.Time
	for _, rep := range reports {
		switch {
		case rep.Status == scanreport.StatusPending || rep.Status == scanreport.StatusRunning:
			o.Status = scanreport.StatusRunning
		case rep.Status == scanreport.StatusError && o.Status != scanreport.StatusRunning:
			o.Status = scanreport.StatusError
		case rep.Status == scanreport.StatusStopped && o.Status == scanreport.StatusSuccess:
			o.Status = scanreport.StatusStopped
		}
		if rep.StartedAt.Before(o.StartedAt) {
			o.StartedAt = rep.StartedAt
		}
		if rep.FinishedAt != nil && (finished == nil || rep.FinishedAt.After(*finished)) {
			finished = rep.FinishedAt
		}
	}
	if o.Status != scanreport.StatusRunning {
		o.FinishedAt = finished
	}
	return o
}

// count adds n vulnerabilities of severity sev (fixable of them fixable) to o.
func count(o *Overview, sev string, n, fixable int) {
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
	top := severityRank(string(o.Severity))
	if rank := severityRank(sev); rank > top || (rank == 0 && top == 1) {
		o.Severity = scanreport.Severity(sev)
	}
}
