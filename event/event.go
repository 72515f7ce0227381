// Package event is Berth's event bus: what happened in the registry (an artifact pushed, a tag
// deleted, …), published once and delivered to every subscriber on every replica through
// PostgreSQL LISTEN/NOTIFY. It owns the event types and their delivery, never their consequences.
package event

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// Type names what happened. The values are the GraphQL EventType enum's.
type Type string

// The event types.
const (
	ArtifactPushed    Type = "ARTIFACT_PUSHED"
	ArtifactPulled    Type = "ARTIFACT_PULLED"
	ArtifactDeleted   Type = "ARTIFACT_DELETED"
	TagCreated        Type = "TAG_CREATED"
	TagDeleted        Type = "TAG_DELETED"
	RepositoryDeleted Type = "REPOSITORY_DELETED"
	ProjectCreated    Type = "PROJECT_CREATED"
	ProjectDeleted    Type = "PROJECT_DELETED"
	PurgeProgress     Type = "PURGE_PROGRESS"
	PurgeCompleted    Type = "PURGE_COMPLETED"
	ExportStarted     Type = "EXPORT_STARTED"
	ExportProgress    Type = "EXPORT_PROGRESS"
	ExportCompleted   Type = "EXPORT_COMPLETED"
	ExportFailed      Type = "EXPORT_FAILED"
	GCStarted         Type = "GC_STARTED"
	GCProgress        Type = "GC_PROGRESS"
	GCCompleted       Type = "GC_COMPLETED"
	ScanStarted       Type = "SCAN_STARTED"
	ScanCompleted     Type = "SCAN_COMPLETED"
	ScanFailed        Type = "SCAN_FAILED"
	ScanStopped       Type = "SCAN_STOPPED"
	// ReplicationStarted, ReplicationProgress and ReplicationCompleted report an execution
	// (JobID is its id).
	ReplicationStarted   Type = "REPLICATION_STARTED"
	ReplicationProgress  Type = "REPLICATION_PROGRESS"
	ReplicationCompleted Type = "REPLICATION_COMPLETED"
	// SignatureVerified: an artifact's signature status became VERIFIED (Digest is the artifact,
	// Tag the key that verified it). SignatureFailed: it became UNVERIFIED (Tag is empty).
	SignatureVerified Type = "SIGNATURE_VERIFIED"
	SignatureFailed   Type = "SIGNATURE_FAILED"
	// QuotaWarning is a project's usage reaching the warning share of its quota; QuotaExceeded a
	// push refused (or, without a reservation, accepted) past it. Harbor's names.
	QuotaWarning  Type = "QUOTA_WARNING"
	QuotaExceeded Type = "QUOTA_EXCEED"
	// RetentionStarted, RetentionProgress and RetentionCompleted report a tag retention run (JobID
	// is its id; ProjectID its project).
	RetentionStarted   Type = "RETENTION_STARTED"
	RetentionProgress  Type = "RETENTION_PROGRESS"
	RetentionCompleted Type = "RETENTION_COMPLETED"
)

// Types lists every event type.
var Types = []Type{ArtifactPushed, ArtifactPulled, ArtifactDeleted, TagCreated, TagDeleted, RepositoryDeleted,
	ProjectCreated, ProjectDeleted, PurgeProgress, PurgeCompleted,
	ExportStarted, ExportProgress, ExportCompleted, ExportFailed, GCStarted, GCProgress, GCCompleted,
	ScanStarted, ScanCompleted, ScanFailed, ScanStopped, ReplicationStarted, ReplicationProgress, ReplicationCompleted,
	SignatureVerified, SignatureFailed,
	QuotaWarning, QuotaExceeded, RetentionStarted, RetentionProgress, RetentionCompleted}

// WebhookTypes are the types a project's webhook policy can receive: what happens to a project's
// content. Job events belong to no project, and a project's policies do not exist yet when it is
// created and are deleted with it, so those types would never be delivered.
var WebhookTypes = []Type{ArtifactPushed, ArtifactPulled, ArtifactDeleted, TagCreated, TagDeleted, RepositoryDeleted,
	SignatureVerified, SignatureFailed,
	QuotaWarning, QuotaExceeded, RetentionCompleted}

// ForWebhooks reports whether a project's webhook policy can receive events of type t.
func (t Type) ForWebhooks() bool {
	for _, w := range WebhookTypes {
		if t == w {
			return true
		}
	}
	return false
}

// UnmarshalGQL reads a GraphQL EventType.
func (t *Type) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("event type must be a string, not %T", v)
	}
	for _, known := range Types {
		if Type(s) == known {
			*t = known
			return nil
		}
	}
	return fmt.Errorf("unknown event type %q", s)
}

// MarshalGQL writes a GraphQL EventType.
func (t Type) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(t))) }

// Event is one thing that happened, with who did it and when.
type Event struct {
	ID          int64     `json:"id"`
	Type        Type      `json:"type"`
	OccurredAt  time.Time `json:"occurred_at"`
	Operator    string    `json:"operator"`
	ProjectID   int       `json:"project_id,omitempty"`
	ProjectName string    `json:"project_name,omitempty"`
	Repository  string    `json:"repository,omitempty"`
	Digest      string    `json:"digest,omitempty"`
	Tag         string    `json:"tag,omitempty"`
	SourceIP    string    `json:"source_ip,omitempty"`
	JobID       int64     `json:"job_id,omitempty"` // for job events: the run's id (a purge run, a GC run, an export, …)
	Count       int64     `json:"count,omitempty"`  // for batched events (pulls): how many times
}
