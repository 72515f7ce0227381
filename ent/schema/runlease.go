package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// RunLease says that a process is working a River job right now: the process renews it while
// the job runs, and a lease that is not renewed in time means the process died. It is what
// worker/run reads to end the runs of dead workers, and what registry.BlobGuard reads to tell a
// live garbage collector's claim on a blob from a dead one's.
type RunLease struct {
	ent.Schema
}

// Fields of the RunLease.
func (RunLease) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").Comment("The River job id of the attempt holding the lease."),
		field.String("kind").MaxLen(255).Comment("The River job kind."),
		field.String("owner").MaxLen(255).Comment("The process holding it: host, pid and River client."),
		field.Time("expires_at").Comment("Past this, the holder is presumed dead."),
	}
}

// Indexes of the RunLease.
func (RunLease) Indexes() []ent.Index {
	return []ent.Index{index.Fields("expires_at")}
}

// Annotations of the RunLease.
func (RunLease) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
