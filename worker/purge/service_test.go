package purge_test

import (
	"errors"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent/purgerun"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/purge"
	"github.com/berth-registry/berth/worker/run"
	"github.com/berth-registry/berth/worker/schedule"
)

// The service is the shared run lifecycle's API side for audit purges: these hold for every kind.
func TestServiceAuthorizesValidatesAndRunsOneAtATime(t *testing.T) {
	t.Parallel()
	d := servertest.NewDomain(t)
	jobs, err := river.NewClient(riverpgxv5.New(d.Pool), &river.Config{}) // inserts only
	if err != nil {
		t.Fatal(err)
	}
	svc := purge.NewService(run.Deps{Pool: d.Pool, Jobs: jobs, Auth: d.Auth, Audit: d.Audit}, d.DB)
	admin := d.User(t, "admin", "secret", true)
	bob := d.User(t, "bob", "secret", false)
	p := purge.Params{RetentionHours: 24, Operations: []string{audit.OpPull}}

	if _, err := svc.Start(bob, p); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("an ordinary user started a purge: %v", err)
	}
	if _, err := svc.Run(bob, 1); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("an ordinary user read a purge: %v", err)
	}
	if _, err := svc.Start(admin, purge.Params{RetentionHours: 0}); servertest.FaultKind(err) != fault.KindBadInput {
		t.Fatalf("a retention of 0 hours: %v, want bad input", err)
	}
	first, err := svc.Start(admin, p)
	if err != nil || first.Status != purgerun.StatusPending || first.Operator != "admin" {
		t.Fatalf("start: %+v, %v", first, err)
	}
	if _, err := svc.Start(admin, p); servertest.FaultKind(err) != fault.KindConflict {
		t.Fatalf("a second purge while the first is queued: %v, want a conflict", err)
	}
	stopped, err := svc.Stop(admin, first.ID)
	if err != nil || stopped.Status != purgerun.StatusStopped {
		t.Fatalf("stop a queued purge: %+v, %v", stopped, err)
	}
	if _, err := svc.Stop(admin, first.ID+100); servertest.FaultKind(err) != fault.KindNotFound {
		t.Fatalf("stop no purge: %v, want not found", err)
	}
	if r, err := svc.Run(admin, first.ID+100); r != nil || err != nil {
		t.Fatalf("read no purge: %+v, %v; want nothing", r, err)
	}
	if _, err := svc.Start(admin, p); err != nil {
		t.Fatalf("start again once the first is stopped: %v", err)
	}

	custom := purge.Schedule{Schedule: schedule.Schedule{Kind: schedule.Custom, Cron: "every day"}, Params: p}
	if _, err := svc.SetSchedule(admin, custom); servertest.FaultKind(err) != fault.KindBadInput {
		t.Fatalf("an invalid cron expression: %v, want bad input", err)
	}
	if _, err := svc.SetSchedule(bob, purge.Schedule{Schedule: schedule.Schedule{Kind: schedule.Daily}, Params: p}); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("an ordinary user set the schedule: %v", err)
	}
	saved, err := svc.SetSchedule(admin, purge.Schedule{Schedule: schedule.Schedule{Kind: schedule.Daily}, Params: p})
	if err != nil || saved.Next() == nil {
		t.Fatalf("set a daily schedule: %+v, %v", saved, err)
	}
	d.WaitAudit(t, audit.OpUpdate, "configuration", "audit log purge schedule")
	if loaded, err := purge.LoadSchedule(admin, d.Pool); err != nil || loaded.Kind != schedule.Daily || loaded.Params.RetentionHours != 24 {
		t.Fatalf("the schedule read back: %+v, %v", loaded, err)
	}
}
