package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/cveexport"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/graph/model"
	"github.com/berth-registry/berth/worker/export"
)

// ExportDownloadPath is where the owner downloads an export's file (Harbor's REST path).
func ExportDownloadPath(id int) string { return fmt.Sprintf("/api/v2.0/export/cve/download/%d", id) }

// startExport checks the filters and the caller's export permission in every project named,
// then starts the export.
func (r *Resolver) startExport(ctx context.Context, input model.ExportCVEInput) (*ent.CVEExport, error) {
	p, err := r.requireLogin(ctx)
	if err != nil {
		return nil, err
	}
	params := export.Params{Labels: input.Labels}
	for _, id := range input.Projects {
		if !slices.Contains(params.Projects, id) {
			params.Projects = append(params.Projects, id)
		}
	}
	for _, f := range []struct {
		from *string
		to   *string
	}{{input.Repositories, &params.Repositories}, {input.Tags, &params.Tags}, {input.CveIds, &params.CVEIDs}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	var fe *export.FieldError
	if err := params.Validate(); errors.As(err, &fe) {
		return nil, fault.BadInput("%s: %s", fe.Field, fe.Message)
	} else if err != nil {
		return nil, err
	}
	// The role table decides, per project, so robots with the export permission may export too.
	for _, id := range params.Projects {
		if _, err := r.projectFor(ctx, id, auth.ActionExportCVE); err != nil {
			return nil, err
		}
	}
	owner := export.Owner{Name: p.Name}
	if p.Kind == auth.KindUser {
		owner.UserID = &p.UserID
	}
	jobName := ""
	if input.JobName != nil {
		jobName = *input.JobName
	}
	if len(jobName) > 255 {
		return nil, fault.BadInput("jobName: at most 255 characters")
	}
	return r.Exports.Start(ctx, r.Jobs, owner, jobName, params)
}

// exportFor loads one of the caller's executions: another principal's is forbidden (Harbor's 403).
func (r *Resolver) exportFor(ctx context.Context, id int) (*ent.CVEExport, error) {
	p, err := r.requireLogin(ctx)
	if err != nil {
		return nil, err
	}
	e, err := r.DB.CVEExport.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("CVE export %d", id))
	}
	if err != nil {
		return nil, err
	}
	if !ownsExport(p, e) {
		return nil, auth.ErrForbidden
	}
	return e, nil
}

func ownsExport(p *auth.Principal, e *ent.CVEExport) bool {
	if e.Owner != p.Name {
		return false
	}
	if e.OwnerUserID != nil {
		return p.Kind == auth.KindUser && p.UserID == *e.OwnerUserID // a user re-created under the name is someone else
	}
	return p.Kind != auth.KindUser
}

// myExports lists the caller's executions, newest first.
func (r *Resolver) myExports(ctx context.Context) ([]*ent.CVEExport, error) {
	p, err := r.requireLogin(ctx)
	if err != nil {
		return nil, err
	}
	all, err := r.DB.CVEExport.Query().Where(cveexport.Owner(p.Name)).Order(ent.Desc(cveexport.FieldID)).All(ctx)
	if err != nil {
		return nil, err
	}
	mine := all[:0]
	for _, e := range all {
		if ownsExport(p, e) {
			mine = append(mine, e)
		}
	}
	return mine, nil
}

func exportFinished(e *ent.CVEExport) bool {
	return e.Status != cveexport.StatusPending && e.Status != cveexport.StatusRunning
}

// subscribeExport streams one of the caller's executions: as it is now, then after each of its
// events, until it ends (or is downloaded).
func (r *Resolver) subscribeExport(ctx context.Context, id int) (<-chan *ent.CVEExport, error) {
	e, err := r.exportFor(ctx, id)
	if err != nil {
		return nil, err
	}
	in, cancel := r.Events.Subscribe(64)
	out := make(chan *ent.CVEExport, 1)
	out <- e
	go func() {
		defer close(out)
		defer cancel()
		for !exportFinished(e) {
			select {
			case <-ctx.Done():
				return
			case ev := <-in:
				switch ev.Type {
				case event.ExportStarted, event.ExportProgress, event.ExportCompleted, event.ExportFailed:
				default:
					continue
				}
				if ev.JobID != int64(id) {
					continue
				}
			case <-time.After(5 * time.Second): // a missed notification costs at most this
			}
			next, err := r.DB.CVEExport.Get(ctx, id)
			if err != nil {
				return
			}
			if next.Status == e.Status && next.Rows == e.Rows && next.EstimatedRows == e.EstimatedRows {
				continue
			}
			e = next
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
