package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// CVEExport is one execution of a CVE export (Harbor 2.6's "export CVEs"): who asked, with which
// filters, how far it got, and where its CSV file is until it is downloaded or expires.
type CVEExport struct {
	ent.Schema
}

// Fields of the CVEExport.
func (CVEExport) Fields() []ent.Field {
	return []ent.Field{
		field.String("owner").NotEmpty().MaxLen(255).
			Comment("The principal's name (a username or robot$…): only it may read or download the export."),
		field.Int("owner_user_id").Optional().Nillable().Comment("The owner's user id; empty for a robot."),
		field.String("job_name").Default("").MaxLen(255),
		field.JSON("params", map[string]any{}).Annotations(entgql.Type("Map")).
			Comment("The filters as given: projects, repositories, tags, labels, cveIds."),
		field.Enum("status").NamedValues("Pending", "PENDING", "Running", "RUNNING", "Success", "SUCCESS",
			"Error", "ERROR", "Stopped", "STOPPED").Default("PENDING"),
		field.String("status_text").Default("").MaxLen(1024),
		field.Int64("rows").Default(0).Comment("Rows written so far (the header is not counted)."),
		field.Int64("estimated_rows").Default(0).Comment("PostgreSQL's estimate of the rows the filters match."),
		field.Int64("size").Default(0).Comment("Bytes of the finished file."),
		field.String("digest").Default("").MaxLen(80).Comment("sha256:<hex> of the finished file."),
		field.String("file_path").Default("").MaxLen(1024).Annotations(entgql.Skip()).
			Comment("Path of the finished file in the registry's storage; empty until it is complete."),
		field.Text("error").Default(""),
		field.Int64("job_id").Optional().Nillable().Annotations(entgql.Skip()),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("started_at").Optional().Nillable(),
		field.Time("finished_at").Optional().Nillable(),
		field.Time("expires_at").Optional().Nillable().Comment("When an undownloaded file is deleted."),
	}
}

// Indexes of the CVEExport.
func (CVEExport) Indexes() []ent.Index {
	return []ent.Index{index.Fields("owner", "created_at"), index.Fields("expires_at")}
}

// Annotations of the CVEExport.
func (CVEExport) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
