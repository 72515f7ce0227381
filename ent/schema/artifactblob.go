package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ArtifactBlob links an artifact to a blob it stands on (its manifest, config and layers). Garbage
// collection keeps exactly the blobs some link points at, so the link is indexed by blob too.
type ArtifactBlob struct {
	ent.Schema
}

// Annotations of the ArtifactBlob.
func (ArtifactBlob) Annotations() []schema.Annotation {
	return []schema.Annotation{
		field.ID("artifact_id", "blob_id"),
		entgql.Skip(entgql.SkipAll),
	}
}

// Fields of the ArtifactBlob.
func (ArtifactBlob) Fields() []ent.Field {
	return []ent.Field{
		field.Int("artifact_id"),
		field.Int("blob_id"),
	}
}

// Edges of the ArtifactBlob.
func (ArtifactBlob) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("artifact", Artifact.Type).Unique().Required().Field("artifact_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("blob", Blob.Type).Unique().Required().Field("blob_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the ArtifactBlob: "is this blob referenced?" is the question GC asks of every blob.
func (ArtifactBlob) Indexes() []ent.Index {
	return []ent.Index{index.Fields("blob_id")}
}
