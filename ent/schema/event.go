package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/berth-registry/berth/event"
)

// Event is something that happened, written in the same transaction as the change it reports
// (an outbox): the dispatcher then hands it to webhooks and subscribers exactly once, so a crash
// between the change and its delivery loses nothing.
type Event struct {
	ent.Schema
}

// Fields of the Event.
func (Event) Fields() []ent.Field {
	return []ent.Field{
		field.String("type").GoType(event.Type("")).MaxLen(64),
		field.Time("occurred_at").Default(time.Now).Immutable(),
		field.String("operator").Default("").MaxLen(255),
		field.Int("project_id").Optional().Nillable(),
		field.String("project_name").Default("").MaxLen(255),
		field.String("repository").Default("").MaxLen(255),
		field.String("digest").Default("").MaxLen(255),
		field.String("tag").Default("").MaxLen(128),
		field.String("source_ip").Default("").MaxLen(64),
		field.Int64("job_id").Default(0).Comment("For job events: the run's id."),
		field.Int64("count").Default(1).Comment("How many times it happened, for events recorded in batches (pulls)."),
		field.Time("dispatched_at").Optional().Nillable(),
	}
}

// Indexes of the Event.
func (Event) Indexes() []ent.Index {
	return []ent.Index{
		// The dispatcher's queue: only undispatched rows.
		index.Fields("id").Annotations(entsql.IndexWhere("dispatched_at IS NULL")).StorageKey("event_undispatched"),
		index.Fields("occurred_at"),
	}
}

// Annotations of the Event.
func (Event) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
