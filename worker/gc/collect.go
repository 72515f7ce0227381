package gc

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/worker/run"
)

// root is where Distribution keeps everything in its storage driver.
const root = "/docker/registry/v2"

// manifestTypes are the media types the index records for manifests (rather than layers and configs).
var manifestTypes = []string{
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
}

func isManifest(mediaType string) bool {
	for _, t := range manifestTypes {
		if t == mediaType {
			return true
		}
	}
	return false
}

// blobDir is the directory Distribution keeps a blob's data in.
func blobDir(d digest.Digest) string {
	hex := d.Encoded()
	if len(hex) < 2 {
		return ""
	}
	return path.Join(root, "blobs", d.Algorithm().String(), hex[:2], hex)
}

// batch is how many marked blobs a sweep worker claims and deletes at a time. Claiming is one
// statement and forgetting one more, so a batch costs two commits instead of two per blob; while a
// batch is being deleted its blobs answer 404 and uploads of them wait.
const batch = 50

// deleteConcurrency is how many blobs of one batch a sweep worker deletes from storage at the same
// time. Distribution's storage drivers have no bulk delete, and on object storage each blob costs
// a few round trips (a Stat for the bytes freed, then the driver's list and delete of the blob's
// directory), so a batch's deletes overlap instead of running one after another. With the run's
// workers (1–10), at most workers × deleteConcurrency blobs are being deleted at once.
const deleteConcurrency = 8

// candidate is a blob marked for deletion.
type candidate struct {
	id        int64
	digest    digest.Digest
	size      int64
	mediaType string
	version   int64
}

// collect is one GC: untagged artifacts, mark, sweep, orphans.
func (r *runState) collect(ctx context.Context) error {
	run := r.run
	cutoff := time.Now().Add(-time.Duration(run.WindowSeconds) * time.Second)

	// 1. Untagged artifacts. A dry run deletes nothing, so it counts their blobs as gone instead.
	spared := []int64{} // artifacts whose links the dry run's mark disregards
	if run.DeleteUntagged {
		untagged, err := r.w.db.Artifact.Query().
			Where(artifact.Not(artifact.HasTags()), artifact.Not(artifact.HasParents()),
				artifact.Not(artifact.HasAccessoryLinks()), artifact.PushTimeLT(cutoff)).
			WithRepository().All(ctx)
		if err != nil {
			return fmt.Errorf("find untagged artifacts: %w", err)
		}
		for _, a := range untagged {
			if ctx.Err() != nil {
				return nil
			}
			if run.DryRun {
				spared = append(spared, int64(a.ID))
				r.add(func(c *counts) { c.artifacts++ })
				continue
			}
			repo := a.Edges.Repository.Name
			if err := r.w.artifacts.DeleteArtifact(ctx, repo, digest.Digest(a.Digest)); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.fail("delete untagged artifact %s@%s: %v", repo, a.Digest, err)
				continue
			}
			r.add(func(c *counts) { c.artifacts++ })
		}
		r.logf("untagged artifacts: %d %s", len(untagged), map[bool]string{true: "would be deleted", false: "deleted"}[run.DryRun])
		// Those the window protects are said, so that a run that deleted nothing is not a mystery.
		protected, err := r.w.db.Artifact.Query().
			Where(artifact.Not(artifact.HasTags()), artifact.Not(artifact.HasParents()),
				artifact.Not(artifact.HasAccessoryLinks()), artifact.PushTimeGTE(cutoff)).Count(ctx)
		if err != nil {
			return fmt.Errorf("count protected untagged artifacts: %w", err)
		}
		if protected > 0 {
			r.logf("untagged artifacts protected by the time window (pushed within the last %s): %d kept",
				time.Duration(run.WindowSeconds)*time.Second, protected)
		}
	}

	// 2. Mark: blobs no artifact references and nobody touched within the window. One statement;
	// a push that references or touches a blob meanwhile either commits first (and the blob no
	// longer qualifies) or bumps the version after, which the sweep's compare-and-set sees.
	// $2 is the artifacts to disregard. A nil Go slice reaches SQL as NULL, and `x <> ALL(NULL)`
	// is NULL, not true: every link would be disregarded and every blob would look like garbage.
	// Hence the coalesce, whatever the caller passes.
	const unreferenced = `status IN ('none', 'delete', 'deletefailed') AND updated_at < $1
AND NOT EXISTS (SELECT 1 FROM artifact_blobs ab WHERE ab.blob_id = b.id
	AND ab.artifact_id <> ALL(coalesce($2::bigint[], '{}')))`
	if run.DryRun {
		var n, manifests, bytes int64
		err := r.queryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE media_type = ANY($3)), coalesce(sum(size), 0)
