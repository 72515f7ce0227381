package gc

import (
	"context"
	"path"
	"time"

	"github.com/distribution/distribution/v3/registry/storage"
)

// purgeUploads removes half-finished uploads older than the run's age, each on its own: one that
// cannot be removed is logged and counted, and the purge goes on.
func (r *runState) purgeUploads(ctx context.Context) error {
	cutoff := time.Now().Add(-time.Duration(r.run.UploadAgeSeconds) * time.Second)
	// Distribution's purger lists the uploads started before cutoff (it reads each one's
	// startedat file); deleting them one by one here lets a failure stay one item's failure.
	dirs, errs := storage.PurgeUploads(ctx, r.w.driver, cutoff, false)
	for _, err := range errs {
		if !isNotFound(err) {
			r.fail("list uploads: %v", err)
		}
	}
	for _, dir := range dirs {
		if ctx.Err() != nil {
			return nil
		}
		var size int64
		if fi, err := r.w.driver.Stat(ctx, path.Join(dir, "data")); err == nil {
			size = fi.Size()
		}
		if !r.run.DryRun {
			if err := r.w.driver.Delete(ctx, dir); err != nil && !isNotFound(err) {
				r.fail("delete upload %s: %v", dir, err)
				continue
			}
		}
		r.add(func(c *counts) { c.uploads++; c.bytes += size })
		r.progress(ctx)
	}
	return nil
}
