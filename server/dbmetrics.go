package server

import (
	"context"
	"database/sql"
	"sync/atomic"

	"entgo.io/ent/dialect"
	"github.com/prometheus/client_golang/prometheus"
)

var dbQueries = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "berth", Name: "db_queries_total",
	Help: "Statements the API sent to PostgreSQL through ent (jobs and the event listener not included).",
})

func init() { prometheus.MustRegister(dbQueries) }

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
