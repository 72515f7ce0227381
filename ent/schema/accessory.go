package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Accessory links an artifact (a signature, an SBOM, anything with an OCI subject) to the
// artifact it describes. The subject is kept by digest because it may be pushed later.
type Accessory struct {
	ent.Schema
}

// Fields of the Accessory.
func (Accessory) Fields() []ent.Field {
	return []ent.Field{
		field.String("type").MaxLen(64).Comment(`Harbor's accessory types: "signature.cosign", "signature.notation", "attestation.cosign", "sbom.harbor", or "subject.accessory" for any other referrer.`),
		field.String("subject_digest").MaxLen(255),
		field.Int("repository_id"),
	}
}

// Edges of the Accessory.
func (Accessory) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("artifact", Artifact.Type).Ref("accessory_links").Unique().Required().
			Comment("The accessory itself."),
	}
}

// Indexes of the Accessory.
func (Accessory) Indexes() []ent.Index {
	return []ent.Index{index.Fields("repository_id", "subject_digest")}
}

// Annotations of the Accessory.
func (Accessory) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
