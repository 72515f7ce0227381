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

// TrustedKey is a public key or certificate that signatures are verified against: a project's own,
// or (without a project) one every project trusts.
type TrustedKey struct {
	ent.Schema
}

// Fields of the TrustedKey.
func (TrustedKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(64).Comment("Shown as the key a signature was verified by."),
		field.Enum("kind").NamedValues("PublicKey", "PUBLIC_KEY", "Certificate", "CERTIFICATE").
			Comment("PUBLIC_KEY: a cosign key (ECDSA, Ed25519 or RSA). CERTIFICATE: an X.509 certificate or root that Notation signatures and keyless cosign certificates must chain to."),
		field.Text("pem").Comment("The key or certificate, PEM-encoded, as given."),
		field.String("fingerprint").MaxLen(71).Comment("sha256:<hex> of the DER key or certificate."),
		field.Int("project_id").Optional().Nillable().Comment("Nil: a system-wide key, trusted in every project."),
		field.String("created_by").Default("").MaxLen(255),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Edges of the TrustedKey.
func (TrustedKey) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("project", Project.Type).Ref("trusted_keys").Field("project_id").Unique(),
	}
}

// Indexes of the TrustedKey.
func (TrustedKey) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "fingerprint").Unique()}
}

// Annotations of the TrustedKey.
func (TrustedKey) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipOrderField)}
}
