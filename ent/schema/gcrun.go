package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// GCRun is one garbage collection or upload purge: its parameters, progress, counts and log.
type GCRun struct {
	ent.Schema
}

// Fields of the GCRun.
func (GCRun) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").NamedValues("GC", "GC", "UploadPurge", "UPLOAD_PURGE").Default("GC"),
		field.Enum("status").NamedValues("Pending", "PENDING", "Running", "RUNNING", "Success", "SUCCESS",
			"Error", "ERROR", "Stopped", "STOPPED").Default("PENDING"),
		field.Enum("trigger").NamedValues("Manual", "MANUAL", "Schedule", "SCHEDULE"),
		field.Bool("dry_run").Default(false),
		field.Bool("delete_untagged").Default(false),
		field.Bool("remove_orphans").Default(false).Comment("Delete blobs storage holds that the database never knew (else only report them)."),
		field.Int("workers").Default(1),
		field.Int64("window_seconds").Default(0).Comment("Blobs and uploads touched this recently are never candidates."),
		field.Int64("upload_age_seconds").Default(0).Comment("Upload purge: uploads older than this are removed."),
		field.Int64("artifacts_deleted").Default(0),
		field.Int64("manifests_deleted").Default(0),
		field.Int64("blobs_marked").Default(0).Comment("Blobs the mark found unreferenced: what the sweep works through, for a progress bar."),
		field.Int64("blobs_deleted").Default(0).Comment("Blobs (manifests included) removed, or for a dry run that would be."),
		field.Int64("bytes_freed").Default(0),
		field.Int64("orphans").Default(0).Comment("Blobs in storage the database never knew."),
		field.Int64("orphan_bytes").Default(0),
		field.Int64("uploads_purged").Default(0),
		field.Int64("failures").Default(0),
		field.Text("log").Default(""),
		field.String("operator").Default("").MaxLen(255),
		field.Int64("job_id").Optional().Nillable().Annotations(entgql.Skip()),
		field.Time("created_at").Default(time.Now).Immutable().Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("started_at").Optional().Nillable(),
		field.Time("ended_at").Optional().Nillable(),
	}
}

// Indexes of the GCRun.
func (GCRun) Indexes() []ent.Index {
	return []ent.Index{index.Fields("kind", "created_at"), index.Fields("status")}
}

// Annotations of the GCRun.
func (GCRun) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
