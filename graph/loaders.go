package graph

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/berth-registry/berth/artifact"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/worker/scan"
)

// loaders batch the per-project and per-artifact fields of a list into one service call each, so
// that a page of 100 projects costs a few extra queries, not hundreds. They live for one request.
type loaders struct {
	counts  *dataloadgen.Loader[int, int]
	storage *dataloadgen.Loader[int, int64]
	roles   *dataloadgen.Loader[int, *member.Role]
	perms   *dataloadgen.Loader[int, []auth.Action]
	signed  *dataloadgen.Loader[artifact.Subject, bool]
	// Per-row fields of the dashboard's artifact table.
	accessories *dataloadgen.Loader[artifact.Subject, []*ent.Artifact]
	platforms   *dataloadgen.Loader[int, []artifact.Platform]
	scans       *dataloadgen.Loader[int, *scan.Overview]
}

type loadersKey struct{}

// Loaders wraps next so that every request gets fresh loaders.
func (r *Resolver) Loaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := context.WithValue(req.Context(), loadersKey{}, r.newLoaders())
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}

func (r *Resolver) newLoaders() *loaders {
	// Fields of one list are resolved in parallel goroutines; on a busy machine they can spread
	// over more than a millisecond, and a shorter window would split one batch into two.
	wait := dataloadgen.WithWait(5 * time.Millisecond)
	return &loaders{
		counts:  dataloadgen.NewLoader(batch(r.Projects.RepositoryCounts), wait),
		storage: dataloadgen.NewLoader(batch(r.Projects.StorageUsed), wait),
		roles:   dataloadgen.NewLoader(batch(r.Projects.Roles), wait),
		perms:   dataloadgen.NewLoader(batch(r.Projects.PermissionsIn), wait),
		signed:  dataloadgen.NewLoader(batch(r.Artifacts.Signed), wait),

		accessories: dataloadgen.NewLoader(batch(r.Artifacts.AccessoriesOf), wait),
		platforms:   dataloadgen.NewLoader(batch(r.Artifacts.ChildPlatforms), wait),
		scans:       dataloadgen.NewLoader(r.Scans.Overviews, wait),
	}
}

// batch adapts a service's batch lookup (one answer per key, in order) to a loader's fetch.
func batch[K comparable, V any](fetch func(context.Context, []K) ([]V, error)) func(context.Context, []K) ([]V, []error) {
	return func(ctx context.Context, keys []K) ([]V, []error) {
		out, err := fetch(ctx, keys)
		if err != nil {
			return nil, []error{err}
		}
		return out, nil
	}
}

// isIndex reports whether a manifest media type is an OCI index or a Docker manifest list.
func isIndex(mediaType string) bool {
	return strings.Contains(mediaType, "image.index") || strings.Contains(mediaType, "manifest.list")
}
