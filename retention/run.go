package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	entartifact "github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/retentionpolicy"
	"github.com/berth-registry/berth/ent/retentionrun"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/tagrule"
	"github.com/berth-registry/berth/worker/run"
)

// Args is the job that performs one retention run. Runs are unique per project while queued or
// running, and a run whose worker died is retried (it evaluates again and deletes what is left).
type Args struct {
	RunID     int `json:"run_id"`
	ProjectID int `json:"project_id" river:"unique"`
}

// Kind names the job in River's table.
func (Args) Kind() string { return "tag_retention" }

// InsertOpts: one run per project at a time; three attempts.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: run.Unique(true)}
}

// Table is where runs are recorded, for the shared run lifecycle: 50 kept per project.
var Table = run.Table{Name: "retention_runs", What: "tag retention", End: run.LogEnd,
	StoppedBeforeStart: run.LogStoppedBeforeStart, Keep: 50, Scope: "project_id"}

// ErrRunning is returned when a run is asked for while the project's last one is under way.
var ErrRunning = run.Busy("a tag retention run of this project is already running: wait for it or stop it")

// Timeout bounds one attempt.
const Timeout = 6 * time.Hour

// Start records a run of project projectID's policy and queues its job.
func Start(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx], projectID int, dryRun bool, trigger retentionrun.Trigger, operator string) (int, error) {
	id, _, err := run.Start(ctx, pool, client, Table, run.New{
		Record: func(ctx context.Context, tx pgx.Tx) (int, error) {
			var id int
			return id, tx.QueryRow(ctx, `
INSERT INTO retention_runs (project_id, status, trigger, dry_run, results, log, operator, created_at)
VALUES ($1, 'PENDING', $2, $3, '[]', '', $4, now()) RETURNING id`, projectID, string(trigger), dryRun, operator).Scan(&id)
		},
		Job:   func(id int) river.JobArgs { return Args{RunID: id, ProjectID: projectID} },
		Scope: projectID,
		Busy:  ErrRunning,
	})
	return id, err
}

// Deleter deletes an artifact the way an API delete does (the registry: storage, index, events,
// accessories), asking the tag immutability rules first.
type Deleter interface {
	DeleteArtifact(ctx context.Context, repo string, dgst digest.Digest) error
}

// RepositoryResult is a run's outcome in one repository.
type RepositoryResult struct {
	Repository string     `json:"repository"`
	Retained   int        `json:"retained"`
	Deleted    []Artifact `json:"deleted"` // for a dry run: would be deleted
	Failed     []Artifact `json:"failed,omitempty"`
}

// Artifact names an artifact in a result.
type Artifact struct {
	Digest string   `json:"digest"`
	Tags   []string `json:"tags"`
	Reason string   `json:"reason,omitempty"`
}

// Worker performs runs.
type Worker struct {
	river.WorkerDefaults[Args]
	db      *ent.Client
	deleter Deleter
	guard   *tagrule.Guard
	grace   time.Duration
	log     *slog.Logger
	events  *run.Announcer
}

// NewWorker returns the run worker; grace protects artifacts pushed or pulled that recently.
func NewWorker(db *ent.Client, deleter Deleter, guard *tagrule.Guard, grace time.Duration, log *slog.Logger, kick func()) *Worker {
	return &Worker{db: db, deleter: deleter, guard: guard, grace: grace, log: log, events: run.NewAnnouncer(db, kick, log)}
}

// Timeout bounds a run.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return Timeout }