FROM blobs b WHERE `+unreferenced, []any{cutoff, spared, manifestTypes}, &n, &manifests, &bytes)
		if err != nil {
			return fmt.Errorf("count unreferenced blobs: %w", err)
		}
		r.add(func(c *counts) { c.marked, c.blobs, c.manifests, c.bytes = n, n, manifests, bytes })
		r.logf("mark: %d blobs (%d manifests) would be deleted, %d bytes", n, manifests, bytes)
	} else {
		res, err := r.w.db.ExecContext(ctx, `UPDATE blobs b SET status = 'delete', version = version + 1 WHERE `+unreferenced,
			cutoff, []int64{})
		if err != nil {
			return fmt.Errorf("mark unreferenced blobs: %w", err)
		}
		marked, _ := res.RowsAffected()
		r.add(func(c *counts) { c.marked = marked })
		r.logf("mark: %d blobs marked for deletion", marked)
		r.progress(ctx) // the total, before the sweep starts
		if err := r.sweep(ctx); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return r.orphans(ctx, cutoff)
}

// sweep deletes the marked blobs with run.Workers workers. The feeder reads them page by page
// and hands them out in small batches; each batch costs a few statements whatever its size.
func (r *runState) sweep(ctx context.Context) error {
	links, err := r.manifestLinks(ctx)
	if err != nil {
		return err
	}
	batches := make(chan []candidate)
	var wg sync.WaitGroup
	for range r.run.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				r.sweepBatch(ctx, b, links)
				r.progress(ctx)
			}
		}()
	}
	var lastID int64
	var readErr error
feed:
	for {
		rows, err := r.w.db.QueryContext(ctx, `SELECT id, digest, size, media_type, version FROM blobs
WHERE status = 'delete' AND id > $1 ORDER BY id LIMIT $2`, lastID, page)
		if err != nil {
			if ctx.Err() == nil {
				readErr = fmt.Errorf("read marked blobs: %w", err)
			}
			break
		}
		var got []candidate
		for rows.Next() {
			var c candidate
			var d string
			if err := rows.Scan(&c.id, &d, &c.size, &c.mediaType, &c.version); err != nil {
				readErr = err
				break
			}
			c.digest = digest.Digest(d)
			got = append(got, c)
		}
		rows.Close()
		if readErr != nil || len(got) == 0 {
			break
		}
		for len(got) > 0 {
			n := min(batch, len(got))
			// Stoppable between batches: a cancelled run hands out nothing more.
			select {
			case batches <- got[:n]:
			case <-ctx.Done():
				break feed
			}
			lastID = got[n-1].id
			got = got[n:]
		}
	}
	close(batches)
	wg.Wait()
	return readErr
}

// sweepBatch deletes marked blobs: it claims them by compare-and-set (delete → deleting, version
// unchanged since the mark, owner this run's job), deletes each one's manifest links and data from
// storage, then the rows of those that went. A blob touched since it was marked fails the claim and
// is kept; a storage error marks that blob deletefailed, and the others go on.
//
// A claim holds only while the run's lease does (registry.BlobGuard reads the owner's lease): if
// this process dies, its claims lapse with its lease and the blobs are served and uploaded again.
// So storage is deleted from only while the lease is safely held; when it is not, the rest of the
// batch is handed back unclaimed.
func (r *runState) sweepBatch(ctx context.Context, b []candidate, links map[digest.Digest][]string) {
	if ctx.Err() != nil || !r.lease.Valid() {
		return
	}
	ids := make([]int64, len(b))
	versions := make([]int64, len(b))
	for i, c := range b {
		ids[i], versions[i] = c.id, c.version
	}
	owner := r.lease.JobID()
	rows, err := r.w.db.QueryContext(ctx, `UPDATE blobs b SET status = 'deleting', claimed_by = $3, version = b.version + 1
