package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Blob is a content-addressed layer or config known to the registry. Its status and version
// let garbage collection run while pushes go on: status changes only by compare-and-set on version.
type Blob struct {
	ent.Schema
}

// Fields of the Blob.
func (Blob) Fields() []ent.Field {
	return []ent.Field{
		field.String("digest").Unique().NotEmpty().MaxLen(255),
		field.String("media_type").Default("").MaxLen(255),
		field.Int64("size").Default(0),
		field.Enum("status").Values("none", "delete", "deleting", "deletefailed").Default("none"),
		field.Int64("version").Default(0),
		field.Int64("claimed_by").Optional().Nillable().Annotations(entgql.Skip()).
			Comment("While `deleting`: the River job of the garbage collection that claimed it. The claim holds only while that job's run lease does."),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("updated_at").Default(time.Now).Comment("Last push, HEAD or status change: the GC time window reads it."),
	}
}

// Edges of the Blob.
func (Blob) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("artifacts", Artifact.Type).Ref("blobs").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Blob.
func (Blob) Indexes() []ent.Index {
	return []ent.Index{index.Fields("status", "updated_at")}
}

// Annotations of the Blob.
func (Blob) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
