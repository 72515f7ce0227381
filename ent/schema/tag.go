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

// Tag names an artifact within a repository. A tag points at exactly one artifact at a time.
type Tag struct {
	ent.Schema
}

// Fields of the Tag.
func (Tag) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(128).
			Annotations(entgql.OrderField("NAME")),
		field.Time("push_time").Default(time.Now).
			Annotations(entgql.OrderField("PUSH_TIME")),
		field.Time("pull_time").Optional().Nillable(),
		field.Int("repository_id"),
		field.Int("artifact_id"),
	}
}

// Edges of the Tag.
func (Tag) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("repository", Repository.Type).Ref("tags").Field("repository_id").Unique().Required().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.From("artifact", Artifact.Type).Ref("tags").Field("artifact_id").Unique().Required().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

// Indexes of the Tag.
func (Tag) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("repository_id", "name").Unique(),
		index.Fields("artifact_id"),
	}
}

// Annotations of the Tag.
func (Tag) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
