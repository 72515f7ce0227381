package schedule

import (
	"testing"
	"time"
)

func TestNextAndDue(t *testing.T) {
	t.Parallel()
	changed := time.Date(2026, 1, 7, 10, 30, 0, 0, time.UTC) // a Wednesday
	for _, tc := range []struct {
		s    Schedule
		next string // "" for none
	}{
		{Schedule{Kind: None, UpdatedAt: changed}, ""},
		{Schedule{Kind: Hourly, UpdatedAt: changed}, "2026-01-07T11:00:00Z"},
		{Schedule{Kind: Daily, UpdatedAt: changed}, "2026-01-08T00:00:00Z"},
		{Schedule{Kind: Weekly, UpdatedAt: changed}, "2026-01-11T00:00:00Z"},
		{Schedule{Kind: Custom, Cron: "15 3 * * *", UpdatedAt: changed}, "2026-01-08T03:15:00Z"},
	} {
		next := tc.s.Next()
		got := ""
		if next != nil {
			got = next.UTC().Format(time.RFC3339)
		}
		if got != tc.next {
			t.Errorf("%s %q: next %q, want %q", tc.s.Kind, tc.s.Cron, got, tc.next)
		}
	}
	last := time.Date(2026, 1, 7, 11, 0, 0, 0, time.UTC)
	s := Schedule{Kind: Hourly, UpdatedAt: changed, LastRunAt: &last}
	if s.Due(last.Add(59 * time.Minute)) {
		t.Error("hourly schedule due 59 minutes after its last run")
	}
	if !s.Due(last.Add(time.Hour)) {
		t.Error("hourly schedule not due an hour after its last run")
	}
	if err := (Schedule{Kind: Custom, Cron: "not cron"}).Validate(); err == nil {
		t.Error("an invalid cron expression was accepted")
	}
	if err := (Schedule{Kind: "SOMETIMES"}).Validate(); err == nil {
		t.Error("an unknown kind was accepted")
	}
}
