package graph

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/gcrun"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/graph/model"
	"github.com/berth-registry/berth/worker/gc"
)

// gcParams reads GC parameters from GraphQL input, with Harbor's defaults (one worker).
func gcParams(deleteUntagged, dryRun *bool, workers *int, removeOrphans *bool) gc.Params {
	p := gc.Params{Workers: 1}
	if deleteUntagged != nil {
		p.DeleteUntagged = *deleteUntagged
	}
	if dryRun != nil {
		p.DryRun = *dryRun
	}
	if workers != nil {
		p.Workers = *workers
	}
	if removeOrphans != nil {
		p.RemoveOrphans = *removeOrphans
	}
	return p
}

func gcScheduleModel(s gc.Schedule) *model.GCSchedule {
	return &model.GCSchedule{
		Kind: model.ScheduleKind(s.Kind), Cron: s.Cron, DeleteUntagged: s.Params.DeleteUntagged,
		DryRun: s.Params.DryRun, Workers: s.Params.Workers, RemoveOrphans: s.Params.RemoveOrphans,
		NextRunAt: s.Next(), LastRunAt: s.LastRunAt,
	}
}

// subscribeGC streams a GC run: as it is now, then after every GC event naming it, until it ends.
func (r *Resolver) subscribeGC(ctx context.Context, id int) (<-chan *ent.GCRun, error) {
	run, err := r.DB.GCRun.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("gc run %d", id))
	}
	if err != nil {
		return nil, err
	}
	in, cancel := r.Events.Subscribe(64)
	out := make(chan *ent.GCRun, 1)
	out <- run
	go func() {
		defer close(out)
		defer cancel()
		for !gcFinished(run) {
			select {
			case <-ctx.Done():
				return
			case e := <-in:
				if (e.Type != event.GCStarted && e.Type != event.GCProgress && e.Type != event.GCCompleted) || e.JobID != int64(id) {
					continue
				}
			case <-time.After(5 * time.Second): // a missed notification costs at most this
			}
			next, err := r.DB.GCRun.Get(ctx, id)
			if err != nil {
				return
			}
			if next.Status == run.Status && next.BlobsDeleted == run.BlobsDeleted && next.UploadsPurged == run.UploadsPurged {
				continue
			}
			run = next
			select {
			case out <- run:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func gcFinished(run *ent.GCRun) bool {
	return run.Status != gcrun.StatusPending && run.Status != gcrun.StatusRunning
}
