package audit

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/berth-registry/berth/event"
)

// Consumer turns registry events into audit entries inside the event dispatcher's transaction:
// each push, delete and tag change is recorded exactly once, whichever replica dispatches it, and
// never on the request path. Its insert takes the commit-order lock (see commitOrderLock), which
// the dispatcher's transaction holds until it commits: register it as the last consumer, so the
// lock is held for as short a time as possible. Pulls are not taken from events (those come in batches with counts):
// the registry records each pull through the Writer.
type Consumer struct{}

// NewConsumer returns the event consumer.
func NewConsumer() *Consumer { return &Consumer{} }

// Consume records the entries for events.
func (c *Consumer) Consume(ctx context.Context, tx pgx.Tx, events []event.Event) error {
	entries := make([]Entry, 0, len(events))
	for _, e := range events {
		if entry, ok := fromEvent(e); ok {
			entries = append(entries, entry)
		}
	}
	if len(entries) == 0 {
		return nil
	}
	return insert(ctx, tx, entries)
}

// fromEvent maps an event to Harbor's audit vocabulary: a push is "create artifact repo:tag".
func fromEvent(e event.Event) (Entry, bool) {
	entry := Entry{Time: e.OccurredAt, User: e.Operator, Project: e.ProjectName, SourceIP: e.SourceIP}
	ref := e.Repository + "@" + e.Digest
	if e.Tag != "" {
		ref = e.Repository + ":" + e.Tag
	}
	switch e.Type {
	case event.ArtifactPushed:
		entry.Operation, entry.ResourceType, entry.Resource = OpCreate, "artifact", ref
	case event.ArtifactDeleted:
		entry.Operation, entry.ResourceType, entry.Resource = OpDelete, "artifact", e.Repository+"@"+e.Digest
	case event.TagCreated:
		entry.Operation, entry.ResourceType, entry.Resource = OpCreate, "tag", e.Repository+":"+e.Tag
	case event.TagDeleted:
		entry.Operation, entry.ResourceType, entry.Resource = OpDelete, "tag", e.Repository+":"+e.Tag
	case event.RepositoryDeleted:
		entry.Operation, entry.ResourceType, entry.Resource = OpDelete, "repository", e.Repository
	case event.ProjectCreated:
		entry.Operation, entry.ResourceType, entry.Resource = OpCreate, "project", e.ProjectName
	case event.ProjectDeleted:
		entry.Operation, entry.ResourceType, entry.Resource = OpDelete, "project", e.ProjectName
	default:
		return Entry{}, false
	}
	if entry.User == "" {
		entry.User = "anonymous"
	}
	return entry, true
}
