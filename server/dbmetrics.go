package server

import (
	"context"
	"database/sql"
	"sync/atomic"

	"entgo.io/ent/dialect"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

var dbQueries = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "berth", Name: "db_queries_total",
	Help: "Statements the API sent to PostgreSQL through ent (jobs and the event listener not included).",
})

// poolCollector reports the pgx pool's own counters at each scrape: how many connections are
// busy, idle and allowed, and how often callers waited for one.
type poolCollector struct{ pool *pgxpool.Pool }

var (
	poolConns = prometheus.NewDesc("berth_db_pool_connections",
		"Connections in the PostgreSQL pool by state: acquired (in use), idle, constructing.", []string{"state"}, nil)
	poolMax = prometheus.NewDesc("berth_db_pool_max_connections",
		"The most connections the pool opens.", nil, nil)
	poolAcquires = prometheus.NewDesc("berth_db_pool_acquires_total",
		"Connections handed out by the pool, by how: immediate (one was idle), waited (the caller had to wait), canceled (the caller gave up).",
		[]string{"result"}, nil)
	poolAcquireSeconds = prometheus.NewDesc("berth_db_pool_acquire_seconds_total",
		"Time callers spent acquiring connections, summed.", nil, nil)
	poolOpened = prometheus.NewDesc("berth_db_pool_opened_total",
		"Connections the pool opened.", nil, nil)
	poolClosed = prometheus.NewDesc("berth_db_pool_closed_total",
		"Connections the pool closed, by reason: max_lifetime, max_idle_time.", []string{"reason"}, nil)
)

// Describe implements prometheus.Collector.
func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolConns, poolMax, poolAcquires, poolAcquireSeconds, poolOpened, poolClosed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.pool.Stat()
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(poolConns, gauge, float64(st.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(poolConns, gauge, float64(st.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(poolConns, gauge, float64(st.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(poolMax, gauge, float64(st.MaxConns()))
	waited := st.EmptyAcquireCount()
	ch <- prometheus.MustNewConstMetric(poolAcquires, counter, float64(st.AcquireCount()-waited), "immediate")
	ch <- prometheus.MustNewConstMetric(poolAcquires, counter, float64(waited), "waited")
	ch <- prometheus.MustNewConstMetric(poolAcquires, counter, float64(st.CanceledAcquireCount()), "canceled")
	ch <- prometheus.MustNewConstMetric(poolAcquireSeconds, counter, st.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(poolOpened, counter, float64(st.NewConnsCount()))
	ch <- prometheus.MustNewConstMetric(poolClosed, counter, float64(st.MaxLifetimeDestroyCount()), "max_lifetime")
	ch <- prometheus.MustNewConstMetric(poolClosed, counter, float64(st.MaxIdleDestroyCount()), "max_idle_time")
}

// countingDriver counts every statement ent sends, for the metric and for tests that prove a
// request costs a fixed number of queries.
type countingDriver struct {
	dialect.Driver
	n *atomic.Int64
}

func (d countingDriver) count() {
	d.n.Add(1)
	dbQueries.Inc()
}

func (d countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.count()
	return d.Driver.Exec(ctx, query, args, v)
}

func (d countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.count()
	return d.Driver.Query(ctx, query, args, v)
}

func (d countingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return countingTx{Tx: tx, d: d}, nil
}

type countingTx struct {
	dialect.Tx
	d countingDriver
}

func (t countingTx) Exec(ctx context.Context, query string, args, v any) error {
	t.d.count()
	return t.Tx.Exec(ctx, query, args, v)
}

func (t countingTx) Query(ctx context.Context, query string, args, v any) error {
	t.d.count()
	return t.Tx.Query(ctx, query, args, v)
}

// QueryCount is how many statements this server has sent through ent so far.
func (s *Server) QueryCount() int64 { return s.queries.Load() }

// ExecContext and QueryContext pass raw SQL through (ent's ExecContext feature), counted too.
func (d countingDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	d.count()
	return d.Driver.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}).ExecContext(ctx, query, args...)
}

func (d countingDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	d.count()
	return d.Driver.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}).QueryContext(ctx, query, args...)
}

func (t countingTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	t.d.count()
	return t.Tx.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}).ExecContext(ctx, query, args...)
}

func (t countingTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	t.d.count()
	return t.Tx.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}).QueryContext(ctx, query, args...)
}
