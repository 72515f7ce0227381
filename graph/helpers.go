package graph

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/ent/predicate"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/graph/model"
)

func artifactID(id int) predicate.Artifact     { return artifact.ID(id) }
func repositoryID(id int) predicate.Repository { return repository.ID(id) }

// withTx runs fn in a transaction, committing if it returns nil.
func withTx(ctx context.Context, db *ent.Client, fn func(tx *ent.Tx) error) error {
	tx, err := db.Tx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// publish sends an event with the caller as operator; a failure is logged, the change stands.
func (r *Resolver) publish(ctx context.Context, e event.Event) {
	e.Operator = r.principal(ctx).Name
	if err := r.Events.Publish(ctx, e); err != nil {
		r.Log.Error("publish event", "type", e.Type, "err", err)
	}
}

// memberFor loads a membership and checks that the caller may manage the project's members.
func (r *Resolver) memberFor(ctx context.Context, id int) (*ent.Member, error) {
	m, err := r.DB.Member.Query().Where(member.ID(id)).WithProject().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound(fmt.Sprintf("member %d", id))
	}
	if err != nil {
		return nil, err
	}
	return m, r.authorize(ctx, m.Edges.Project, auth.ActionManageMembers)
}

// artifactAndLabel loads both and checks that the label may go on the artifact: a project label
// only inside its own project.
func (r *Resolver) artifactAndLabel(ctx context.Context, artifactID, labelID int) (*ent.Artifact, *ent.Label, error) {
	a, err := r.artifactFor(ctx, artifactID, auth.ActionLabelArtifact)
	if err != nil {
		return nil, nil, err
	}
	l, err := r.DB.Label.Get(ctx, labelID)
	if ent.IsNotFound(err) {
		return nil, nil, notFound(fmt.Sprintf("label %d", labelID))
	}
	if err != nil {
		return nil, nil, err
	}
	if l.ProjectID != nil && *l.ProjectID != a.Edges.Repository.ProjectID {
		return nil, nil, badInput("label %q belongs to another project", l.Name)
	}
	return a, l, nil
}

// subscribeEvents streams bus events that the caller may see, filtered by project and type.
func (r *Resolver) subscribeEvents(ctx context.Context, projectID *int, types []model.EventType) (<-chan *model.Event, error) {
	if projectID != nil {
		if _, err := r.projectFor(ctx, *projectID, auth.ActionReadProject); err != nil {
			return nil, err
		}
	}
	wanted := map[model.EventType]bool{}
	for _, t := range types {
		wanted[t] = true
	}
	in, cancel := r.Events.Subscribe(64)
	out := make(chan *model.Event)
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
			if len(wanted) > 0 && !wanted[model.EventType(e.Type)] {
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
			} else if !r.principal(ctx).Admin {
				continue // a deleted project's events go to admins only
			}
			me := &model.Event{Type: model.EventType(e.Type), OccurredAt: e.OccurredAt, Operator: e.Operator,
				ProjectName: e.ProjectName, Repository: e.Repository, Digest: e.Digest, Tag: e.Tag}
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
