package run_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/worker/run"
)

func TestOutcomeSaysWhyARunEnded(t *testing.T) {
	t.Parallel()
	live := context.Background()
	if _, _, ended := run.Outcome(live, time.Hour); ended {
		t.Fatal("a live context ended the run")
	}
	cancelled := func(cause error) context.Context {
		ctx, cancel := context.WithCancelCause(live)
		cancel(cause)
		return ctx
	}
	timedOut, cancel := context.WithTimeout(live, 0)
	defer cancel()
	for _, c := range []struct {
		name    string
		ctx     context.Context
		stopped bool
		why     string
	}{
		{"stop requested", cancelled(river.ErrJobCancelledRemotely), true, "stopped by request"},
		{"timeout", timedOut, false, "ran out of time (this kind of run may take at most 1h0m0s)"},
		{"lease lost", cancelled(run.ErrLeaseLost), false, "lease was lost"},
		{"shutdown", cancelled(errors.New("client stopping")), true, "the worker running it shut down"},
	} {
		stopped, why, ended := run.Outcome(c.ctx, time.Hour)
		if !ended || stopped != c.stopped || !strings.Contains(why, c.why) {
			t.Errorf("%s: stopped %t, why %q, ended %t; want stopped %t, why containing %q", c.name, stopped, why, ended, c.stopped, c.why)
		}
	}
}

func TestLeaseIsValidOnlyWithAThirdOfItsLifeLeft(t *testing.T) {
	t.Parallel()
	if l := run.NewLease(7, time.Hour); !l.Valid() || l.JobID() != 7 {
		t.Fatalf("a fresh lease: valid %t, job %d", l.Valid(), l.JobID())
	}
	// A 3 ms lease is past two thirds of its life within 2 ms.
	l := run.NewLease(7, 3*time.Millisecond)
	for deadline := time.Now().Add(time.Second); l.Valid(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a 3 ms lease stayed valid for a second")
		}
	}
}

func TestUniqueCoversEveryActiveStateOnly(t *testing.T) {
	t.Parallel()
	u := run.Unique(true)
	if !u.ByArgs || len(u.ByState) != 5 {
		t.Fatalf("unique opts = %+v", u)
	}
	for _, s := range u.ByState {
		switch s {
		case "completed", "cancelled", "discarded":
			t.Errorf("a %s job would block the next run", s)
		}
	}
}
