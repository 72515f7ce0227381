package graph

import (
	"github.com/berth-registry/berth/graph/model"
	"github.com/berth-registry/berth/worker/gc"
	"github.com/berth-registry/berth/worker/purge"
	"github.com/berth-registry/berth/worker/run"
	"github.com/berth-registry/berth/worker/schedule"
)

// The adapter between GraphQL and the shared run lifecycle (worker/run): schedules in and out.
// Starting, stopping, listing and following runs are the services' own methods.

// scheduleInput is a schedule with its timing from GraphQL input and its parameters p.
func scheduleInput[P any](kind model.ScheduleKind, cron *string, p P) run.Schedule[P] {
	s := run.Schedule[P]{Schedule: schedule.Schedule{Kind: schedule.Kind(kind)}, Params: p}
	if cron != nil {
		s.Cron = *cron
	}
	return s
}

// gcParams reads GC parameters from GraphQL input, with Harbor's defaults (one worker).
func gcParams(deleteUntagged, dryRun *bool, workers *int, removeOrphans *bool) gc.Params {
	p := gc.Params{Workers: 1, DeleteUntagged: isTrue(deleteUntagged), DryRun: isTrue(dryRun), RemoveOrphans: isTrue(removeOrphans)}
	if workers != nil {
		p.Workers = *workers
	}
	return p
}

func isTrue(b *bool) bool { return b != nil && *b }

func gcScheduleModel(s gc.Schedule) *model.GCSchedule {
	return &model.GCSchedule{
		Kind: model.ScheduleKind(s.Kind), Cron: s.Cron, NextRunAt: s.Next(), LastRunAt: s.LastRunAt,
		DeleteUntagged: s.Params.DeleteUntagged, DryRun: s.Params.DryRun, Workers: s.Params.Workers, RemoveOrphans: s.Params.RemoveOrphans,
	}
}

func purgeParams(retentionHours int, operations []string, dryRun *bool) purge.Params {
	return purge.Params{RetentionHours: retentionHours, Operations: operations, DryRun: isTrue(dryRun)}
}

// scheduleModel is the audit purge schedule as GraphQL shows it.
func scheduleModel(s purge.Schedule) *model.PurgeSchedule {
	return &model.PurgeSchedule{
		Kind: model.ScheduleKind(s.Kind), Cron: s.Cron, NextRunAt: s.Next(), LastRunAt: s.LastRunAt,
		RetentionHours: s.Params.RetentionHours, Operations: append([]string{}, s.Params.Operations...), DryRun: s.Params.DryRun,
	}
}
