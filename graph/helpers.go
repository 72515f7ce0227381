package graph

import (
	"context"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/event"
)

// subscribeEvents streams bus events that the caller may see, filtered by project and type.
func (r *Resolver) subscribeEvents(ctx context.Context, projectID *int, types []event.Type) (<-chan *ent.Event, error) {
	if projectID != nil {
		if _, err := r.projectFor(ctx, *projectID, auth.ActionReadProject); err != nil {
			return nil, err
		}
	}
	wanted := map[event.Type]bool{}
	for _, t := range types {
		wanted[t] = true
	}
	in, cancel := r.Events.Subscribe(64)
	out := make(chan *ent.Event)
	go func() {
		defer close(out)
		defer cancel()
		for {
			var e event.Event
			select {
			case <-ctx.Done():
				return
			case e = <-in:
			}
			if len(wanted) > 0 && !wanted[e.Type] {
				continue
			}
			if e.ProjectName == "" { // system events (purges): admins only
				if projectID != nil || r.allow(ctx, auth.ActionReadSystemEvents) != nil {
					continue
				}
				select {
				case out <- &ent.Event{ID: int(e.ID), Type: e.Type, OccurredAt: e.OccurredAt, Operator: e.Operator, Count: e.Count, JobID: e.JobID}:
				case <-ctx.Done():
					return
				}
				continue
			}
			// Every event is checked against the caller's permissions as they are now.
			proj, err := r.DB.Project.Query().Where(project.Name(e.ProjectName)).Only(ctx)
			if err != nil && e.Type != event.ProjectDeleted {
				continue
			}
			if proj != nil {
				if projectID != nil && proj.ID != *projectID {
					continue
				}
				if r.authorize(ctx, proj, auth.ActionReadProject) != nil {
					continue
				}
			} else if r.allow(ctx, auth.ActionReadSystemEvents) != nil {
				continue // a deleted project's events go to admins only
			}
			me := &ent.Event{ID: int(e.ID), Type: e.Type, OccurredAt: e.OccurredAt, Operator: e.Operator,
				ProjectName: e.ProjectName, Repository: e.Repository, Digest: e.Digest, Tag: e.Tag, Count: e.Count, JobID: e.JobID}
			if proj != nil {
				me.ProjectID = &proj.ID
			}
			select {
			case out <- me:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
