package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// QuotaReservation holds storage quota for a blob a push has written (or is about to write) into
// a project before the manifest that links it is indexed. The indexer turns it into usage; one
// left behind by a client or a process that died expires and is released (quota.Ledger.Sweep).
type QuotaReservation struct {
	ent.Schema
}

// Fields of the QuotaReservation.
func (QuotaReservation) Fields() []ent.Field {
	return []ent.Field{
		field.Int("project_id"),
		field.String("digest").MaxLen(255),
		field.Int64("size").Min(0),
		field.Time("expires_at"),
	}
}

// Indexes of the QuotaReservation.
func (QuotaReservation) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "digest").Unique(), index.Fields("expires_at")}
}

// Annotations of the QuotaReservation.
func (QuotaReservation) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Edges of the QuotaReservation.
func (QuotaReservation) Edges() []ent.Edge {
	return []ent.Edge{edge.From("project", Project.Type).Ref("quota_reservations").Field("project_id").Unique().Required()}
}
