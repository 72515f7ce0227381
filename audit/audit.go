// Package audit owns the audit log: what is recorded (Entry), how it reaches PostgreSQL without
// slowing requests (Writer, a bounded queue written in batches, with a spool on local disk for
// when the queue is full or the database is away), how registry events become entries
// (Consumer), the order rows commit in (one lock for every inserter), the run-time settings
// (forwarding endpoint, pull logging), and the forwarder that sends entries to syslog in commit
// order. Reading the log and changing the settings (who may, and the endpoint check) is package
// auditlog's; purging it is worker/purge's.
package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/berth-registry/berth/auth"
)

// Operations are the values of an entry's Operation.
const (
	OpCreate = "create"
	OpDelete = "delete"
	OpUpdate = "update"
	OpPull   = "pull"
	OpLogin  = "login"
)

// Operations lists every operation Berth records, for validation of filters and purges.
var Operations = []string{OpCreate, OpDelete, OpUpdate, OpPull, OpLogin}

// Entry is one recorded operation.
type Entry struct {
	Time         time.Time
	User         string // username, robot name, or "anonymous"
	Project      string // project name, or ""
	Operation    string
	ResourceType string // project, repository, artifact, tag, user, member, robot, api-token, webhook, configuration, session
	Resource     string
	SourceIP     string
	Failed       bool
}

// FromContext fills the who and where of an entry from the request context.
func FromContext(ctx context.Context, e Entry) Entry {
	if e.User == "" {
		e.User = auth.PrincipalFrom(ctx).Name
	}
	if e.SourceIP == "" {
		e.SourceIP = auth.SourceIPFrom(ctx)
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	return e
}

// commitOrderLock is the transaction-level advisory lock ("berthaud") every transaction that
// inserts audit rows takes before it takes ids, and holds until it commits or rolls back.
//
// It is what makes forwarding in id order the same as forwarding in commit order, across any
// number of replicas. Without it ids are taken when a row is inserted, not when it commits: a
// transaction that took id 10 can commit after one that took id 11, so a reader that has seen 11
// may see 10 later (the forwarder sent it out of order). With it, a transaction takes its ids only
// after every earlier inserter has ended, and PostgreSQL makes a commit visible before it
// releases the transaction's locks, so the committed rows always form a prefix of the ids: when a
// reader sees id n, every lower id is either visible too or will never be (rolled back). Readers
// take no lock. The price is that audit inserts are serialised: each holds the lock for one
// statement and its commit (the event dispatcher's audit consumer runs last in its transaction
// for that reason).
//
// The alternatives were weaker. Reading only rows older than the oldest transaction in flight
// (pg_snapshot_xmin) keeps no gaps but still sends in id order, not commit order, and any long
// transaction anywhere in the cluster (a CVE export's cursor) stalls forwarding. A second
// sequence assigned later by the forwarder orders rows by when it first saw them, so ids would
// reach the receiver out of order and it could no longer drop a resent copy by comparing ids.
const commitOrderLock int64 = 0x6265727468617564

// ForwardingOnSQL is true, in SQL, while a forwarding endpoint is configured. Rows written while it
// is off are born forwarded (turning forwarding on does not replay history); purges keep rows
// not yet forwarded while it is on. Reading the setting in the statement, rather than this
// replica's copy (refreshed every two seconds), means no row written after forwarding was turned
// on, on any replica, is left out.
const ForwardingOnSQL = `coalesce((SELECT value::jsonb->>'forward_endpoint' <> '' FROM settings WHERE key = 'audit'), false)`

// tx is what inserts run in: a transaction of the writer's or of the event dispatcher's.
type tx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insert writes entries in one statement, in order (ids follow the slice), after taking the
// commit-order lock, which db's transaction then holds until it ends.
func insert(ctx context.Context, db tx, entries []Entry) error {
	n := len(entries)
	times := make([]time.Time, n)
	cols := make([][]string, 7)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	for i, e := range entries {
		e = bounded(e)
		times[i] = e.Time
		result := "SUCCESS"
		if e.Failed {
			result = "FAILURE"
		}
		for j, v := range []string{e.User, e.Project, e.Operation, e.ResourceType, e.Resource, e.SourceIP, result} {
			cols[j][i] = clean(v)
		}
	}
	if _, err := db.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", commitOrderLock); err != nil {
		return fmt.Errorf("write %d audit entries: take the commit-order lock: %w", n, err)
	}
	_, err := db.Exec(ctx, `
INSERT INTO audit_logs (occurred_at, username, project_id, project_name, operation, resource_type, resource, source_ip, result, forwarded)
SELECT t.occurred_at, t.username, p.id, t.project_name, t.operation, t.resource_type, t.resource, t.source_ip, t.result, NOT `+ForwardingOnSQL+`
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
     WITH ORDINALITY AS t(occurred_at, username, project_name, operation, resource_type, resource, source_ip, result, ord)
LEFT JOIN projects p ON p.name = t.project_name
ORDER BY t.ord`, times, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6])
	if err != nil {
		return fmt.Errorf("write %d audit entries: %w", n, err)
	}
	return nil
}

// bounded cuts an entry's fields to the lengths the schema allows: a user name from a failed
// login is whatever the client sent, up to the size of an HTTP header.
func bounded(e Entry) Entry {
	e.User = truncate(e.User, 255)
	e.Project = truncate(e.Project, 255)
	e.Operation = truncate(e.Operation, 32)
	e.ResourceType = truncate(e.ResourceType, 32)
	e.Resource = truncate(e.Resource, 1024)
	e.SourceIP = truncate(e.SourceIP, 64)
	return e
}

// clean makes s storable as PostgreSQL text: a user name from a failed login is whatever the
// client sent, and one byte PostgreSQL refuses (a NUL, invalid UTF-8) would otherwise fail the
// whole batch, again and again.
func clean(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
