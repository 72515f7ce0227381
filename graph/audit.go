package graph

import (
	"context"

	"github.com/berth-registry/berth/audit"
)

// audit records an entry for an operation done through the API; a failure to queue it is logged.
func (r *Resolver) audit(ctx context.Context, e audit.Entry) {
	if err := r.Audit.Record(ctx, e); err != nil {
		r.Log.Error("audit: record", "operation", e.Operation, "resource", e.Resource, "err", err)
	}
}
