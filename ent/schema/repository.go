package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Repository is a named set of artifacts inside a project, e.g. "library/nginx".
type Repository struct {
	ent.Schema
}

// Fields of the Repository.
func (Repository) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().NotEmpty().MaxLen(255).Comment("Full name, project prefix included.").
			Annotations(entgql.OrderField("NAME")),
		field.Int64("pull_count").Default(0).
			Annotations(entgql.OrderField("PULL_COUNT")),
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").Default(time.Now).
			Annotations(entgql.OrderField("UPDATED_AT")),
		field.Int("project_id"),
		field.String("description").Default("").MaxLen(4096).
			Comment("Free text shown with the repository (Harbor's repository description); set through artifact.Service.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Edges of the Repository.
func (Repository) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("project", Project.Type).Ref("repositories").Field("project_id").Unique().Required(),
		edge.To("artifacts", Artifact.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Annotations(entgql.RelayConnection()),
		edge.To("tags", Tag.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Annotations(entgql.RelayConnection()),
	}
}

// Indexes of the Repository.
func (Repository) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "name")}
}

// Annotations of the Repository.
func (Repository) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
