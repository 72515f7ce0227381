package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/worker/run"
)

// DefaultGCWindow is how long a blob stays safe from garbage collection after it was last pushed,
// HEADed or referenced.
const DefaultGCWindow = 2 * time.Hour

// claimTimeout bounds how long an upload waits for a garbage collector that is deleting the same
// blob (one storage delete) before it gives up.
const claimTimeout = 2 * time.Minute

// BlobGuard keeps garbage collection safe while pushes go on. It sits on the registry's blob
// HEAD, GET, mount and upload commit, and changes a blob's GC status only by compare-and-set on
// its version, the same way the collector does:
//   - a blob marked `delete` (or whose deletion failed) that is asked for goes back to `none`, and
//     is touched, so it is not a candidate again for the GC window;
//   - a blob being deleted (`deleting`) answers 404, so the client uploads it again;
//   - an upload or mount first claims the blob's row (inserting it if new), waiting while a
//     collector deletes it, and only then writes storage: a blob is never deleted after its upload.
//
// A collector's claim (`deleting`) names its owner, the River job of the run, and holds only while
// that job's run lease does (worker/run): the collector deletes from storage only while its lease
// is safely held, so once the lease has lapsed (its worker died) the claim is void and the blob is
// treated as not being deleted: HEAD answers from storage, an upload proceeds at once.
//
// A blob not touched for half the window is touched on HEAD or GET, so a client that has just
// checked a blob exists can count on it for at least half the window.
type BlobGuard struct {
	db     *ent.Client
	window time.Duration
}

// NewBlobGuard returns a guard over db's blobs table; window <= 0 means DefaultGCWindow.
func NewBlobGuard(db *ent.Client, window time.Duration) *BlobGuard {
	if window <= 0 {
		window = DefaultGCWindow
	}
	return &BlobGuard{db: db, window: window}
}

// Window is how long a touched blob is never a GC candidate.
func (g *BlobGuard) Window() time.Duration { return g.window }

// errBeingDeleted answers a request for a blob garbage collection is deleting right now.
var errBeingDeleted = errors.New("blob is being garbage-collected")

