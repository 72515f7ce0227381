package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// User is a person who logs in to Berth. Robot accounts are separate identities.
type User struct {
	ent.Schema
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("username").Unique().NotEmpty().MaxLen(255).
			Annotations(entgql.OrderField("USERNAME")),
		field.String("email").Default("").MaxLen(255),
		field.String("full_name").Default("").MaxLen(255),
		field.String("password_hash").Sensitive().
			Annotations(entgql.Skip()),
		field.Bool("admin").Default(false).Comment("System administrator: may do everything."),
		field.Bool("disabled").Default(false),
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
		field.Time("last_login_at").Optional().Nillable(),
		field.Time("credentials_changed_at").Optional().Nillable().
			Comment("When the password last changed: sessions and tokens issued before are refused.").
			Annotations(entgql.Skip()),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("memberships", Member.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Annotations(entgql.Skip()),
		edge.To("sessions", Session.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Annotations(entgql.Skip()),
		edge.To("api_tokens", APIToken.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Annotations(entgql.Skip()),
	}
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
