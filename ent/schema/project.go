package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Project groups repositories and is the unit of membership and policy.
type Project struct {
	ent.Schema
}

// Fields of the Project.
func (Project) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().NotEmpty().MaxLen(255).Immutable().
			Comment("Part of every repository name in the project, so it never changes.").
			Annotations(entgql.OrderField("NAME")),
		field.Bool("public").Default(false).Comment("Anyone, even anonymous, may pull."),
		field.Bool("auto_scan").Default(false).Comment("Scan every artifact when it is pushed."),
		field.Bool("prevent_vulnerable").Default(false).Comment("Refuse pulls of artifacts at or above severity_threshold."),
		field.Bool("require_verified_signature").Default(false).
			Comment("Refuse manifest pulls of artifacts whose signature status is not VERIFIED (signatures, attestations and SBOMs stay pullable)."),
		field.Enum("severity_threshold").
			NamedValues("Low", "LOW", "Medium", "MEDIUM", "High", "HIGH", "Critical", "CRITICAL").
			Default("CRITICAL"),
		field.Strings("cve_allowlist").Optional().Comment("CVE ids the pull-prevention policy ignores in this project."),
		field.Int("scanner_id").Optional().Nillable().Comment("The scanner this project uses; nil means the default scanner."),
		field.Int("proxy_registry_id").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationUpdateInput)).
			Comment("Set for a proxy-cache project: the registry endpoint it pulls through. Replication never pushes into one."),
		field.String("proxy_namespace").Default("").MaxLen(255).Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationUpdateInput)).
			Comment("Proxy cache: the upstream namespace repositories are pulled from (e.g. library on Docker Hub); empty means the repository's own path without the project."),
		field.Int("proxy_freshness_seconds").Default(300).Min(0).Max(86400).
			Annotations(entgql.Skip(entgql.SkipWhereInput)).
			Comment("Proxy cache: how long a cached tag is served without asking upstream whether it moved."),
		field.Int64("quota_limit").Default(-1).Min(-1).
			Annotations(entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)).
			Comment("Storage quota in bytes; -1 is unlimited. Set by system administrators (quota.Service)."),
		field.Int64("quota_used").Default(0).
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("Live usage: bytes of the distinct blobs the project's artifacts link to, kept by the indexer; the recompute job corrects it."),
		field.Int64("quota_reserved").Default(0).
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("Bytes reserved by uploads and manifest pushes not yet indexed (the sum of the project's quota_reservations)."),
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput)),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now).
			Annotations(entgql.OrderField("UPDATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Edges of the Project.
func (Project) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("repositories", Repository.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("members", Member.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Comment("Exposed in GraphQL as memberList, which checks the member:read permission.").
			Annotations(entgql.Skip()),
		edge.To("webhook_policies", WebhookPolicy.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Comment("Exposed in GraphQL as webhookPolicies, which checks the webhook permission.").
			Annotations(entgql.Skip()),
		edge.To("robots", Robot.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Comment("Exposed in GraphQL as robots(projectID), which checks the robot:read permission.").
			Annotations(entgql.Skip()),
		edge.From("proxy_registry", RegistryEndpoint.Type).Ref("proxy_projects").Field("proxy_registry_id").Unique().
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput, entgql.SkipMutationUpdateInput)),
		edge.To("trusted_keys", TrustedKey.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Comment("Exposed in GraphQL as trustedKeys(projectID), which checks the trust-policy permission.").
			Annotations(entgql.Skip()),
		edge.To("immutable_rules", ImmutableRule.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("quota_reservations", QuotaReservation.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("retention_policy", RetentionPolicy.Type).Unique().
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("retention_runs", RetentionRun.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("labels", Label.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)).
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)),
	}
}

// Annotations of the Project.
func (Project) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}
