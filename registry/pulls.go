package registry

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/event"
)

var pullsDropped = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "berth", Name: "pull_records_dropped_total",
	Help: "Manifest pulls not counted in pull statistics: the recorder's queue was full, the database could not be written, or the recorder was closed.",
})

// Collectors are this package's metrics, for the composition root to register.
func Collectors() []prometheus.Collector { return []prometheus.Collector{pullsDropped} }

// pull is one manifest GET that succeeded: reference is a tag or a digest.
type pull struct {
	repo, reference, operator string
}

// pullRecorder keeps pull counts and times off the request path: a pull only puts a record on a
// queue, never waiting; a goroutine adds them up and writes them in one statement per artifact
// every interval. Statistics may lag by the interval. Pull counts are not worth a pull's
// latency: a full queue (the database slow or down) or a failed write loses them, counted in
// berth_pull_records_dropped_total and logged at most once a minute. (The audit entry of each
// pull goes through the audit writer, which loses nothing.)
type pullRecorder struct {
	db       *ent.Client
	events   *event.Dispatcher
	log      *slog.Logger
	queue    chan pull // never closed: a pull racing close cannot send on a closed channel
	interval time.Duration
	stopping chan struct{}
	done     chan struct{}
	stop     sync.Once

	mu                 sync.Mutex
	lost, lostReported int64
	lastReport         time.Time
}

// flushTimeout bounds one flush, so that a database that does not answer delays statistics,
// never the recorder's shutdown for long.
const flushTimeout = 5 * time.Second

func newPullRecorder(db *ent.Client, events *event.Dispatcher, log *slog.Logger) *pullRecorder {
	p := &pullRecorder{db: db, events: events, log: log, queue: make(chan pull, 10000), interval: time.Second,
		stopping: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *pullRecorder) record(repo, reference, operator string) {
	select {
	case <-p.stopping:
		p.dropped(1, "the registry is shutting down")
		return
	default:
	}
	select {
	case p.queue <- pull{repo, reference, operator}:
	default:
		p.dropped(1, "the pull recorder's queue is full (is the database slow or down?)")
	}
}

// dropped counts lost pulls and logs it, at most once a minute.
func (p *pullRecorder) dropped(n int, why string) {
	pullsDropped.Add(float64(n))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lost += int64(n)
	if now := time.Now(); now.Sub(p.lastReport) >= time.Minute {
		p.log.Warn("pull statistics: pulls not counted", "pulls", p.lost-p.lostReported, "since_start", p.lost, "reason", why)
		p.lostReported, p.lastReport = p.lost, now
	}
}

// close flushes what is queued and stops the recorder.
func (p *pullRecorder) close() {
	p.stop.Do(func() {
		close(p.stopping)
		<-p.done
	})
}

func (p *pullRecorder) run() {
	defer close(p.done)
	ticker := time.NewTicker(p.interval)
	defer ticker.Stop()
	pending := map[pull]int{}
	for {
		select {
		case rec := <-p.queue:
			pending[rec]++
		case <-ticker.C:
			p.flush(pending)
			pending = map[pull]int{}
		case <-p.stopping:
			for {
				select {
				case rec := <-p.queue:
					pending[rec]++
					continue
				default:
				}
				break
			}
			p.flush(pending)
			return
		}
	}
}

func (p *pullRecorder) flush(pending map[pull]int) {
	if len(pending) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	now := time.Now().UTC()
	var (
		lost     int
		firstErr error
	)
	for rec, n := range pending {
		if err := p.flushOne(ctx, rec, n, now); err != nil {
			lost += n
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if lost > 0 {
		p.dropped(lost, "writing pull statistics failed: "+firstErr.Error())
	}
	p.events.Kick()
}

// flushOne adds n pulls of one reference to the statistics and records one ARTIFACT_PULLED event
// with that count, in one transaction.
func (p *pullRecorder) flushOne(ctx context.Context, rec pull, n int, now time.Time) error {
	tx, err := p.db.Tx(ctx)
	if err != nil {
		return err
	}
	// One statement updates the artifact (by digest, or through the tag), the tag's pull time,
	// and the repository's count.
	_, err = tx.ExecContext(ctx, `
WITH repo AS (
    UPDATE repositories SET pull_count = pull_count + $3 WHERE name = $1 RETURNING id
), tagged AS (
    UPDATE tags SET pull_time = $4 FROM repo WHERE tags.repository_id = repo.id AND tags.name = $2 RETURNING tags.artifact_id
)
UPDATE artifacts SET pull_count = pull_count + $3, pull_time = $4
FROM repo
WHERE artifacts.repository_id = repo.id
  AND (artifacts.digest = $2 OR artifacts.id IN (SELECT artifact_id FROM tagged))`,
		rec.repo, rec.reference, n, now)
	if err == nil {
		e := event.Event{Type: event.ArtifactPulled, OccurredAt: now, Operator: rec.operator,
			ProjectName: projectOf(rec.repo), Repository: rec.repo, Count: int64(n)}
		if strings.Contains(rec.reference, ":") {
			e.Digest = rec.reference
		} else {
			e.Tag = rec.reference
		}
		err = event.Record(ctx, tx, e)
	}
	if err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}
