package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AuditLog is one recorded operation. It names its project by id and name but has no foreign key:
// the log of a project outlives the project.
type AuditLog struct {
	ent.Schema
}

// Fields of the AuditLog.
func (AuditLog) Fields() []ent.Field {
	return []ent.Field{
		field.Time("occurred_at").Default(time.Now).Immutable().Annotations(entgql.OrderField("OCCURRED_AT")),
		field.String("username").MaxLen(255).Annotations(entgql.OrderField("USERNAME")),
		field.Int("project_id").Optional().Nillable(),
		field.String("project_name").Default("").MaxLen(255),
		field.String("operation").MaxLen(32).Annotations(entgql.OrderField("OPERATION")),
		field.String("resource_type").MaxLen(32).Annotations(entgql.OrderField("RESOURCE_TYPE")),
		field.String("resource").MaxLen(1024),
		field.String("source_ip").Default("").MaxLen(64),
		field.Enum("result").NamedValues("Success", "SUCCESS", "Failure", "FAILURE").Default("SUCCESS"),
		field.Bool("forwarded").Default(true).Annotations(entgql.Skip()).
			Comment("False while the row waits for the syslog forwarder."),
	}
}

// Indexes of the AuditLog: every filter of the GraphQL query, each with time for range scans and
// sorting, so they stay fast on tens of millions of rows.
func (AuditLog) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("occurred_at"),
		index.Fields("project_id", "occurred_at"),
		index.Fields("username", "occurred_at"),
		index.Fields("operation", "occurred_at"),
		index.Fields("resource_type", "occurred_at"),
		// resource globs with a literal prefix become a LIKE 'prefix%' range scan.
		index.Fields("resource").Annotations(entsql.OpClass("text_pattern_ops")),
		// The forwarder's queue: only rows not yet sent.
		index.Fields("id").Annotations(entsql.IndexWhere("NOT forwarded")).StorageKey("auditlog_unforwarded"),
	}
}

// Annotations of the AuditLog.
func (AuditLog) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Setting is one piece of system configuration changed at run time (audit forwarding, the purge
// schedule, …), a JSON value under a key. Every replica reads the same rows.
type Setting struct {
	ent.Schema
}

// Fields of the Setting.
func (Setting) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").Unique().NotEmpty().MaxLen(128),
		field.Text("value"),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
	}
}

// Annotations of the Setting.
func (Setting) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}

// PurgeRun is one execution of the audit-log purge (log rotation): its parameters, progress and log.
type PurgeRun struct {
	ent.Schema
}

// Fields of the PurgeRun.
func (PurgeRun) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("status").NamedValues("Pending", "PENDING", "Running", "RUNNING", "Success", "SUCCESS",
			"Error", "ERROR", "Stopped", "STOPPED").Default("PENDING"),
		field.Enum("trigger").NamedValues("Manual", "MANUAL", "Schedule", "SCHEDULE"),
		field.Int("retention_hours"),
		field.Strings("operations"),
		field.Bool("dry_run"),
		field.Int64("rows_purged").Default(0).Comment("Rows deleted, or for a dry run the rows that would be."),
		field.Text("log").Default(""),
		field.String("operator").Default("").MaxLen(255),
		field.Int64("job_id").Optional().Nillable().Annotations(entgql.Skip()),
		field.Time("created_at").Default(time.Now).Immutable().Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("started_at").Optional().Nillable(),
		field.Time("ended_at").Optional().Nillable(),
	}
}

// Indexes of the PurgeRun.
func (PurgeRun) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at")}
}

// Annotations of the PurgeRun.
func (PurgeRun) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
