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

// Advisory is one OSV record from the local advisory database the built-in scanner matches
// against. It is read-only to everything but `berth advisories import`.
type Advisory struct {
	ent.Schema
}

// Fields of the Advisory.
func (Advisory) Fields() []ent.Field {
	return []ent.Field{
		field.String("osv_id").Unique().NotEmpty().MaxLen(255).Comment("The OSV id (DSA-…, ALPINE-CVE-…, CVE-…)."),
		field.String("cve_id").Default("").MaxLen(255).Comment("The CVE the advisory is about: its id or its first CVE alias; empty if none."),
		field.Strings("aliases").Optional(),
		field.Text("summary").Default(""),
		field.Text("details").Default(""),
		field.Enum("severity").NamedValues(severities...).Default("UNKNOWN"),
		field.Float("cvss_score_v3").Optional().Nillable(),
		field.String("cvss_vector_v3").Default("").MaxLen(255),
		field.Strings("cwe_ids").Optional(),
		field.Strings("links").Optional(),
		field.Time("modified").Default(time.Now),
	}
}

// Edges of the Advisory.
func (Advisory) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("packages", AdvisoryPackage.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the Advisory.
func (Advisory) Indexes() []ent.Index {
	return []ent.Index{index.Fields("cve_id")}
}

// Annotations of the Advisory.
func (Advisory) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// AdvisoryPackage is one affected package of an advisory in one ecosystem ("Debian:12",
// "Alpine:v3.19", …): the ranges and versions it affects, looked up by (ecosystem, package).
type AdvisoryPackage struct {
	ent.Schema
}

// Fields of the AdvisoryPackage.
func (AdvisoryPackage) Fields() []ent.Field {
	return []ent.Field{
		field.Int("advisory_id"),
		field.String("ecosystem").NotEmpty().MaxLen(255).Comment("OSV ecosystem with its release, as the advisory names it."),
		field.String("package").NotEmpty().MaxLen(512).Comment("Source package name for Debian and Alpine advisories."),
		field.JSON("ranges", []map[string]any{}).Optional().Comment("OSV ranges (ECOSYSTEM type) verbatim."),
		field.Strings("versions").Optional().Comment("Explicitly affected versions."),
		field.String("severity").Default("").MaxLen(32).Comment("Ecosystem-specific severity or urgency, if the record gives one."),
	}
}

// Edges of the AdvisoryPackage.
func (AdvisoryPackage) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("advisory", Advisory.Type).Ref("packages").Field("advisory_id").Unique().Required(),
	}
}

// Indexes of the AdvisoryPackage.
func (AdvisoryPackage) Indexes() []ent.Index {
	return []ent.Index{index.Fields("ecosystem", "package"), index.Fields("advisory_id")}
}

// Annotations of the AdvisoryPackage.
func (AdvisoryPackage) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
