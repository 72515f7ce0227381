package quota

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/ent"
	entproject "github.com/berth-registry/berth/ent/project"
)

// RecomputeArgs is the River job that recomputes usage exactly: one project, or every project
// when ProjectID is 0. It also releases expired reservations. Each project is one short
// transaction, so a job killed mid-way leaves every project either recomputed or as it was, and
// running it again is harmless.
type RecomputeArgs struct {
	ProjectID int `json:"project_id,omitempty"`
}

// Kind is the River job kind.
func (RecomputeArgs) Kind() string { return "quota_recompute" }

// SweepArgs is the periodic River job that releases expired reservations.
type SweepArgs struct{}

// Kind is the River job kind.
func (SweepArgs) Kind() string { return "quota_sweep" }

// Worker works both jobs.
type Worker struct {
	river.WorkerDefaults[RecomputeArgs]
	db     *ent.Client
	ledger *Ledger
}

// NewWorker returns the recompute worker.
func NewWorker(db *ent.Client, ledger *Ledger) *Worker { return &Worker{db: db, ledger: ledger} }

// Work recomputes.
func (w *Worker) Work(ctx context.Context, job *river.Job[RecomputeArgs]) error {
	ids := []int{job.Args.ProjectID}
	if job.Args.ProjectID == 0 {
		var err error
		if ids, err = w.db.Project.Query().Order(ent.Asc(entproject.FieldID)).IDs(ctx); err != nil {
			return fmt.Errorf("quota recompute: list projects: %w", err)
		}
	}
	for _, id := range ids {
		if _, err := w.ledger.Recompute(ctx, id); err != nil {
			if errors.Is(err, sql.ErrNoRows) { // deleted since
				continue
			}
			return err
		}
	}
	return nil
}

// Sweeper works SweepArgs.
type Sweeper struct {
	river.WorkerDefaults[SweepArgs]
	ledger *Ledger
}

// NewSweeper returns the sweep worker.
func NewSweeper(ledger *Ledger) *Sweeper { return &Sweeper{ledger: ledger} }

// Work sweeps.
func (s *Sweeper) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	_, err := s.ledger.Sweep(ctx)
	return err
}
