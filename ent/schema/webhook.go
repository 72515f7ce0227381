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

	"github.com/berth-registry/berth/event"
)

// WebhookPolicy sends a project's events of chosen types to an HTTP endpoint.
type WebhookPolicy struct {
	ent.Schema
}

// Fields of the WebhookPolicy.
func (WebhookPolicy) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(255),
		field.String("description").Default("").MaxLen(1024),
		field.Bool("enabled").Default(true),
		field.JSON("event_types", []event.Type{}).Annotations(entgql.Type("[EventType!]")),
		field.String("address").NotEmpty().MaxLen(2048).Comment("The receiver's URL."),
		field.String("auth_header").Default("").Sensitive().Annotations(entgql.Skip()).
			Comment("Sent as the Authorization header."),
		field.Bool("skip_cert_verify").Default(false),
		field.Enum("payload_format").NamedValues("Harbor", "HARBOR", "CloudEvents", "CLOUDEVENTS").Default("HARBOR"),
		field.String("secret").Sensitive().Annotations(entgql.Skip()).
			Comment("HMAC-SHA256 key for the X-Berth-Signature-256 header."),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
		field.Int("project_id"),
	}
}

// Edges of the WebhookPolicy.
func (WebhookPolicy) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("project", Project.Type).Ref("webhook_policies").Field("project_id").Unique().Required(),
		edge.To("deliveries", WebhookDelivery.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.RelayConnection()),
	}
}

// Indexes of the WebhookPolicy.
func (WebhookPolicy) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "name").Unique()}
}

// Annotations of the WebhookPolicy.
func (WebhookPolicy) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}

// WebhookDelivery is one attempt series to send one event to one policy's endpoint.
type WebhookDelivery struct {
	ent.Schema
}

// Fields of the WebhookDelivery.
func (WebhookDelivery) Fields() []ent.Field {
	return []ent.Field{
		field.String("event_type").MaxLen(64),
		field.Text("payload").Comment("The exact body sent, so a receiver's complaint can be checked."),
		field.Enum("status").NamedValues("Pending", "PENDING", "Succeeded", "SUCCEEDED", "Failed", "FAILED").Default("PENDING"),
		field.Int("attempts").Default(0),
		field.Int("status_code").Optional().Nillable().Comment("HTTP status of the last attempt."),
		field.Int64("latency_ms").Optional().Nillable().Comment("Duration of the last attempt."),
		field.String("response_excerpt").Default("").MaxLen(1024),
		field.String("error").Default("").MaxLen(1024),
		field.Bool("test").Default(false).Comment("Sent by \"send a test event\"."),
		field.Time("created_at").Default(time.Now).Immutable().Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
		field.Int("policy_id"),
	}
}

// Edges of the WebhookDelivery.
func (WebhookDelivery) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("policy", WebhookPolicy.Type).Ref("deliveries").Field("policy_id").Unique().Required(),
	}
}

// Indexes of the WebhookDelivery.
func (WebhookDelivery) Indexes() []ent.Index {
	return []ent.Index{index.Fields("policy_id", "created_at")}
}

// Annotations of the WebhookDelivery.
func (WebhookDelivery) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
