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

// RobotPermission is one grant of a robot account: an action of the role table (resource and verb,
// as in "repository" + "pull") in one project, or in every project when Namespace is "*".
type RobotPermission struct {
	// Namespace is the project's name, or "*" for every project (system robots only).
	Namespace string `json:"namespace"`
	// ProjectID pins the grant to the project that had the name when it was given, so a project
	// deleted and created again under the same name is not reached. 0 with Namespace "*".
	ProjectID int    `json:"project_id,omitempty"`
	Resource  string `json:"resource"`
	Action    string `json:"action"`
}

// Robot is a robot account: a non-human identity for CI and scripts, at system level
// (robot$<name>) or project level (robot$<project>+<name>). Only a hash of its secret is stored.
type Robot struct {
	ent.Schema
}

// Fields of the Robot.
func (Robot) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().NotEmpty().MaxLen(255).Immutable().
			Comment("The full login name: robot$<name> or robot$<project>+<name>."),
		field.String("description").Default("").MaxLen(1024),
		field.Enum("level").NamedValues("System", "SYSTEM", "Project", "PROJECT").Immutable(),
		field.Int("project_id").Optional().Nillable().Immutable().Comment("The project of a project robot."),
		field.JSON("permissions", []RobotPermission{}).Annotations(entgql.Type("[RobotPermission!]")),
		field.Int("duration").Default(-1).Comment("Lifetime in days from creation; -1 never expires."),
		field.Time("expires_at").Optional().Nillable(),
		field.Bool("disabled").Default(false),
		field.Bytes("secret_hash").Sensitive().Annotations(entgql.Skip()).
			Comment("SHA-256 of the secret (256 random bits, so a slow hash adds nothing)."),
		field.String("created_by").Default("").MaxLen(255),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
		field.Time("last_used_at").Optional().Nillable(),
	}
}

// Edges of the Robot.
func (Robot) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("project", Project.Type).Ref("robots").Field("project_id").Unique().Immutable().
			Annotations(entgql.Skip()),
	}
}

// Indexes of the Robot.
func (Robot) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id")}
}

// Annotations of the Robot.
func (Robot) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