// Touch is called before a blob is served (HEAD or GET). It returns errBeingDeleted for a blob
// being deleted; a blob marked for deletion goes back to `none`.
func (g *BlobGuard) Touch(ctx context.Context, dgst digest.Digest) error {
	for range 5 {
		var (
			id, version int64
			status      string
			updatedAt   time.Time
			deleting    bool
		)
		err := g.queryRow(ctx, `SELECT b.id, b.status, b.version, b.updated_at, `+beingDeleted("b.status", "b.claimed_by")+` FROM blobs b WHERE b.digest = $1`,
			[]any{dgst.String()}, &id, &status, &version, &updatedAt, &deleting)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // pushed but not yet referenced, or never seen: storage decides
		}
		if err != nil {
			return fmt.Errorf("blob guard %s: %w", dgst, err)
		}
		switch {
		case deleting:
			return errBeingDeleted
		case status == "none" && time.Since(updatedAt) < g.window/2:
			return nil
		}
		// (A lapsed claim is voided here too: the blob is whatever storage says it is.)
		res, err := g.db.ExecContext(ctx, `UPDATE blobs SET status = 'none', claimed_by = NULL, version = version + 1, updated_at = now()
WHERE id = $1 AND version = $2`, id, version)
		if err != nil {
			return fmt.Errorf("blob guard %s: touch: %w", dgst, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		// A collector (or another request) changed it first: look again.
	}
	return fmt.Errorf("blob guard %s: status keeps changing", dgst)
}

// Claim is called before a blob is written to storage (upload commit, cross-repository mount). It
// records the blob as `none` and just touched, inserting its row if it is new; while a collector is
// deleting it, Claim waits, so the new content is written after the old is gone, never before.
func (g *BlobGuard) Claim(ctx context.Context, dgst digest.Digest, size int64) error {
	ctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	for {
		var id int64
		err := g.queryRow(ctx, `
INSERT INTO blobs (digest, media_type, size, status, version, created_at, updated_at)
VALUES ($1, '', $2, 'none', 0, now(), now())
ON CONFLICT (digest) DO UPDATE SET status = 'none', claimed_by = NULL, version = blobs.version + 1, updated_at = now(),
	size = CASE WHEN blobs.size = 0 THEN EXCLUDED.size ELSE blobs.size END
WHERE NOT `+beingDeleted("blobs.status", "blobs.claimed_by")+`
RETURNING id`, []any{dgst.String(), size}, &id)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("blob guard %s: claim: %w", dgst, err)
		}
		// Being deleted right now: wait for the collector to finish with it.
		select {
		case <-ctx.Done():
			return fmt.Errorf("blob guard %s: still being garbage-collected: %w", dgst, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// beingDeleted is the condition that a blob (given its status and claimed_by columns) is being
// deleted by a live collector: `deleting`, claimed by a job whose run lease has not lapsed. It is
// the one rule every writer of a blob's row (guard, indexer) applies.
func beingDeleted(status, claimedBy string) string {
	return `(` + status + ` = 'deleting' AND ` + run.Held(claimedBy) + `)`
}

func (g *BlobGuard) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	rows, err := g.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}

// guardedBlobs is a repository's blob store with the guard in front of it.
type guardedBlobs struct {
	distribution.BlobStore
	guard *BlobGuard
}

func (b guardedBlobs) Stat(ctx context.Context, dgst digest.Digest) (v1.Descriptor, error) {
	if err := b.guard.Touch(ctx, dgst); err != nil {
		if errors.Is(err, errBeingDeleted) {
			return v1.Descriptor{}, distribution.ErrBlobUnknown
		}
		// Without the database the guard cannot promise the blob to garbage collection: 503, not
		// a blob served unguarded (a client that HEADs it may count on it for half the GC window).
		return v1.Descriptor{}, outageError(err)
	}
	return b.BlobStore.Stat(ctx, dgst)
}

func (b guardedBlobs) ServeBlob(ctx context.Context, w http.ResponseWriter, r *http.Request, dgst digest.Digest) error {
	// Distribution's blob handler has Stat (guarded) just before this; a blob whose deletion
	// starts in between fails like any blob storage lost.
	return b.BlobStore.ServeBlob(ctx, w, r, dgst)
}

func (b guardedBlobs) Create(ctx context.Context, options ...distribution.BlobCreateOption) (distribution.BlobWriter, error) {
	var opts distribution.CreateOptions
	for _, o := range options {
		_ = o.Apply(&opts) // options of other types do not concern the guard
	}
	if opts.Mount.ShouldMount && opts.Mount.From != nil {
		if err := b.guard.Claim(ctx, opts.Mount.From.Digest(), 0); err != nil {
			return nil, outageError(err)
		}
	}
	w, err := b.BlobStore.Create(ctx, options...)
	if err != nil {
		return nil, err
	}
	return guardedWriter{BlobWriter: w, guard: b.guard}, nil
}

func (b guardedBlobs) Resume(ctx context.Context, id string) (distribution.BlobWriter, error) {
	w, err := b.BlobStore.Resume(ctx, id)
	if err != nil {
		return nil, err
	}
	return guardedWriter{BlobWriter: w, guard: b.guard}, nil
}

// guardedWriter claims the blob before the upload is committed to its final place.
type guardedWriter struct {
	distribution.BlobWriter
	guard *BlobGuard
}

func (w guardedWriter) Commit(ctx context.Context, provisional v1.Descriptor) (v1.Descriptor, error) {
	if provisional.Digest != "" {
		if err := w.guard.Claim(ctx, provisional.Digest, w.Size()); err != nil {
			return v1.Descriptor{}, outageError(err)
		}
	}
	return w.BlobWriter.Commit(ctx, provisional)
}
