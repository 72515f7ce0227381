package signature

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/event"
)

// VerifyArgs is the job that re-verifies the signatures of one artifact (Digest, or the artifact it
// is an accessory of) or, with no Digest, of every signed artifact of a repository. Jobs are
// idempotent and carry no state: a job killed half-way is retried by River and starts over.
type VerifyArgs struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest,omitempty"`
}

// Kind names the job in River's table.
func (VerifyArgs) Kind() string { return "signature_verify" }

// InsertOpts: a few attempts; verification only fails when the database or storage does.
func (VerifyArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

// ReverifyArgs re-verifies every signed artifact of a project (ProjectID 0: of every project),
// after its trusted keys (or the system-wide ones) changed.
type ReverifyArgs struct {
	ProjectID int `json:"project_id"`
}

// Kind names the job in River's table.
func (ReverifyArgs) Kind() string { return "signature_reverify" }

// InsertOpts: as VerifyArgs.
func (ReverifyArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

// VerifyWorker works VerifyArgs.
type VerifyWorker struct {
	river.WorkerDefaults[VerifyArgs]
	v *Verifier
}

// NewVerifyWorker returns the worker of VerifyArgs.
func NewVerifyWorker(v *Verifier) *VerifyWorker { return &VerifyWorker{v: v} }

// Timeout bounds one artifact's verification.
func (*VerifyWorker) Timeout(*river.Job[VerifyArgs]) time.Duration { return time.Minute }

// Work verifies.
func (w *VerifyWorker) Work(ctx context.Context, job *river.Job[VerifyArgs]) error {
	if job.Args.Digest == "" {
		return w.v.VerifyRepository(ctx, job.Args.Repository)
	}
	d, err := digest.Parse(job.Args.Digest)
	if err != nil {
		return river.JobCancel(fmt.Errorf("digest %q: %w", job.Args.Digest, err))
	}
	return w.v.VerifyArtifact(ctx, job.Args.Repository, d)
}

// ReverifyWorker works ReverifyArgs.
type ReverifyWorker struct {
	river.WorkerDefaults[ReverifyArgs]
	v *Verifier
}

// NewReverifyWorker returns the worker of ReverifyArgs.
func NewReverifyWorker(v *Verifier) *ReverifyWorker { return &ReverifyWorker{v: v} }

// Timeout bounds a project's (or the whole registry's) re-verification.
func (*ReverifyWorker) Timeout(*river.Job[ReverifyArgs]) time.Duration { return time.Hour }

// Work re-verifies.
func (w *ReverifyWorker) Work(ctx context.Context, job *river.Job[ReverifyArgs]) error {
	return w.v.VerifyProject(ctx, job.Args.ProjectID)
}

// PushConsumer queues a verification for each pushed artifact (a signature verifies its subject;
// a subject pushed after its signature verifies itself) and for each repository an artifact was
// deleted from (a deleted signature changes its subject's status). It runs inside the event
// dispatcher's transaction, so each event queues its job exactly once.
type PushConsumer struct {
	client *river.Client[pgx.Tx]
}

// NewPushConsumer returns the consumer.
func NewPushConsumer(client *river.Client[pgx.Tx]) *PushConsumer {
	return &PushConsumer{client: client}
}

// Consume queues the jobs.
func (c *PushConsumer) Consume(ctx context.Context, tx pgx.Tx, events []event.Event) error {
	var jobs []river.InsertManyParams
	for _, e := range events {
		switch {
		case e.Type == event.ArtifactPushed && e.Digest != "":
			jobs = append(jobs, river.InsertManyParams{Args: VerifyArgs{Repository: e.Repository, Digest: e.Digest}})
		case e.Type == event.ArtifactDeleted && e.Repository != "":
			jobs = append(jobs, river.InsertManyParams{Args: VerifyArgs{Repository: e.Repository}})
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	if _, err := c.client.InsertManyTx(ctx, tx, jobs); err != nil {
		return fmt.Errorf("queue signature verification: %w", err)
	}
	return nil
}
