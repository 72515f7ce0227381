// Package event is Berth's event bus: what happened in the registry (an artifact pushed, a tag
// deleted, …), published once and delivered to every subscriber on every replica through
// PostgreSQL LISTEN/NOTIFY. It owns the event types and their delivery, never their consequences.
package event

import "time"

// Type names what happened. The values are the GraphQL EventType enum's.
type Type string

// The event types.
const (
	ArtifactPushed    Type = "ARTIFACT_PUSHED"
	ArtifactDeleted   Type = "ARTIFACT_DELETED"
	TagCreated        Type = "TAG_CREATED"
	TagDeleted        Type = "TAG_DELETED"
	RepositoryDeleted Type = "REPOSITORY_DELETED"
	ProjectCreated    Type = "PROJECT_CREATED"
	ProjectDeleted    Type = "PROJECT_DELETED"
)

// Event is one thing that happened, with who did it and when.
type Event struct {
	Type        Type      `json:"type"`
	OccurredAt  time.Time `json:"occurred_at"`
	Operator    string    `json:"operator"`
	ProjectID   int       `json:"project_id,omitempty"`
	ProjectName string    `json:"project_name,omitempty"`
	Repository  string    `json:"repository,omitempty"`
	Digest      string    `json:"digest,omitempty"`
	Tag         string    `json:"tag,omitempty"`
}
