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

// APIToken is a user's personal API token for scripts: named, limited to scopes, expiring and
// revocable. Only the SHA-256 of the token is stored; the token itself is shown once.
type APIToken struct {
	ent.Schema
}

// Fields of the APIToken.
func (APIToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(255),
		field.Bytes("token_hash").Unique().Sensitive().Annotations(entgql.Skip()),
		field.Strings("scopes").Comment(`Role-table actions ("repository:pull") the token may use, or "*" for all the user may do.`),
		field.Time("expires_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("last_used_at").Optional().Nillable(),
		field.Int("user_id").Immutable(),
	}
}

// Edges of the APIToken.
func (APIToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("api_tokens").Field("user_id").Unique().Required().Immutable().
			Annotations(entgql.Skip()),
	}
}

// Indexes of the APIToken.
func (APIToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "name").Unique()}
}

// Annotations of the APIToken.
func (APIToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
