package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// SharedSecret is a secret every replica must hold the same: a token-signing key (one row per
// key, told apart by kid), the HTTP secret Distribution signs upload state with, or the key that
// seals registry endpoint credentials. The secrets package owns the table: it generates the rows
// at first start (under an advisory lock, so replicas starting together agree), imports the keys
// of an older data directory once, and rotates signing keys.
type SharedSecret struct {
	ent.Schema
}

// Fields of the SharedSecret.
func (SharedSecret) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").Values("signing_key", "http_secret", "secret_key").Immutable(),
		field.String("kid").MaxLen(64).NotEmpty().Immutable().
			Comment("The key id: a signing key's thumbprint (the JWT kid), or the kind for the single secrets."),
		field.String("value").Sensitive().Immutable().
			Comment("A signing key as PKCS#8 PEM; the other secrets as text."),
		field.Time("created_at").Immutable(),
		field.Time("retired_at").Optional().Nillable().
			Comment("When a signing key stopped signing (a newer one took over); it verifies tokens for a while longer."),
	}
}

// Indexes of the SharedSecret.
func (SharedSecret) Indexes() []ent.Index {
	return []ent.Index{index.Fields("kid").Unique(), index.Fields("kind", "created_at")}
}

// Annotations of the SharedSecret.
func (SharedSecret) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