FROM unnest($1::bigint[], $2::bigint[]) AS c(id, version)
WHERE b.id = c.id AND b.version = c.version AND b.status = 'delete' RETURNING b.id`, ids, versions, owner)
	if err != nil {
		if ctx.Err() == nil {
			r.fail("claim %d blobs: %v", len(b), err)
		}
		return
	}
	claimed := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err == nil {
			claimed[id] = true
		}
	}
	rows.Close()
	// From here the batch is finished even if the run is stopped: a blob must not stay `deleting`.
	ctx = context.WithoutCancel(ctx)
	var gone, failed, handedBack []int64
	var n counts
	var mine []candidate
	for _, c := range b {
		if claimed[c.id] { // otherwise pushed, HEADed or referenced since it was marked: it stays
			mine = append(mine, c)
		}
	}
	for i, res := range deleteBatch(ctx, r.w.driver, mine, links, r.lease.Valid) {
		c := mine[i]
		switch {
		case res.handedBack:
			handedBack = append(handedBack, c.id)
		case res.err != nil:
			failed = append(failed, c.id)
			r.fail("delete blob %s: %v", c.digest, res.err)
		default:
			gone = append(gone, c.id)
			n.blobs++
			n.bytes += res.freed
			if isManifest(c.mediaType) {
				n.manifests++
			}
		}
	}
	if len(handedBack) > 0 {
		r.fail("the run's lease is not safely held (the database is unreachable?): %d claimed blobs handed back", len(handedBack))
		if err := releaseClaims(ctx, r.w.db, handedBack, owner); err != nil {
			r.fail("hand back %d blobs: %v", len(handedBack), err)
		}
	}
	if len(failed) > 0 {
		if _, err := r.w.db.ExecContext(ctx, `UPDATE blobs SET status = 'deletefailed', claimed_by = NULL, version = version + 1
WHERE id = ANY($1) AND status = 'deleting' AND claimed_by = $2`, failed, owner); err != nil {
			r.fail("mark %d blobs deletefailed: %v", len(failed), err)
		}
	}
	if len(gone) > 0 {
		if _, err := r.w.db.ExecContext(ctx, `DELETE FROM blobs WHERE id = ANY($1) AND status = 'deleting' AND claimed_by = $2`, gone, owner); err != nil {
			r.fail("forget %d deleted blobs: %v", len(gone), err)
		}
	}
	r.add(func(c *counts) {
		c.blobs += n.blobs
		c.bytes += n.bytes
		c.manifests += n.manifests
	})
}

// releaseClaims hands claimed blobs back, marked for deletion as before the claim: the next GC
// considers them again, and the blob guard serves or re-uploads them meanwhile.
func releaseClaims(ctx context.Context, db *ent.Client, ids []int64, owner int64) error {
	_, err := db.ExecContext(ctx, `UPDATE blobs SET status = 'delete', claimed_by = NULL, version = version + 1
