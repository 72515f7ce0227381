package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/event"
)

// JobMetrics is the River middleware that counts every job this process works, by kind and
// queue: how many ran and how each attempt ended, how long they took, how many run now.
type JobMetrics struct {
	river.MiddlewareDefaults
	worked   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	running  *prometheus.GaugeVec
}

// NewJobMetrics returns the middleware with its metrics registered on reg.
func NewJobMetrics(reg prometheus.Registerer) (*JobMetrics, error) {
	m := &JobMetrics{
		worked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "berth", Name: "jobs_worked_total",
			Help: "Job attempts this process worked, by kind, queue and outcome: ok, error (to be retried or discarded), cancel, snooze, panic.",
		}, []string{"kind", "queue", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "berth", Name: "job_duration_seconds",
			Help:    "How long job attempts took, by kind and queue.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10), // 5 ms to about 22 minutes
		}, []string{"kind", "queue"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "berth", Name: "jobs_running",
			Help: "Job attempts running in this process now, by kind and queue.",
		}, []string{"kind", "queue"}),
	}
	return m, register(reg, "job metrics", m.worked, m.duration, m.running)
}

// Work counts one attempt around the job's own work.
func (m *JobMetrics) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	running := m.running.WithLabelValues(job.Kind, job.Queue)
	running.Inc()
	start := time.Now()
	outcome := "panic" // unless doInner returns
	defer func() {
		running.Dec()
		m.duration.WithLabelValues(job.Kind, job.Queue).Observe(time.Since(start).Seconds())
		m.worked.WithLabelValues(job.Kind, job.Queue, outcome).Inc()
	}()
	err := doInner(ctx)
	var cancel *river.JobCancelError
	var snooze *river.JobSnoozeError
	switch {
	case err == nil:
		outcome = "ok"
	case errors.As(err, &cancel):
		outcome = "cancel"
	case errors.As(err, &snooze):
		outcome = "snooze"
	default:
		outcome = "error"
	}
	return err
}

// QueueCollector reports, at each scrape, how many jobs wait or run in River's table by kind,
// queue and state: the backlog that no single process sees. One query per scrape, bounded by
// the scrape's own timeout.
type QueueCollector struct {
	pool *pgxpool.Pool
	desc *prometheus.Desc
}

// NewQueueCollector returns a collector over pool's River table.
func NewQueueCollector(pool *pgxpool.Pool) *QueueCollector {
	return &QueueCollector{pool: pool, desc: prometheus.NewDesc("berth_jobs_queued",
		"Jobs not yet finished in River's table, by kind, queue and state (available, scheduled, retryable, running, pending).",
		[]string{"kind", "queue", "state"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. A database that does not answer leaves the series out.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.pool.Query(ctx, `SELECT kind, queue, state::text, count(*) FROM river_job
WHERE state IN ('available', 'scheduled', 'retryable', 'running', 'pending') GROUP BY 1, 2, 3`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var kind, queue, state string
		var n int64
		if rows.Scan(&kind, &queue, &state, &n) != nil {
			return
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), kind, queue, state)
	}
}

// RunProgress follows the events jobs record about their runs (garbage collection, audit purge,
// CVE export, scan) and counts them, so that a run that stops making progress shows. Every
// replica hears every event: aggregate replicas with max, not sum.
type RunProgress struct {
	events *prometheus.CounterVec
	last   *prometheus.GaugeVec
}

// NewRunProgress returns the follower with its metrics registered on reg.
func NewRunProgress(reg prometheus.Registerer) (*RunProgress, error) {
	p := &RunProgress{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "berth", Name: "run_events_total",
			Help: "Events recorded by runs (gc, purge, export, scan), by phase: started, progress, completed, failed, stopped.",
		}, []string{"run", "phase"}),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "berth", Name: "run_last_event_timestamp_seconds",
			Help: "When a run of each kind last recorded an event of each phase (Unix time).",
		}, []string{"run", "phase"}),
	}
	return p, register(reg, "run metrics", p.events, p.last)
}

// Follow counts the run events of events until ctx ends or the channel closes.
func (p *RunProgress) Follow(ctx context.Context, events <-chan event.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			p.Observe(e)
		}
	}
}

// Observe counts e if a run recorded it.
func (p *RunProgress) Observe(e event.Event) {
	run, phase, ok := strings.Cut(string(e.Type), "_")
	if !ok {
		return
	}
	switch run {
	case "GC", "PURGE", "EXPORT", "SCAN":
	default:
		return
	}
	run, phase = strings.ToLower(run), strings.ToLower(phase)
	p.events.WithLabelValues(run, phase).Inc()
	at := e.OccurredAt
	if at.IsZero() {
		at = time.Now()
	}
	p.last.WithLabelValues(run, phase).Set(float64(at.Unix()))
}

// register registers cs on reg, naming what failed.
func register(reg prometheus.Registerer, what string, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}
