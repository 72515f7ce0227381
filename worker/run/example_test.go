package run_test

import (
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/worker/run"
)

// cleanupArgs is a job kind whose runs are recorded: at most one queued or running at a time.
type cleanupArgs struct {
	RunID int `json:"run_id"`
}

func (cleanupArgs) Kind() string { return "cleanup" }

func (cleanupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: run.Unique(false)}
}

// A kind of run declares its table (for the reconciler and Stop), its unique options, and a
// timeout; its worker reads its lease from the context (run.From) before irreversible steps.
func Example() {
	table := run.Table{Name: "cleanup_runs", What: "cleanup", End: run.LogEnd}
	opts := cleanupArgs{}.InsertOpts()
	lease := run.NewLease(42, time.Minute)
	fmt.Println(table.What, len(opts.UniqueOpts.ByState), lease.JobID(), lease.Valid())
	// Output: cleanup 5 42 true
}
