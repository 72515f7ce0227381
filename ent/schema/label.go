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

// Label is a name with a colour that can be attached to artifacts. A label without a
// project is system-wide; one with a project can only be attached inside that project.
type Label struct {
	ent.Schema
}

// Fields of the Label.
func (Label) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(128).
			Annotations(entgql.OrderField("NAME")),
		field.String("description").Default("").MaxLen(1024),
		field.String("color").Default("").MaxLen(16),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Int("project_id").Optional().Nillable(),
	}
}

// Edges of the Label.
func (Label) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("project", Project.Type).Ref("labels").Field("project_id").Unique().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.From("artifacts", Artifact.Type).Ref("labels").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Label.
func (Label) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "name").Unique()}
}

// Annotations of the Label.
func (Label) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
