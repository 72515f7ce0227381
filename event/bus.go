package event

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// channel is the PostgreSQL notification channel every replica listens on.
const channel = "berth_events"

// Bus hands every event notification this replica hears to its local subscribers. The Dispatcher
// sends the notifications (on whichever replica dispatches), so an event recorded anywhere
// reaches the subscribers of every replica by the same road.
type Bus struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu   sync.Mutex
	subs map[chan Event]func(Gap)
	// lost is set once a listening connection has been lost, so that the next LISTEN is reported
	// as the end of a gap.
	lost      bool
	listening atomic.Bool

	// gaps counts drops, losses and reconnects by kind; the bus is a prometheus.Collector.
	gaps *prometheus.CounterVec
}

// Gap is why a subscriber may have missed events.
type Gap string

// The gaps a subscriber is told of.
const (
	// GapLost: the listening connection was lost; nothing is heard until it is back.
	GapLost Gap = "connection_lost"
	// GapReconnected: listening again after a loss; what was sent meanwhile is not replayed.
	GapReconnected Gap = "reconnected"
	// GapDropped: the subscriber was too slow and an event was dropped for it.
	GapDropped Gap = "dropped"
)

// NewBus returns a bus over pool. Call Run to start receiving.
func NewBus(pool *pgxpool.Pool, log *slog.Logger) *Bus {
	return &Bus{pool: pool, log: log, subs: map[chan Event]func(Gap){}, gaps: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "berth", Subsystem: "event_bus", Name: "gaps_total",
		Help: "Times subscribers of this replica's event bus may have missed events: dropped (a subscriber too slow, per event and subscriber), connection_lost, reconnected.",
	}, []string{"gap"})}
}

var (
	listeningDesc = prometheus.NewDesc("berth_event_bus_listening",
		"1 while this replica's event bus holds a live LISTEN (hears events recorded anywhere).", nil, nil)
	subscribersDesc = prometheus.NewDesc("berth_event_bus_subscribers",
		"Subscriptions (GraphQL subscriptions, cache followers) this replica's event bus feeds.", nil, nil)
)

// Describe implements prometheus.Collector: the bus reports its gaps, whether it listens and
// how many it feeds.
func (b *Bus) Describe(ch chan<- *prometheus.Desc) {
	b.gaps.Describe(ch)
	ch <- listeningDesc
	ch <- subscribersDesc
}

// Collect implements prometheus.Collector.
func (b *Bus) Collect(ch chan<- prometheus.Metric) {
	b.gaps.Collect(ch)
	listening := 0.0
	if b.Listening() {
		listening = 1
	}
	ch <- prometheus.MustNewConstMetric(listeningDesc, prometheus.GaugeValue, listening)
	ch <- prometheus.MustNewConstMetric(subscribersDesc, prometheus.GaugeValue, float64(b.Subscribers()))
}

// Subscribe returns a channel of every event heard from now on, and a function that ends the
// subscription. A subscriber that falls more than buffer events behind misses events (it is
// told in the log) rather than slowing the bus for everyone.
func (b *Bus) Subscribe(buffer int) (<-chan Event, func()) {
	return b.SubscribeGaps(buffer, nil)
}

// SubscribeGaps is Subscribe for a subscriber that must know when it may have missed events (a
// cache that would otherwise stay stale): onGap is called, on the bus's own goroutine, when an
// event is dropped for it and when the listening connection is lost and regained. onGap must
// return quickly.
func (b *Bus) SubscribeGaps(buffer int, onGap func(Gap)) (<-chan Event, func()) {
	ch := make(chan Event, buffer)
	b.mu.Lock()
	b.subs[ch] = onGap
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
		})
	}
}

// Subscribers is how many subscriptions this replica's bus feeds now.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Listening reports whether the bus holds a live LISTEN now: notifications sent while it does not
// are not heard by this replica.
func (b *Bus) Listening() bool { return b.listening.Load() }

// Run listens for notifications until ctx ends, reconnecting after a lost connection.
func (b *Bus) Run(ctx context.Context) error {
	for {
		err := b.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		b.log.Warn("event bus: listener lost, reconnecting", "err", err)
		b.gap(GapLost)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (b *Bus) listen(ctx context.Context) error {
	pooled, err := b.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	// The connection carries a LISTEN; it never goes back to the pool for others to use.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	b.listening.Store(true)
	defer b.listening.Store(false)
	b.mu.Lock()
	regained := b.lost
	b.mu.Unlock()
	if regained {
		b.gap(GapReconnected)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var e Event
		if err := json.Unmarshal([]byte(n.Payload), &e); err != nil {
			b.log.Error("event bus: undecodable notification", "err", err)
			continue
		}
		b.deliver(e)
	}
}

func (b *Bus) deliver(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch, onGap := range b.subs {
		select {
		case ch <- e:
		default:
			b.log.Warn("event bus: subscriber too slow, event dropped for it", "type", e.Type)
			b.gaps.WithLabelValues(string(GapDropped)).Inc()
			if onGap != nil {
				onGap(GapDropped)
			}
		}
	}
}

// gap tells every subscriber that asked (SubscribeGaps) that it may have missed events.
func (b *Bus) gap(g Gap) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lost = b.lost || g == GapLost
	b.gaps.WithLabelValues(string(g)).Inc()
	for _, onGap := range b.subs {
		if onGap != nil {
			onGap(g)
		}
	}
}
