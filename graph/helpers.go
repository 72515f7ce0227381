package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/ent/predicate"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/webhookpolicy"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
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

// publish records an event with the caller as operator, for a change that has committed, and
// has it dispatched. A failure is logged; the change stands.
func (r *Resolver) publish(ctx context.Context, e event.Event) { r.Publisher.Publish(ctx, e) }

// memberFor loads a membership and checks that the caller may manage the project's members.
func (r *Resolver) memberFor(ctx context.Context, id int) (*ent.Member, error) {
	m, err := r.DB.Member.Query().Where(member.ID(id)).WithProject().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("member %d", id))
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
		return nil, nil, fault.NotFound(fmt.Sprintf("label %d", labelID))
	}
	if err != nil {
		return nil, nil, err
	}
	if l.ProjectID != nil && *l.ProjectID != a.Edges.Repository.ProjectID {
		return nil, nil, fault.BadInput("label %q belongs to another project", l.Name)
	}
	return a, l, nil
}

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

// webhookPolicyFor loads a policy with its project and checks action on the project.
func (r *Resolver) webhookPolicyFor(ctx context.Context, id int, action auth.Action) (*ent.WebhookPolicy, error) {
	p, err := r.DB.WebhookPolicy.Query().Where(webhookpolicy.ID(id)).WithProject().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("webhook policy %d", id))
	}
	if err != nil {
		return nil, err
	}
	return p, r.authorize(ctx, p.Edges.Project, action)
}

// validateWebhook checks what a policy must have: a name, at least one event type a project's
// policy can receive (or that it had before: had). The address is checkTarget's.
func validateWebhook(name *string, types, had []event.Type) error {
	if *name == "" || len(*name) > 255 {
		return fault.BadInput("a webhook policy name must be 1 to 255 characters long")
	}
	if len(types) == 0 {
		return fault.BadInput("choose at least one event type")
	}
	for _, t := range types {
		// A policy saved before this check may list such a type: editing it keeps it.
		if !t.ForWebhooks() && !slices.Contains(had, t) {
			return fault.BadInput("a project's webhooks cannot receive %s events: they belong to no project", t)
		}
	}
	return nil
}

// checkTarget refuses a URL Berth would send requests to (what: "webhook target", "scanner URL")
// when it leads to an address the egress policy refuses. The message never repeats credentials.
func (r *Resolver) checkTarget(ctx context.Context, what, address string) error {
	if err := r.Egress.Check(ctx, nil, address); err != nil {
		return fault.BadInput("%s %s", what, err.Error())
	}
	return nil
}
