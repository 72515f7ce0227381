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

// ReplicationFilter narrows what a replication policy copies (Harbor's filters).
type ReplicationFilter struct {
	// Repository is a doublestar glob on the repository name, as CVE export's.
	Repository string `json:"repository,omitempty"`
	// Tag is a doublestar glob on tags; TagExclude makes it "every tag but these".
	Tag        string `json:"tag,omitempty"`
	TagExclude bool   `json:"tag_exclude,omitempty"`
	// Labels: an artifact must carry every one of these label names (push-based only).
	Labels []string `json:"labels,omitempty"`
	// Resource is "image", "artifact" or "" for both.
	Resource string `json:"resource,omitempty"`
}

// ReplicationPolicy copies artifacts between this registry and a remote one.
type ReplicationPolicy struct {
	ent.Schema
}

// Fields of the ReplicationPolicy.
func (ReplicationPolicy) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().NotEmpty().MaxLen(255),
		field.String("description").Default("").MaxLen(1024),
		field.Enum("direction").NamedValues("Push", "PUSH", "Pull", "PULL"),
		field.Int("registry_id").Comment("The remote side: destination of a push, source of a pull."),
		field.String("source_namespace").Default("").MaxLen(255).
			Comment("Push: the local project to copy from (empty: every project). Pull: the remote namespace to list."),
		field.JSON("filter", ReplicationFilter{}),
		field.String("dest_namespace").Default("").MaxLen(255),
		field.Int("dest_namespace_replace_count").Default(0).
			Comment("Flattening: how many leading path components of the source repository the destination namespace replaces (-1 all but the last)."),
		field.Enum("trigger").NamedValues("Manual", "MANUAL", "Scheduled", "SCHEDULED", "EventBased", "EVENT_BASED").Default("MANUAL"),
		field.String("cron").Default("").MaxLen(128),
		field.Bool("override").Default(true),
		field.Bool("enabled").Default(true),
		field.Bool("replicate_deletion").Default(false),
		field.Bool("include_proxy_cache").Default(false).Comment("Push: copy from local proxy-cache projects too."),
		field.Int("speed_kb").Default(0).Comment("Bandwidth limit in KB/s per execution; 0 unlimited."),
		field.Bool("copy_by_chunk").Default(false),
		field.Time("last_scheduled_at").Optional().Nillable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
	}
}

// Edges of the ReplicationPolicy.
func (ReplicationPolicy) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("registry", RegistryEndpoint.Type).Ref("policies").Field("registry_id").Unique().Required(),
		edge.To("executions", ReplicationExecution.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Annotations of the ReplicationPolicy.
func (ReplicationPolicy) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// ReplicationExecution is one run of a replication policy: its tasks, totals and log.
type ReplicationExecution struct {
	ent.Schema
}

// Fields of the ReplicationExecution.
func (ReplicationExecution) Fields() []ent.Field {
	return []ent.Field{
		field.Int("policy_id"),
		field.Enum("status").NamedValues("Pending", "PENDING", "Running", "RUNNING", "Success", "SUCCESS",
			"Error", "ERROR", "Stopped", "STOPPED").Default("PENDING"),
		field.Enum("trigger").NamedValues("Manual", "MANUAL", "Scheduled", "SCHEDULED", "EventBased", "EVENT_BASED"),
		field.Int64("event_id").Optional().Nillable().Comment("The event an event-based run replicates."),
		field.Bool("planned").Default(false).Comment("Its tasks have been listed."),
		field.Int("total").Default(0),
		field.Int("succeeded").Default(0),
		field.Int("failed").Default(0),
		field.Int("skipped").Default(0),
		field.Int("stopped").Default(0),
		field.Int64("bytes").Default(0),
		field.Text("log").Default(""),
		field.String("operator").Default("").MaxLen(255),
		field.Int64("job_id").Optional().Nillable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("started_at").Optional().Nillable(),
		field.Time("ended_at").Optional().Nillable(),
	}
}

// Edges of the ReplicationExecution.
func (ReplicationExecution) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("policy", ReplicationPolicy.Type).Ref("executions").Field("policy_id").Unique().Required(),
		edge.To("tasks", ReplicationTask.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the ReplicationExecution: an event replicates once per policy.
func (ReplicationExecution) Indexes() []ent.Index {
	return []ent.Index{index.Fields("policy_id", "event_id").Unique(), index.Fields("status")}
}

// Annotations of the ReplicationExecution.
func (ReplicationExecution) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// ReplicationTask is the copy (or deletion) of one artifact, with its accessories, in an execution.
type ReplicationTask struct {
	ent.Schema
}

// Fields of the ReplicationTask.
func (ReplicationTask) Fields() []ent.Field {
	return []ent.Field{
		field.Int("execution_id"),
		field.Enum("operation").NamedValues("Copy", "copy", "Deletion", "deletion").Default("copy"),
		field.String("resource_type").Default("image").MaxLen(32),
		field.String("src_resource").MaxLen(1024).Comment("repository:tag or repository@digest on the source."),
		field.String("dst_resource").MaxLen(1024),
		field.String("digest").Default("").MaxLen(128),
		field.Strings("tags").Optional(),
		field.Enum("status").NamedValues("Pending", "PENDING", "Running", "RUNNING", "Success", "SUCCESS",
			"Failed", "FAILED", "Skipped", "SKIPPED", "Stopped", "STOPPED").Default("PENDING"),
		field.Int64("bytes").Default(0).Comment("Bytes sent (blobs already on the destination are not)."),
		field.Int64("duration_ms").Default(0),
		field.Int("attempts").Default(0),
		field.String("message").Default("").MaxLen(2048).Comment("Why it failed or was skipped."),
		field.Time("started_at").Optional().Nillable(),
		field.Time("ended_at").Optional().Nillable(),
	}
}

// Edges of the ReplicationTask.
func (ReplicationTask) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("execution", ReplicationExecution.Type).Ref("tasks").Field("execution_id").Unique().Required(),
	}
}

// Indexes of the ReplicationTask.
func (ReplicationTask) Indexes() []ent.Index {
	return []ent.Index{index.Fields("execution_id", "status")}
}

// Annotations of the ReplicationTask.
func (ReplicationTask) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
