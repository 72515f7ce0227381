package graph

import (
	"context"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/graph/model"
	"github.com/berth-registry/berth/worker/purge"
)

// audit records an entry for an operation done through the API; a failure to queue it is logged.
func (r *Resolver) audit(ctx context.Context, e audit.Entry) {
	if err := r.Audit.Record(ctx, e); err != nil {
		r.Log.Error("audit: record", "operation", e.Operation, "resource", e.Resource, "err", err)
	}
}

func scheduleModel(s purge.Schedule) *model.PurgeSchedule {
	return &model.PurgeSchedule{
		Kind: model.ScheduleKind(s.Kind), Cron: s.Cron, RetentionHours: s.Params.RetentionHours,
		Operations: append([]string{}, s.Params.Operations...), DryRun: s.Params.DryRun,
		NextRunAt: s.Next(), LastRunAt: s.LastRunAt,
	}
}
