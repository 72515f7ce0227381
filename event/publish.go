package event

import (
	"context"
	"log/slog"
)

// Publisher records the events of changes that have committed and has them dispatched at once.
// The domain services call it after their change; a change whose event must exist if and only if
// it commits records the event inside its own transaction instead (Record, then Kick).
type Publisher struct {
	db         Execer
	dispatcher *Dispatcher
	log        *slog.Logger
	caller     Caller
}

// Caller says who made the request in ctx, and from where: the event's operator and source IP.
// (The event package cannot ask auth itself: the data model, which auth reads, names event types.)
type Caller func(ctx context.Context) (operator, sourceIP string)

// NewPublisher returns a publisher that writes to db's outbox and kicks d.
func NewPublisher(db Execer, d *Dispatcher, log *slog.Logger, caller Caller) *Publisher {
	return &Publisher{db: db, dispatcher: d, log: log, caller: caller}
}

// Publish records e with the caller in ctx as its operator and source. A failure is logged: the
// change stands.
func (p *Publisher) Publish(ctx context.Context, e Event) {
	e.Operator, e.SourceIP = p.caller(ctx)
	if err := Record(ctx, p.db, e); err != nil {
		p.log.Error("record event", "type", e.Type, "err", err)
		return
	}
	p.dispatcher.Kick()
}
