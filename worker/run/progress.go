package run

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/berth-registry/berth/event"
)

// Announcer records a kind of run's events (started, progress, completed) in the outbox and has
// them dispatched at once, for the subscriptions that follow runs (Follow) and for webhooks.
type Announcer struct {
	db   event.Execer
	kick func() // nil waits for the dispatcher's sweep
	log  *slog.Logger
}

// NewAnnouncer returns an announcer writing to db; kick, if not nil, dispatches at once.
func NewAnnouncer(db event.Execer, kick func(), log *slog.Logger) *Announcer {
	return &Announcer{db: db, kick: kick, log: log}
}

// Announce records an event of type typ about run id, started by operator, with count (rows,
// blobs: how far the run got). A failure is logged: the run goes on.
func (a *Announcer) Announce(ctx context.Context, typ event.Type, operator string, id int, count int64) {
	err := event.Record(context.WithoutCancel(ctx), a.db, event.Event{Type: typ, Operator: operator, JobID: int64(id), Count: count})
	if err != nil {
		a.log.Warn("record run event", "type", typ, "run", id, "err", err)
		return
	}
	if a.kick != nil {
		a.kick()
	}
}

// Followed is how Follow watches one kind of run.
type Followed[T any] struct {
	// Events are the event types that say the run changed; their JobID is the run's id.
	Events []event.Type
	// Load reads the run as it is now.
	Load func(ctx context.Context) (T, error)
	// Done reports whether the run has ended: nothing more will change.
	Done func(T) bool
	// Same reports whether nothing a follower sees changed between two readings.
	Same func(a, b T) bool
	// Poll is how long a missed notification may delay an update (5 seconds if zero).
	Poll time.Duration
}

// Follow streams run id: as it is now, then after every event of f.Events that names it (or
// every f.Poll), each time it changed, until it ends or ctx does. The first Load's error is
// returned (the caller's "not found"); a later one ends the stream.
func Follow[T any](ctx context.Context, bus *event.Bus, id int, f Followed[T]) (<-chan T, error) {
	cur, err := f.Load(ctx)
	if err != nil {
		return nil, err
	}
	poll := f.Poll
	if poll == 0 {
		poll = 5 * time.Second
	}
	in, cancel := bus.Subscribe(64)
	out := make(chan T, 1)
	out <- cur
	go func() {
		defer close(out)
		defer cancel()
		for !f.Done(cur) {
			select {
			case <-ctx.Done():
				return
			case e := <-in:
				if e.JobID != int64(id) || !slices.Contains(f.Events, e.Type) {
					continue
				}
			case <-time.After(poll): // a missed notification costs at most this
			}
			next, err := f.Load(ctx)
			if err != nil {
				return
			}
			if f.Same(cur, next) {
				continue
			}
			cur = next
			select {
			case out <- cur:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
