package graph

import (
	"context"
	"time"

	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/registryendpoint"
	"github.com/berth-registry/berth/ent/replicationexecution"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/graph/model"
	"github.com/berth-registry/berth/worker/replication"
)

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// nilIfNotFound turns a service's "not found" into GraphQL's null.
func nilIfNotFound[T any](v *T, err error) (*T, error) {
	if fault.IsNotFound(err) {
		return nil, nil
	}
	return v, err
}

func endpointInput(in model.RegistryEndpointInput) endpoint.Input {
	return endpoint.Input{Name: in.Name, Description: deref(in.Description), Type: registryendpoint.Type(in.Type), URL: in.URL,
		CredentialType: registryendpoint.CredentialType(deref(in.CredentialType)), AccessKey: deref(in.AccessKey),
		AccessSecret: in.AccessSecret, Insecure: deref(in.Insecure)}
}

// connectionTest reports a failed test (bad input: what failed) as an answer, not an error.
func connectionTest(err error) (*model.ConnectionTest, error) {
	if f, ok := fault.As(err); ok && f.Kind == fault.KindBadInput {
		return &model.ConnectionTest{Ok: false, Message: f.Message}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.ConnectionTest{Ok: true}, nil
}

func policyInput(in model.ReplicationPolicyInput) replication.PolicyInput {
	out := replication.PolicyInput{Name: in.Name, Description: deref(in.Description), Direction: in.Direction,
		RegistryID: in.RegistryID, SourceNamespace: deref(in.SourceNamespace), Filter: deref(in.Filter),
		DestNamespace: deref(in.DestNamespace), DestNamespaceReplaceCount: deref(in.DestNamespaceReplaceCount),
		Trigger: deref(in.Trigger), Cron: deref(in.Cron), Override: true, Enabled: true,
		ReplicateDeletion: deref(in.ReplicateDeletion), IncludeProxyCache: deref(in.IncludeProxyCache),
		SpeedKB: deref(in.SpeedKb), CopyByChunk: deref(in.CopyByChunk)}
	if in.Override != nil {
		out.Override = *in.Override
	}
	if in.Enabled != nil {
		out.Enabled = *in.Enabled
	}
	return out
}

// subscribeReplication streams an execution: as it is now, then after every replication event
// naming it (or every 5 s), until it ends.
func (r *Resolver) subscribeReplication(ctx context.Context, id int) (<-chan *ent.ReplicationExecution, error) {
	e, err := r.Replication.Execution(ctx, id)
	if err != nil {
		return nil, err
	}
	in, cancel := r.Events.Subscribe(64)
	out := make(chan *ent.ReplicationExecution, 1)
	out <- e
	go func() {
		defer close(out)
		defer cancel()
		for e.Status == replicationexecution.StatusPending || e.Status == replicationexecution.StatusRunning {
			select {
			case <-ctx.Done():
				return
			case ev := <-in:
				if (ev.Type != event.ReplicationStarted && ev.Type != event.ReplicationProgress && ev.Type != event.ReplicationCompleted) || ev.JobID != int64(id) {
					continue
				}
			case <-time.After(5 * time.Second): // a missed notification costs at most this
			}
			next, err := r.Replication.Execution(ctx, id)
			if err != nil {
				return
			}
			if next.Status == e.Status && next.Succeeded == e.Succeeded && next.Failed == e.Failed &&
				next.Skipped == e.Skipped && next.Total == e.Total && next.Stopped == e.Stopped {
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
