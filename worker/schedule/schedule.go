// Package schedule says when a scheduled job is due: none, hourly, daily, weekly or a custom cron
// expression, counted from the schedule's last change or last run. It owns the rule, not the
// storage of a schedule nor the job it starts.
package schedule

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Kind says how often a job runs.
type Kind string

// The kinds; Custom uses Schedule.Cron.
const (
	None   Kind = "NONE"
	Hourly Kind = "HOURLY"
	Daily  Kind = "DAILY"
	Weekly Kind = "WEEKLY"
	Custom Kind = "CUSTOM"
)

// Schedule is when a job runs, and when it last did.
type Schedule struct {
	Kind      Kind       `json:"kind"`
	Cron      string     `json:"cron"`
	UpdatedAt time.Time  `json:"updated_at"`
	LastRunAt *time.Time `json:"last_run_at"`
}

// Expr returns the cron expression the schedule runs on, or "" for none.
func (s Schedule) Expr() string {
	switch s.Kind {
	case Hourly:
		return "0 * * * *"
	case Daily:
		return "0 0 * * *"
	case Weekly:
		return "0 0 * * 0"
	case Custom:
		return s.Cron
	default:
		return ""
	}
}

// Validate checks the kind and, for Custom, the cron expression.
func (s Schedule) Validate() error {
	switch s.Kind {
	case None, Hourly, Daily, Weekly:
		return nil
	case Custom:
		if _, err := cron.ParseStandard(s.Cron); err != nil {
			return fmt.Errorf("invalid cron expression %q (five fields: minute hour day-of-month month day-of-week): %v", s.Cron, err)
		}
		return nil
	default:
		return fmt.Errorf("unknown schedule %q: use NONE, HOURLY, DAILY, WEEKLY or CUSTOM", s.Kind)
	}
}

// Next is when the schedule next runs after its last run (or its last change), or nil for none.
func (s Schedule) Next() *time.Time {
	expr := s.Expr()
	if expr == "" {
		return nil
	}
	spec, err := cron.ParseStandard(expr)
	if err != nil {
		return nil
	}
	from := s.UpdatedAt
	if s.LastRunAt != nil && s.LastRunAt.After(from) {
		from = *s.LastRunAt
	}
	next := spec.Next(from)
	return &next
}

// Due reports whether a run is due at now.
func (s Schedule) Due(now time.Time) bool {
	next := s.Next()
	return next != nil && !next.After(now)
}
