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

// Artifact is one manifest (image, index or OCI artifact) stored in a repository.
type Artifact struct {
	ent.Schema
}

// Fields of the Artifact.
func (Artifact) Fields() []ent.Field {
	return []ent.Field{
		field.String("digest").NotEmpty().MaxLen(255),
		field.String("media_type").MaxLen(255).Comment("The manifest's media type."),
		field.String("artifact_type").Default("").MaxLen(255).
			Comment("The OCI artifactType, or the config media type for images."),
		field.Int64("size").Default(0).Comment("Manifest size plus the size of every blob it references.").
			Annotations(entgql.OrderField("SIZE")),
		field.Text("config").Default("").Comment("The image config JSON, when the config is a small JSON document."),
		field.JSON("annotations", map[string]string{}).Optional().
			Annotations(entgql.Type("Map")),
		field.Time("push_time").Default(time.Now).
			Annotations(entgql.OrderField("PUSH_TIME")),
		field.Time("pull_time").Optional().Nillable().
			Annotations(entgql.OrderField("PULL_TIME")),
		field.Int64("pull_count").Default(0),
		field.Int("repository_id"),
		field.Bool("accessory").Default(false).
			Comment("Set when the artifact is an accessory of another (a signature, attestation, SBOM or other referrer): lists, counts and exports leave accessories out unless asked."),
		field.Enum("signature_status").NamedValues("Unsigned", "UNSIGNED", "Verified", "VERIFIED", "Unverified", "UNVERIFIED").
			Default("UNSIGNED").Comment("What verifying the signatures that refer to this artifact against the trusted keys found."),
		field.String("signature_key").Default("").MaxLen(64).
			Comment("VERIFIED: the name of the trusted key (or certificate) that verified a signature."),
		field.String("signature_reason").Default("").MaxLen(512).
			Comment("UNVERIFIED: why no signature verified."),
	}
}

// Edges of the Artifact.
func (Artifact) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("repository", Repository.Type).Ref("artifacts").Field("repository_id").Unique().Required(),
		edge.To("tags", Tag.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("labels", Label.Type),
		edge.To("blobs", Blob.Type).Through("artifact_blobs", ArtifactBlob.Type).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("children", Artifact.Type).
			From("parents").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("scan_reports", ScanReport.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("accessory_links", Accessory.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Comment("Set when this artifact is itself an accessory of another.").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Artifact.
func (Artifact) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("repository_id", "digest").Unique(),
		index.Fields("digest"),
		index.Fields("repository_id", "push_time"),
	}
}

// Annotations of the Artifact.
func (Artifact) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
