package audit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/migrations"
	"github.com/berth-registry/berth/server/servertest"
)

type bundle struct {
	pool     *pgxpool.Pool
	settings *audit.Settings
}

func setup(t *testing.T) bundle {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, servertest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := migrations.Apply(ctx, pool, log); err != nil {
		t.Fatal(err)
	}
	settings, err := audit.LoadSettings(ctx, pool, log)
	if err != nil {
		t.Fatal(err)
	}
	return bundle{pool: pool, settings: settings}
}

// Everything queued is written by Close, in the order it was recorded.
func TestWriterFlushesInOrderOnClose(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := audit.NewWriter(b.pool, b.settings, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const n = 25000 // more than the queue holds: Record must wait for room, never drop
	for i := range n {
		if err := w.Record(context.Background(), audit.Entry{User: "u", Operation: audit.OpPull, ResourceType: "artifact",
			Resource: fmt.Sprintf("library/x:%d", i)}); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	w.Close()
	rows, err := b.pool.Query(context.Background(), "SELECT resource FROM audit_logs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var r string
		_ = rows.Scan(&r)
		if want := fmt.Sprintf("library/x:%d", i); r != want {
			t.Fatalf("entry %d is %q, want %q", i, r, want)
		}
		i++
	}
	if i != n {
		t.Fatalf("%d entries written, want %d", i, n)
	}
	if err := w.Record(context.Background(), audit.Entry{}); err == nil {
		t.Fatal("a closed writer accepted an entry")
	}
}

// When the queue is full, Record waits and gives up only when its context does.
func TestWriterAppliesBackPressure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.pool.Close() // every write fails: the writer keeps its batch and retries, so the queue fills
	w := audit.NewWriter(b.pool, b.settings, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var err error
	for i := 0; i < 20000 && err == nil; i++ {
		err = w.Record(ctx, audit.Entry{User: "u", Operation: audit.OpPull, ResourceType: "artifact", Resource: "r"})
	}
	if err == nil || ctx.Err() == nil {
		t.Fatalf("Record never waited with a full queue (err %v)", err)
	}
}
