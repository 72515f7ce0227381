package registry

import (
	"context"

	"github.com/distribution/distribution/v3"
)

// Repository opens repo through the indexing namespace: what is written through it is indexed
// (and guarded against garbage collection) exactly as a push over /v2 is, with the principal in
// ctx as the operator. Replication reads and writes local content through it.
func (r *Registry) Repository(ctx context.Context, repo string) (distribution.Repository, error) {
	return r.repository(ctx, repo)
}
