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
	Help: "Manifest pulls not counted in pull statistics because the recorder's queue was full.",
})

func init() { prometheus.MustRegister(pullsDropped) }

// pull is one manifest GET that succeeded: reference is a tag or a digest.
type pull struct {
	repo, reference, operator string
}

// pullRecorder keeps pull counts and times off the request path: a pull only puts a record on a
// queue; a goroutine adds them up and writes them in one statement per artifact every interval.
// Statistics may lag by the interval, and a full queue drops records (counted in a metric) rather
// than slowing pulls.
type pullRecorder struct {
	db       *ent.Client
	events   *event.Dispatcher
	log      *slog.Logger
	queue    chan pull
	interval time.Duration
	done     chan struct{}
	stop     sync.Once
}

func newPullRecorder(db *ent.Client, events *event.Dispatcher, log *slog.Logger) *pullRecorder {
	p := &pullRecorder{db: db, events: events, log: log, queue: make(chan pull, 10000), interval: time.Second, done: make(chan struct{})}
	go p.run()
	return p
}

func (p *pullRecorder) record(repo, reference, operator string) {
	select {
	case p.queue <- pull{repo, reference, operator}:
	default:
		pullsDropped.Inc()
	}
}

// close flushes what is queued and stops the recorder.
func (p *pullRecorder) close() {
	p.stop.Do(func() {
		close(p.queue)
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
		case rec, ok := <-p.queue:
			if !ok {
				p.flush(pending)
				return
			}
			pending[rec]++
		case <-ticker.C:
			p.flush(pending)
			pending = map[pull]int{}
		}
	}
}

func (p *pullRecorder) flush(pending map[pull]int) {
	if len(pending) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now().UTC()
	for rec, n := range pending {
		if err := p.flushOne(ctx, rec, n, now); err != nil {
			p.log.Error("record pulls", "repository", rec.repo, "reference", rec.reference, "err", err)
		}
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
