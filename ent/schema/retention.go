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

// RetentionPolicy is a project's tag retention policy: its rules (retention.Rule, as JSON) and
// its schedule (worker/schedule's rule, as JSON).
type RetentionPolicy struct {
	ent.Schema
}

// Fields of the RetentionPolicy.
func (RetentionPolicy) Fields() []ent.Field {
	return []ent.Field{
		field.Int("project_id").Unique(),
		field.Text("rules").Default("[]"),
		field.Text("schedule").Default(""),
		field.Time("last_scheduled_at").Optional().Nillable(),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
	}
}

// Annotations of the RetentionPolicy.
func (RetentionPolicy) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// RetentionRun is one execution of a project's retention policy (Harbor's retention execution):
// its status, counts, per-repository results and log.
type RetentionRun struct {
	ent.Schema
}

// Fields of the RetentionRun.
func (RetentionRun) Fields() []ent.Field {
	return []ent.Field{
		field.Int("project_id"),
		field.Enum("status").NamedValues("Pending", "PENDING", "Running", "RUNNING", "Success", "SUCCESS",
			"Error", "ERROR", "Stopped", "STOPPED").Default("PENDING"),
		field.Enum("trigger").NamedValues("Manual", "MANUAL", "Schedule", "SCHEDULE"),
		field.Bool("dry_run").Default(false),
		field.Int64("artifacts_total").Default(0),
		field.Int64("artifacts_retained").Default(0),
		field.Int64("artifacts_deleted").Default(0),
		field.Int64("failures").Default(0),
		field.Text("results").Default("[]").Comment("Per repository: retained, deleted (digests and tags), as JSON."),
		field.Text("log").Default(""),
		field.String("operator").Default("").MaxLen(255),
		field.Int64("job_id").Optional().Nillable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("started_at").Optional().Nillable(),
		field.Time("ended_at").Optional().Nillable(),
	}
}

// Indexes of the RetentionRun.
func (RetentionRun) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "created_at"), index.Fields("status")}
}

// Annotations of the RetentionRun.
func (RetentionRun) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Edges of the RetentionPolicy.
func (RetentionPolicy) Edges() []ent.Edge {
	return []ent.Edge{edge.From("project", Project.Type).Ref("retention_policy").Field("project_id").Unique().Required()}
}

// Edges of the RetentionRun.
func (RetentionRun) Edges() []ent.Edge {
	return []ent.Edge{edge.From("project", Project.Type).Ref("retention_runs").Field("project_id").Unique().Required()}
}
