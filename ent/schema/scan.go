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

// severities are the scanner protocol's severity levels, lowest first. Stored as their
// upper-case names so SQL filters read naturally; severity_rank orders them.
var severities = []string{"Unknown", "UNKNOWN", "None", "NONE", "Low", "LOW", "Medium", "MEDIUM", "High", "HIGH", "Critical", "CRITICAL"}

// Scanner is a vulnerability scanner Berth can send artifacts to: the built-in offline
// scanner, or an adapter speaking the pluggable scanner protocol v1.1.
type Scanner struct {
	ent.Schema
}

// Fields of the Scanner.
func (Scanner) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().NotEmpty().MaxLen(255),
		field.String("description").Default("").MaxLen(1024),
		field.String("url").Default("").MaxLen(2048).
			Comment("The adapter's base URL (…/api/v1 is appended); empty for the built-in scanner."),
		field.Bool("builtin").Default(false).Immutable(),
		field.Enum("auth").NamedValues("None", "NONE", "Basic", "BASIC", "Bearer", "BEARER", "APIKey", "API_KEY").Default("NONE"),
		field.String("access_credential").Default("").Sensitive().Annotations(entgql.Skip()),
		field.Bool("skip_cert_verify").Default(false),
		field.Bool("is_default").Default(false),
		field.Bool("enabled").Default(true),
		field.String("vendor").Default("").MaxLen(255).Comment("From the adapter's metadata."),
		field.String("version").Default("").MaxLen(255).Comment("From the adapter's metadata."),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
	}
}

// Edges of the Scanner.
func (Scanner) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("reports", ScanReport.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Annotations of the Scanner.
func (Scanner) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}

// ScanReport is the latest scan of one artifact by one scanner. A rescan replaces its
// vulnerability links; the summary counts are kept on the row so lists need no aggregation.
type ScanReport struct {
	ent.Schema
}

// Fields of the ScanReport.
func (ScanReport) Fields() []ent.Field {
	return []ent.Field{
		field.Int("artifact_id"),
		field.Int("scanner_id"),
		field.Enum("status").
			NamedValues("Pending", "PENDING", "Running", "RUNNING", "Success", "SUCCESS", "Error", "ERROR", "Stopped", "STOPPED").
			Default("PENDING"),
		field.String("mime_type").Default("application/vnd.security.vulnerability.report; version=1.1").MaxLen(255),
		field.Enum("severity").NamedValues(severities...).Default("UNKNOWN").
			Comment("The highest severity found."),
		field.JSON("summary", map[string]int{}).Optional().Annotations(entgql.Type("Map")).
			Comment("Count of findings per severity name."),
		field.Int("fixable").Default(0).Comment("Findings with a fixed version."),
		field.Int("progress").Default(0).Comment("0–100 while running."),
		field.Text("log").Default("").Comment("What went wrong, for an Error report."),
		field.String("scanner_name").Default("").MaxLen(255).Comment("As the scanner reported it in the report."),
		field.Time("started_at").Default(time.Now),
		field.Time("finished_at").Optional().Nillable(),
		field.Int64("job_id").Optional().Nillable().Annotations(entgql.Skip()).Comment("The River job of the current scan."),
		field.String("operator").Default("").MaxLen(255).Comment("Who started the scan (a user, or system for scan on push and scan all)."),
		field.String("digest").Default("").MaxLen(255).Comment("The artifact's digest, kept for the CSV export and events."),
	}
}

// Edges of the ScanReport.
func (ScanReport) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("artifact", Artifact.Type).Ref("scan_reports").Field("artifact_id").Unique().Required(),
		edge.From("scanner", Scanner.Type).Ref("reports").Field("scanner_id").Unique().Required(),
		edge.To("vulnerabilities", Vulnerability.Type).
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipWhereInput)),
	}
}

// Indexes of the ScanReport.
func (ScanReport) Indexes() []ent.Index {
	return []ent.Index{index.Fields("artifact_id", "scanner_id").Unique()}
}

// Annotations of the ScanReport.
func (ScanReport) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}

// Vulnerability is one finding, deduplicated across reports: many artifacts that share a
// layer share its records. The key is a hash of everything a report says about it.
type Vulnerability struct {
	ent.Schema
}

// Fields of the Vulnerability.
func (Vulnerability) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").Unique().NotEmpty().MaxLen(64).Annotations(entgql.Skip()).
			Comment("Hex SHA-256 of the scanner and every field below: the deduplication key."),
		field.Int("scanner_id"),
		field.String("cve_id").NotEmpty().MaxLen(255).Annotations(entgql.OrderField("CVE_ID")),
		field.String("package").Default("").MaxLen(512).Annotations(entgql.OrderField("PACKAGE")),
		field.String("package_version").Default("").MaxLen(255),
		field.String("fixed_version").Default("").MaxLen(255).Comment("Empty when no fix is known."),
		field.Enum("severity").NamedValues(severities...).Default("UNKNOWN"),
		field.Int("severity_rank").Default(0).Annotations(entgql.OrderField("SEVERITY")).
			Comment("0 Unknown … 5 Critical, so thresholds and ordering are integer comparisons."),
		field.Float("cvss_score_v3").Optional().Nillable(),
		field.String("cvss_vector_v3").Default("").MaxLen(255),
		field.Float("cvss_score_v2").Optional().Nillable(),
		field.String("cvss_vector_v2").Default("").MaxLen(255),
		field.Strings("cwe_ids").Optional(),
		field.Text("description").Default(""),
		field.Strings("links").Optional(),
		field.Text("vendor_attributes").Default("").Annotations(entgql.Skip()).
			Comment("The scanner's vendor attributes as JSON text, exported verbatim in the CSV."),
	}
}

// Edges of the Vulnerability.
func (Vulnerability) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("reports", ScanReport.Type).Ref("vulnerabilities").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Vulnerability.
func (Vulnerability) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("cve_id"),
		index.Fields("package"),
		index.Fields("severity_rank"),
	}
}

// Annotations of the Vulnerability.
func (Vulnerability) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