WHERE id = ANY($1) AND status = 'deleting' AND claimed_by = $2`, ids, owner)
	return err
}

// ReleaseLapsedClaims hands back every blob claimed by a garbage collection whose run lease has
// lapsed (its worker died, or stopped renewing): a run.Cleanup for the reconciler. The blob guard
// already treats such claims as void; this puts the rows themselves back to `delete`, so the next
// GC considers them again.
func ReleaseLapsedClaims(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	tag, err := pool.Exec(ctx, `UPDATE blobs b SET status = 'delete', claimed_by = NULL, version = b.version + 1
WHERE b.status = 'deleting' AND NOT `+run.Held("b.claimed_by"))
	if err != nil {
		return 0, fmt.Errorf("release lapsed gc claims: %w", err)
	}
	return tag.RowsAffected(), nil
}

// deleted is what became of one blob of a batch in storage.
type deleted struct {
	freed      int64 // bytes its data took (zero if storage no longer had it)
	err        error
	handedBack bool // not deleted: the run's lease was not safely held
}

// deleteBatch deletes the claimed blobs cs from storage, deleteConcurrency at a time, and returns
// what became of each (in cs's order). A blob is deleted only while held reports the run's lease
// safely held; once it does not, the blobs not yet started are handed back.
func deleteBatch(ctx context.Context, driver storagedriver.StorageDriver, cs []candidate, links map[digest.Digest][]string, held func() bool) []deleted {
	out := make([]deleted, len(cs))
	sem := make(chan struct{}, deleteConcurrency)
	var wg sync.WaitGroup
	for i, c := range cs {
		sem <- struct{}{}
		if !held() {
			<-sem
			for j := i; j < len(cs); j++ {
				out[j].handedBack = true
			}
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i].freed, out[i].err = deleteFromStorage(ctx, driver, c, links[c.digest])
		}()
	}
	wg.Wait()
	return out
}

// deleteFromStorage removes a blob's manifest revision and tag links, then its data, and returns
// the bytes the data took (zero if storage no longer had it).
func deleteFromStorage(ctx context.Context, driver storagedriver.StorageDriver, c candidate, links []string) (int64, error) {
	for _, l := range links {
		if err := driver.Delete(ctx, l); err != nil && !isNotFound(err) {
			return 0, fmt.Errorf("delete link %s: %w", l, err)
		}
	}
	dir := blobDir(c.digest)
	if dir == "" {
		return 0, fmt.Errorf("malformed digest %q", c.digest)
	}
	var size int64
	fi, err := driver.Stat(ctx, path.Join(dir, "data"))
	switch {
	case isNotFound(err):
	case err != nil:
		return 0, fmt.Errorf("stat: %w", err)
	default:
		size = fi.Size()
	}
	if err := driver.Delete(ctx, dir); err != nil && !isNotFound(err) {
		return 0, err
	}
	return size, nil
}

func isNotFound(err error) bool {
	var nf storagedriver.PathNotFoundError
	return errors.As(err, &nf)
}

// manifestLinks finds, for each manifest marked for deletion, the revision links and tags that
// still point at it in some repository's storage (the index deletes them with the artifact; this
// catches storage the index lost track of). It walks repositories' _manifests only, and only when
// some manifest is marked.
func (r *runState) manifestLinks(ctx context.Context) (map[digest.Digest][]string, error) {
	var some bool
	if err := r.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blobs WHERE status = 'delete' AND media_type = ANY($1))`,
		[]any{manifestTypes}, &some); err != nil {
		return nil, fmt.Errorf("look for marked manifests: %w", err)
	}
	links := map[digest.Digest][]string{}
	if !some {
		return links, nil
	}
	err := r.w.driver.Walk(ctx, path.Join(root, "repositories"), func(fi storagedriver.FileInfo) error {
		p := fi.Path()
		if fi.IsDir() {
			switch path.Base(p) {
			case "_layers", "_uploads", "index":
				return storagedriver.ErrSkipDir
			}
			return nil
		}
		repoPart, rest, ok := strings.Cut(p, "/_manifests/")
		if !ok || path.Base(p) != "link" {
			return nil
		}
		parts := strings.Split(rest, "/")
		switch {
		case len(parts) == 4 && parts[0] == "revisions": // revisions/<alg>/<hex>/link
			d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
			links[d] = append(links[d], path.Dir(p))
		case len(parts) == 4 && parts[0] == "tags" && parts[2] == "current": // tags/<tag>/current/link
			b, err := r.w.driver.GetContent(ctx, p)
			if err != nil {
				return nil // a tag being written or deleted: the next GC sees it
			}
			d := digest.Digest(strings.TrimSpace(string(b)))
			links[d] = append(links[d], path.Join(repoPart, "_manifests", "tags", parts[1]))
		}
		return nil
	})
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("walk repositories: %w", err)
	}
	// Keep only what points at marked manifests.
	marked := map[digest.Digest]bool{}
	rows, err := r.w.db.QueryContext(ctx, `SELECT digest FROM blobs WHERE status = 'delete' AND media_type = ANY($1)`, manifestTypes)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		marked[digest.Digest(d)] = true
	}
	for d := range links {
		if !marked[d] {
			delete(links, d)
		}
	}
	return links, rows.Err()
}

