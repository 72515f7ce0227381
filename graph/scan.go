package graph

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/vulnerability"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/graph/model"
	"github.com/berth-registry/berth/worker/run"
)

// vulnerabilityFilter turns a VulnerabilityFilter into predicates.
func vulnerabilityFilter(f *model.VulnerabilityFilter) []func(*sql.Selector) {
	if f == nil {
		return nil
	}
	var ps []func(*sql.Selector)
	if len(f.Severities) > 0 {
		ps = append(ps, vulnerability.SeverityIn(f.Severities...))
	}
	if f.Package != nil {
		ps = append(ps, vulnerability.Package(*f.Package))
	}
	if f.CveID != nil && *f.CveID != "" {
		ps = append(ps, func(s *sql.Selector) {
			s.Where(sql.HasPrefix(sql.Lower(s.C(vulnerability.FieldCveID)), strings.ToLower(*f.CveID)))
		})
	}
	if f.Fixable != nil {
		if *f.Fixable {
			ps = append(ps, vulnerability.FixedVersionNEQ(""))
		} else {
			ps = append(ps, vulnerability.FixedVersion(""))
		}
	}
	return ps
}

// subscribeScan follows one scan report until it ends.
func (r *Resolver) subscribeScan(ctx context.Context, id int) (<-chan *ent.ScanReport, error) {
	load := func(ctx context.Context) (*ent.ScanReport, error) {
		rep, err := r.DB.ScanReport.Get(ctx, id)
		if ent.IsNotFound(err) {
			return nil, fault.NotFound(fmt.Sprintf("scan report %d", id))
		}
		return rep, err
	}
	rep, err := load(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := r.artifactFor(ctx, rep.ArtifactID, auth.ActionReadScan); err != nil {
		return nil, err
	}
	return run.Follow(ctx, r.Events, id, run.Followed[*ent.ScanReport]{
		Events: []event.Type{event.ScanStarted, event.ScanCompleted, event.ScanFailed, event.ScanStopped},
		Load:   load,
		Done:   func(rep *ent.ScanReport) bool { return run.Finished(rep.Status) },
		Same:   func(a, b *ent.ScanReport) bool { return a.Status == b.Status && a.Progress == b.Progress },
		Poll:   2 * time.Second, // progress (and a missed notification) shows within this
	})
}
