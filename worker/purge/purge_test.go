package purge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/worker/purge"
	"github.com/berth-registry/berth/worker/schedule"
)

func TestParamsValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p    purge.Params
		want string
	}{
		{purge.Params{RetentionHours: 1}, ""},
		{purge.Params{RetentionHours: 240000, Operations: []string{"create", "delete", "pull"}}, ""},
		{purge.Params{RetentionHours: 0}, "between 1 and 240000"},
		{purge.Params{RetentionHours: 240001}, "between 1 and 240000"},
		{purge.Params{RetentionHours: 5, Operations: []string{"push"}}, `unknown operation "push"`},
	} {
		err := c.p.Validate()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", c.p, err, c.want)
		}
	}
}

func TestScheduleNext(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)
	p := purge.Params{RetentionHours: 24, Operations: []string{"pull"}}
	last := base.Add(2 * time.Hour)
	for _, c := range []struct {
		s    purge.Schedule
		want *time.Time
	}{
		{purge.Schedule{Schedule: schedule.Schedule{Kind: schedule.None, UpdatedAt: base}, Params: p}, nil},
		{purge.Schedule{Schedule: schedule.Schedule{Kind: schedule.Hourly, UpdatedAt: base}, Params: p}, ptr(time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC))},
		{purge.Schedule{Schedule: schedule.Schedule{Kind: schedule.Daily, UpdatedAt: base}, Params: p}, ptr(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))},
		{purge.Schedule{Schedule: schedule.Schedule{Kind: schedule.Weekly, UpdatedAt: base}, Params: p}, ptr(time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC))}, // a Sunday
		{purge.Schedule{Schedule: schedule.Schedule{Kind: schedule.Custom, Cron: "15 */6 * * *", UpdatedAt: base}, Params: p}, ptr(time.Date(2026, 11, 23, 12, 15, 0, 0, time.UTC))},
		// After a run, the next one counts from the run.
		{purge.Schedule{Schedule: schedule.Schedule{Kind: schedule.Hourly, UpdatedAt: base, LastRunAt: &last}, Params: p}, ptr(time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC))},
	} {
		got := c.s.Next()
		if (got == nil) != (c.want == nil) || (got != nil && !got.Equal(*c.want)) {
			t.Errorf("%s %q: Next = %v, want %v", c.s.Kind, c.s.Cron, got, c.want)
		}
		if err := c.s.Validate(); err != nil {
			t.Errorf("%s: %v", c.s.Kind, err)
		}
	}
	if err := (purge.Schedule{Schedule: schedule.Schedule{Kind: schedule.Custom, Cron: "every day"}, Params: p}).Validate(); err == nil || !strings.Contains(err.Error(), "cron") {
		t.Errorf("a bad cron expression was accepted: %v", err)
	}
	if err := (purge.Schedule{Schedule: schedule.Schedule{Kind: "MONTHLY"}, Params: p}).Validate(); err == nil {
		t.Error("an unknown schedule kind was accepted")
	}
}

func ptr(t time.Time) *time.Time { return &t }
