package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// RegistryEndpoint is a remote registry that replication copies to or from (and that a
// proxy-cache project pulls through). Its credential is stored sealed (AES-GCM) and never read
// back by any API.
type RegistryEndpoint struct {
	ent.Schema
}

// Fields of the RegistryEndpoint.
func (RegistryEndpoint) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().NotEmpty().MaxLen(255),
		field.String("description").Default("").MaxLen(1024),
		field.Enum("type").NamedValues("Berth", "berth", "Harbor", "harbor", "DockerRegistry", "docker-registry",
			"DockerHub", "docker-hub"),
		field.String("url").NotEmpty().MaxLen(2048).Comment("The registry's base URL (scheme and host, no /v2/)."),
		field.Enum("credential_type").NamedValues("None", "none", "Basic", "basic", "Bearer", "bearer",
			"RobotSecret", "robot_secret").Default("none"),
		field.String("access_key").Default("").MaxLen(255).Comment("User or robot name; empty for bearer tokens."),
		field.Bytes("access_secret_sealed").Optional().Sensitive().
			Comment("The password, token or robot secret, sealed with the instance's secret key (nonce ‖ AES-GCM)."),
		field.Bool("insecure").Default(false).Comment("Skip TLS certificate verification."),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
	}
}

// Edges of the RegistryEndpoint.
func (RegistryEndpoint) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("policies", ReplicationPolicy.Type),
		edge.To("proxy_projects", Project.Type).Comment("Projects that are proxy caches of this registry."),
	}
}

// Annotations of the RegistryEndpoint.
func (RegistryEndpoint) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