// Work evaluates the project's policy and deletes (or, for a dry run, lists) what no rule keeps,
// one artifact at a time, checking for a stop between them.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	rr, ok, err := run.Claim(ctx, w.db.RetentionRun.Get, job.Args.RunID, func(r *ent.RetentionRun) bool { return !run.Finished(r.Status) })
	if !ok {
		return err
	}
	logf := run.Line
	line := logf("evaluating the retention policy%s", map[bool]string{true: " (dry run)"}[rr.DryRun])
	if job.Attempt > 1 {
		line = logf("attempt %d: evaluating again, deleting what is left", job.Attempt)
	}
	rr, err = rr.Update().SetStatus(retentionrun.StatusRunning).SetStartedAt(time.Now()).SetLog(rr.Log + line).Save(ctx)
	if err != nil {
		return err
	}
	w.announce(ctx, rr, event.RetentionStarted, 0)
	finish := func(status retentionrun.Status, results []RepositoryResult, line string) error {
		b, _ := json.Marshal(results)
		upd := w.db.RetentionRun.UpdateOne(rr).Where(retentionrun.StatusIn(retentionrun.StatusPending, retentionrun.StatusRunning)).
			SetStatus(status).SetEndedAt(time.Now()).SetLog(rr.Log + line).SetResults(string(b))
		err := upd.Exec(context.WithoutCancel(ctx))
		w.announce(ctx, rr, event.RetentionCompleted, rr.ArtifactsDeleted)
		if ent.IsNotFound(err) {
			return nil
		}
		return err
	}
	rules, err := w.policy(ctx, rr.ProjectID)
	if err != nil {
		_ = finish(retentionrun.StatusError, nil, logf("read the policy: %v", err))
		return err
	}
	candidates, err := w.candidates(ctx, rr.ProjectID)
	if err != nil {
		_ = finish(retentionrun.StatusError, nil, logf("list the artifacts: %v", err))
		return err
	}
	decisions := Evaluate(rules, candidates, time.Now(), w.grace)
	// The job's principal names the run in the events and audit entries of its deletes.
	ctx = auth.WithPrincipal(ctx, &auth.Principal{Name: "tag-retention", Kind: auth.KindRobot})
	results := []RepositoryResult{}
	var total, retained, deleted, failures int64
	lastReport := time.Now()
	for _, d := range decisions {
		if ctx.Err() != nil {
			stopped, why, _ := run.Outcome(ctx, Timeout)
			status := retentionrun.StatusError
			if stopped {
				status = retentionrun.StatusStopped
			}
			w.save(rr, total, retained, deleted, failures)
			_ = finish(status, results, logf("%s after deleting %d artifacts", why, deleted))
			return run.Cancel(why)
		}
		if len(results) == 0 || results[len(results)-1].Repository != d.Repository {
			results = append(results, RepositoryResult{Repository: d.Repository, Deleted: []Artifact{}})
		}
		res := &results[len(results)-1]
		total++
		a := Artifact{Digest: d.Digest, Tags: d.Tags, Reason: d.Reason}
		if !d.Keep {
			// An immutable tag keeps its artifact, dry run or not.
			changes := make([]tagrule.Change, len(d.Tags))
			for i, t := range d.Tags {
				changes[i] = tagrule.Change{Tag: t, From: d.Digest}
			}
			var refusal *tagrule.Refusal
			if err := w.guard.Check(ctx, d.Repository, changes...); errors.As(err, &refusal) {
				d.Keep, a.Reason = true, "immutable: "+refusal.Rule.Describe()
			} else if err != nil {
				return fmt.Errorf("retention run %d: %w", rr.ID, err)
			}
		}
		switch {
		case d.Keep:
			retained++
			res.Retained++
		case rr.DryRun:
			deleted++
			res.Deleted = append(res.Deleted, a)
		default:
			if err := w.deleter.DeleteArtifact(ctx, d.Repository, digest.Digest(d.Digest)); err != nil {
				failures++
				a.Reason = err.Error()
				res.Failed = append(res.Failed, a)
				w.log.Warn("tag retention: delete failed", "run", rr.ID, "repository", d.Repository, "digest", d.Digest, "err", err)
				continue
			}
			deleted++
			res.Deleted = append(res.Deleted, a)
		}
		if time.Since(lastReport) > time.Second {
			lastReport = time.Now()
			w.save(rr, total, retained, deleted, failures)
			w.announce(ctx, rr, event.RetentionProgress, deleted)
		}
	}
	w.save(rr, total, retained, deleted, failures)
	rr.ArtifactsDeleted = deleted
	verb := "deleted"
	if rr.DryRun {
		verb = "would delete"
	}
	status := retentionrun.StatusSuccess
	if failures > 0 {
		status = retentionrun.StatusError
	}
	return finish(status, results, logf("%d artifacts in %d repositories: retained %d, %s %d, %d failed", total, len(results), retained, verb, deleted, failures))
}

func (w *Worker) save(rr *ent.RetentionRun, total, retained, deleted, failures int64) {
	err := w.db.RetentionRun.UpdateOne(rr).SetArtifactsTotal(total).SetArtifactsRetained(retained).
		SetArtifactsDeleted(deleted).SetFailures(failures).Exec(context.Background())
	if err != nil && !ent.IsNotFound(err) {
		w.log.Warn("tag retention: save progress", "run", rr.ID, "err", err)
	}
}

func (w *Worker) announce(ctx context.Context, rr *ent.RetentionRun, typ event.Type, n int64) {
	w.events.Announce(ctx, typ, rr.Operator, rr.ID, n)
}

// policy is the project's enabled rules (none without a policy).
func (w *Worker) policy(ctx context.Context, projectID int) ([]Rule, error) {
	p, err := w.db.RetentionPolicy.Query().Where(retentionpolicy.ProjectID(projectID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rules []Rule
	if err := json.Unmarshal([]byte(p.Rules), &rules); err != nil {
		return nil, fmt.Errorf("decode rules: %w", err)
	}
	return rules, nil
}

// candidates are the project's artifacts that are neither accessories nor index children.
func (w *Worker) candidates(ctx context.Context, projectID int) ([]Candidate, error) {
	as, err := w.db.Artifact.Query().
		Where(entartifact.HasRepositoryWith(repository.ProjectID(projectID)),
			entartifact.Not(entartifact.HasAccessoryLinks()), entartifact.Not(entartifact.HasParents())).
		WithRepository().WithTags().All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Candidate, len(as))
	for i, a := range as {
		tags := make([]string, len(a.Edges.Tags))
		for j, t := range a.Edges.Tags {
			tags[j] = t.Name
		}
		out[i] = Candidate{ID: a.ID, Repository: a.Edges.Repository.Name, Digest: a.Digest, Tags: tags, PushedAt: a.PushTime, PulledAt: a.PullTime}
	}
	return out, nil
}