// orphans finds blobs storage holds that the database never knew, older than the window (an
// upload claims its row before it writes, so a newer one may be on its way), and removes them when
// the run says so, counting their bytes as freed.
func (r *runState) orphans(ctx context.Context, cutoff time.Time) error {
	type found struct {
		digest digest.Digest
		size   int64
	}
	var pending []found
	remove := r.run.RemoveOrphans && !r.run.DryRun
	check := func() error {
		if len(pending) == 0 {
			return nil
		}
		ds := make([]string, len(pending))
		for i, f := range pending {
			ds[i] = f.digest.String()
		}
		rows, err := r.w.db.QueryContext(ctx, `SELECT digest FROM blobs WHERE digest = ANY($1)`, ds)
		if err != nil {
			return fmt.Errorf("look up stored blobs: %w", err)
		}
		known := map[string]bool{}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return err
			}
			known[d] = true
		}
		rows.Close()
		for _, f := range pending {
			if known[f.digest.String()] {
				continue
			}
			if remove {
				if err := r.w.driver.Delete(ctx, blobDir(f.digest)); err != nil && !isNotFound(err) {
					r.fail("delete orphan blob %s: %v", f.digest, err)
					continue
				}
			}
			r.add(func(c *counts) {
				c.orphans++
				c.orphanBytes += f.size
				if r.run.RemoveOrphans { // freed, or for a dry run would be
					c.bytes += f.size
				}
			})
			if r.run.DryRun || !remove {
				r.logf("orphan blob %s (%d bytes)", f.digest, f.size)
			}
		}
		pending = pending[:0]
		return nil
	}
	err := r.w.driver.Walk(ctx, path.Join(root, "blobs"), func(fi storagedriver.FileInfo) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fi.IsDir() || path.Base(fi.Path()) != "data" || fi.ModTime().After(cutoff) {
			return nil
		}
		dir := path.Dir(fi.Path()) // …/blobs/<alg>/<xx>/<hex>
		d := digest.NewDigestFromEncoded(digest.Algorithm(path.Base(path.Dir(path.Dir(dir)))), path.Base(dir))
		if d.Validate() != nil {
			return nil
		}
		pending = append(pending, found{digest: d, size: fi.Size()})
		if len(pending) >= page {
			return check()
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("walk blobs: %w", err)
	}
	if err := check(); err != nil {
		return err
	}
	r.mu.Lock()
	n, b := r.counts.orphans, r.counts.orphanBytes
	r.mu.Unlock()
	r.logf("orphans: %d blobs in storage unknown to the database, %d bytes, %s", n, b,
		map[bool]string{true: "removed", false: "reported only"}[remove])
	return nil
}

// queryRow runs a one-row query through ent's database/sql connection.
func (r *runState) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	rows, err := r.w.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return fmt.Errorf("no row")
	}
	return rows.Scan(dest...)
}
