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

// ImmutableRule protects the tags of a project that it selects: such a tag cannot be moved to
// another digest, deleted, or lose its artifact (tagrule.Rules decides).
type ImmutableRule struct {
	ent.Schema
}

// Fields of the ImmutableRule.
func (ImmutableRule) Fields() []ent.Field {
	return []ent.Field{
		field.Int("project_id"),
		field.String("repository_pattern").MaxLen(255).Comment("Doublestar glob on the repository path without the project."),
		field.Bool("repository_exclude").Default(false).Comment("The rule applies to repositories the pattern does not match."),
		field.String("tag_pattern").MaxLen(255),
		field.Bool("tag_exclude").Default(false),
		field.Bool("disabled").Default(false),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Indexes of the ImmutableRule.
func (ImmutableRule) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id")}
}

// Annotations of the ImmutableRule.
func (ImmutableRule) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Edges of the ImmutableRule.
func (ImmutableRule) Edges() []ent.Edge {
	return []ent.Edge{edge.From("project", Project.Type).Ref("immutable_rules").Field("project_id").Unique().Required()}
}
