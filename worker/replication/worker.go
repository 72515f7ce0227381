package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	"github.com/riverqueue/river"
	"golang.org/x/time/rate"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/artifact"
	entevent "github.com/berth-registry/berth/ent/event"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/replicationexecution"
	"github.com/berth-registry/berth/ent/replicationpolicy"
	"github.com/berth-registry/berth/ent/replicationtask"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/worker/run"
)

// TaskWorkers is how many tasks of one execution run at once.
const TaskWorkers = 4

// Remotes builds clients of registry endpoints (endpoint.Service does).
type Remotes interface {
	Remote(ctx context.Context, id int) (*endpoint.Remote, error)
}

// Worker performs executions.
type Worker struct {
	river.WorkerDefaults[Args]
	pool    *pgxpool.Pool
	db      *ent.Client
	store   LocalStore
	remotes Remotes
	log     *slog.Logger
	kick    func()
}

// NewWorker returns the execution worker: local content through store, remote clients from
// remotes; kick, if not nil, has progress events dispatched at once.
func NewWorker(pool *pgxpool.Pool, db *ent.Client, store LocalStore, remotes Remotes, log *slog.Logger, kick func()) *Worker {
	return &Worker{pool: pool, db: db, store: store, remotes: remotes, log: log, kick: kick}
}

// Timeout bounds one attempt.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return Timeout }

// principal is who replication writes as: events and audit entries name the policy.
func principal(p *ent.ReplicationPolicy) *auth.Principal {
	return &auth.Principal{Kind: auth.KindUser, Name: "replication:" + p.Name}
}

// Work performs (or resumes) the execution the job names.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	e, err := w.db.ReplicationExecution.Query().Where(replicationexecution.ID(job.Args.ExecutionID)).WithPolicy().Only(ctx)
	if ent.IsNotFound(err) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if e.Status != replicationexecution.StatusPending && e.Status != replicationexecution.StatusRunning {
		return nil
	}
	p := e.Edges.Policy
	ctx = auth.WithPrincipal(ctx, principal(p))
	x := &execution{w: w, e: e, p: p, lastReport: time.Now(), sent: map[digest.Digest]*blobFlight{}}
	if p.SpeedKB > 0 {
		x.limit = rate.NewLimiter(rate.Limit(p.SpeedKB*1024), max(p.SpeedKB*1024, 32*1024))
	}
	if job.Attempt > 1 {
		x.logf("attempt %d: resuming the tasks not done", job.Attempt)
	}
	if err := w.db.ReplicationExecution.UpdateOneID(e.ID).SetStatus(replicationexecution.StatusRunning).
		SetStartedAt(time.Now()).Exec(ctx); err != nil {
		return err
	}
	w.event(ctx, e.ID, event.ReplicationStarted, 0)
	err = x.run(ctx)
	status := replicationexecution.StatusSuccess
	stopped, why, ended := run.Outcome(ctx, Timeout)
	bg := context.WithoutCancel(ctx)
	switch {
	case ended && stopped:
		status = replicationexecution.StatusStopped
		x.logf("%s", why)
		_, _ = w.pool.Exec(bg, `UPDATE replication_tasks SET status = 'STOPPED', ended_at = now()
WHERE execution_id = $1 AND status IN ('PENDING', 'RUNNING')`, e.ID)
	case ended:
		status = replicationexecution.StatusError
		x.logf("%s", why)
	case err != nil:
		status = replicationexecution.StatusError
		x.logf("failed: %v", err)
	}
	if rerr := recount(bg, w.pool, e.ID); rerr != nil {
		return errors.Join(err, rerr)
	}
	done, rerr := w.db.ReplicationExecution.Get(bg, e.ID)
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	if status == replicationexecution.StatusSuccess && done.Failed > 0 {
		status = replicationexecution.StatusError
	}
	if !ended && err == nil {
		x.logf("done: %d tasks, %d succeeded, %d failed, %d skipped, %d bytes sent", done.Total, done.Succeeded, done.Failed, done.Skipped, done.Bytes)
	}
	// Only a run still under way: the reconciler may have ended it (this worker presumed dead).
	if serr := w.db.ReplicationExecution.Update().Where(replicationexecution.ID(e.ID),
		replicationexecution.StatusIn(replicationexecution.StatusPending, replicationexecution.StatusRunning)).
		SetStatus(status).SetEndedAt(time.Now()).SetLog(e.Log + x.logText()).Exec(bg); serr != nil {
		return errors.Join(err, serr)
	}
	w.event(ctx, e.ID, event.ReplicationCompleted, int64(done.Succeeded))
	if ended {
		return run.Cancel(why)
	}
	return nil // failures are the tasks'; the execution records them
}

func (w *Worker) event(ctx context.Context, id int, typ event.Type, n int64) {
	err := event.Record(context.WithoutCancel(ctx), w.db, event.Event{Type: typ, Operator: auth.PrincipalFrom(ctx).Name, JobID: int64(id), Count: n})
	if err == nil && w.kick != nil {
		w.kick()
	}
}

// execution is one execution in progress.
type execution struct {
	w     *Worker
	e     *ent.ReplicationExecution
	p     *ent.ReplicationPolicy
	limit *rate.Limiter
	src   side
	dst   side

	mu         sync.Mutex
	log        strings.Builder
	lastReport time.Time
	// sent remembers the destination repository each blob went to, for cross-repository mounts.
	sent map[digest.Digest]*blobFlight
	// proxy caches whether a destination project is a proxy cache.
	proxy map[string]error
}

func (x *execution) logf(format string, args ...any) {
	x.mu.Lock()
	x.log.WriteString(run.Line(format, args...))
	x.mu.Unlock()
}

func (x *execution) logText() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.log.String()
}

func (x *execution) run(ctx context.Context) error {
	remote, err := x.w.remotes.Remote(ctx, x.p.RegistryID)
	if err != nil {
		return err
	}
	loc := &local{store: x.w.store, db: x.w.db}
	far := &far{r: remote, chunk: x.p.CopyByChunk}
	if x.p.Direction == replicationpolicy.DirectionPush {
		x.src, x.dst = loc, far
	} else {
		x.src, x.dst = far, loc
	}
	if !x.e.Planned {
		x.logf("%s replication to %s (%s)", strings.ToLower(string(x.p.Direction)), remote.Endpoint.Name, remote.Endpoint.URL)
		if err := x.plan(ctx); err != nil {
			return fmt.Errorf("list what to replicate: %w", err)
		}
	}
	tasks, err := x.w.db.ReplicationTask.Query().Where(replicationtask.ExecutionID(x.e.ID),
		replicationtask.StatusIn(replicationtask.StatusPending, replicationtask.StatusRunning)).
		Order(ent.Asc(replicationtask.FieldID)).All(ctx)
	if err != nil {
		return err
	}
	queue := make(chan *ent.ReplicationTask)
	var wg sync.WaitGroup
	for range TaskWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range queue {
				x.task(ctx, t)
			}
		}()
	}
	for _, t := range tasks {
		if ctx.Err() != nil {
			break
		}
		queue <- t
	}
	close(queue)
	wg.Wait()
	return nil
}

// candidate is one artifact to replicate.
type candidate struct {
	repo, digest string
	tags         []string
	resource     string // image or artifact
	deletion     bool
	skip         string // a reason to record the task as skipped
}

// plan lists the execution's tasks: for an event, the event's artifact; otherwise every
// artifact the policy's filters pass.
func (x *execution) plan(ctx context.Context) error {
	var cands []candidate
	var err error
	switch {
	case x.e.EventID != nil:
		cands, err = x.planEvent(ctx, *x.e.EventID)
	case x.p.Direction == replicationpolicy.DirectionPush:
		cands, err = x.planPush(ctx)
	default:
		cands, err = x.planPull(ctx)
	}
	if err != nil {
		return err
	}
	bulk := make([]*ent.ReplicationTaskCreate, 0, len(cands))
	for _, c := range cands {
		dst := destRepository(x.p, c.repo)
		ref := c.repo + "@" + c.digest
		dref := dst + "@" + c.digest
		if len(c.tags) > 0 {
			ref, dref = c.repo+":"+strings.Join(c.tags, ","), dst+":"+strings.Join(c.tags, ",")
		}
		op := replicationtask.OperationCopy
		if c.deletion {
			op = replicationtask.OperationDeletion
		}
		b := x.w.db.ReplicationTask.Create().SetExecutionID(x.e.ID).SetOperation(op).SetSrcResource(trim(ref, 1024)).
			SetDstResource(trim(dref, 1024)).SetDigest(c.digest).SetTags(c.tags).SetResourceType(c.resource)
		if c.skip != "" {
			b.SetStatus(replicationtask.StatusSkipped).SetMessage(c.skip).SetEndedAt(time.Now())
		}
		bulk = append(bulk, b)
	}
	for i := 0; i < len(bulk); i += 500 {
		if err := x.w.db.ReplicationTask.CreateBulk(bulk[i:min(i+500, len(bulk))]...).Exec(ctx); err != nil {
			return fmt.Errorf("record tasks: %w", err)
		}
	}
	x.logf("%d tasks", len(cands))
	if err := x.w.db.ReplicationExecution.UpdateOneID(x.e.ID).SetPlanned(true).SetTotal(len(cands)).Exec(ctx); err != nil {
		return err
	}
	return recount(ctx, x.w.pool, x.e.ID)
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// planPush lists local artifacts: tagged ones and index parents, not accessories (they travel
// with their subject) nor index children (with their index).
func (x *execution) planPush(ctx context.Context) ([]candidate, error) {
	q := x.w.db.Artifact.Query().Where(artifact.Not(artifact.HasAccessoryLinks()), artifact.Not(artifact.HasParents())).
		WithTags().WithRepository(func(rq *ent.RepositoryQuery) { rq.WithProject() }).WithLabels()
	if x.p.SourceNamespace != "" {
		q = q.Where(artifact.HasRepositoryWith(repository.HasProjectWith(project.Name(x.p.SourceNamespace))))
	}
	arts, err := q.Order(ent.Asc(artifact.FieldID)).All(ctx)
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, a := range arts {
		c, ok := x.filterLocal(a)
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// filterLocal applies the policy's filters to a local artifact.
func (x *execution) filterLocal(a *ent.Artifact) (candidate, bool) {
	repo := a.Edges.Repository
	f := x.p.Filter
	if !match(f.Repository, repo.Name) {
		return candidate{}, false
	}
	var tags []string
	for _, t := range a.Edges.Tags {
		tags = append(tags, t.Name)
	}
	tags, ok := tagsPass(f, tags)
	if !ok {
		return candidate{}, false
	}
	if len(f.Labels) > 0 {
		have := map[string]bool{}
		for _, l := range a.Edges.Labels {
			have[l.Name] = true
		}
		for _, want := range f.Labels {
			if !have[want] {
				return candidate{}, false
			}
		}
	}
	resource := "artifact"
	if isImageType(a.MediaType, a.ArtifactType, a.Config) {
		resource = "image"
	}
	if f.Resource != "" && f.Resource != resource {
		return candidate{}, false
	}
	c := candidate{repo: repo.Name, digest: a.Digest, tags: tags, resource: resource}
	if proj := repo.Edges.Project; proj != nil && proj.ProxyRegistryID != nil && !x.p.IncludeProxyCache {
		c.skip = fmt.Sprintf("skipped: project %s is a proxy cache, and the policy does not include proxy-cache projects", proj.Name)
	}
	return c, true
}

// isImageType tells images from other artifacts by what the index recorded.
func isImageType(mediaType, artifactType, config string) bool {
	if strings.Contains(mediaType, "index") || strings.Contains(mediaType, "manifest.list") {
		return true
	}
	return artifactType == "" || artifactType == "application/vnd.oci.image.config.v1+json" ||
		artifactType == "application/vnd.docker.container.image.v1+json"
}

// planEvent lists the artifact (or deletion) an event names.
func (x *execution) planEvent(ctx context.Context, eventID int64) ([]candidate, error) {
	ev, err := x.w.db.Event.Query().Where(entevent.ID(int(eventID))).Only(ctx)
	if ent.IsNotFound(err) {
		x.logf("event %d is gone from the outbox: nothing to replicate", eventID)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !match(x.p.Filter.Repository, ev.Repository) {
		return nil, nil
	}
	if ev.Type == event.ArtifactDeleted {
		return []candidate{{repo: ev.Repository, digest: ev.Digest, deletion: true, resource: "artifact"}}, nil
	}
	if ev.Type == event.TagDeleted {
		return []candidate{{repo: ev.Repository, digest: ev.Digest, tags: []string{ev.Tag}, deletion: true, resource: "artifact"}}, nil
	}
	a, err := x.localArtifact(ctx, ev.Repository, ev.Digest)
	if ent.IsNotFound(err) {
		x.logf("%s@%s is gone: nothing to replicate", ev.Repository, ev.Digest)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// A signature or SBOM pushed after its subject goes if its subject passes the filters.
	subject := a
	if len(a.Edges.AccessoryLinks) > 0 {
		subject, err = x.localArtifact(ctx, ev.Repository, a.Edges.AccessoryLinks[0].SubjectDigest)
		if ent.IsNotFound(err) {
			x.logf("%s@%s is an accessory of %s, which is not here: nothing to replicate", ev.Repository, ev.Digest, a.Edges.AccessoryLinks[0].SubjectDigest)
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	c, ok := x.filterLocal(subject)
	if !ok {
		return nil, nil
	}
	if subject != a {
		c.digest, c.tags, c.resource = a.Digest, nil, "artifact"
		for _, t := range a.Edges.Tags {
			c.tags = append(c.tags, t.Name)
		}
	}
	return []candidate{c}, nil
}

// localArtifact loads repo@digest with what the filters read.
func (x *execution) localArtifact(ctx context.Context, repo, dgst string) (*ent.Artifact, error) {
	return x.w.db.Artifact.Query().Where(artifact.Digest(dgst), artifact.HasRepositoryWith(repository.Name(repo))).
		WithTags().WithRepository(func(rq *ent.RepositoryQuery) { rq.WithProject() }).WithLabels().WithAccessoryLinks().Only(ctx)
}

// planPull lists the remote's repositories under the source namespace (through its catalog)
// and their tags.
func (x *execution) planPull(ctx context.Context) ([]candidate, error) {
	far := x.src.(*far)
	repos, err := far.catalog(ctx)
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, repo := range repos {
		if x.p.SourceNamespace != "" && !strings.HasPrefix(repo, x.p.SourceNamespace+"/") {
			continue
		}
		if !match(x.p.Filter.Repository, repo) {
			continue
		}
		tags, err := far.tags(ctx, repo)
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %w", repo, err)
		}
		byDigest := map[digest.Digest][]string{}
		var order []digest.Digest
		for _, t := range tags {
			if isCosignTag(t) {
				continue // travels with its subject
			}
			if kept, ok := tagsPass(x.p.Filter, []string{t}); !ok || len(kept) == 0 {
				continue
			}
			d, found, err := far.resolve(ctx, repo, t)
			if err != nil {
				return nil, fmt.Errorf("resolve %s:%s: %w", repo, t, err)
			}
			if !found {
				continue
			}
			if _, seen := byDigest[d]; !seen {
				order = append(order, d)
			}
			byDigest[d] = append(byDigest[d], t)
		}
		for _, d := range order {
			mt, body, err := far.manifest(ctx, repo, d)
			if err != nil {
				return nil, fmt.Errorf("read %s@%s: %w", repo, d, err)
			}
			resource := "artifact"
			if isImage(mt, body) {
				resource = "image"
			}
			if x.p.Filter.Resource != "" && x.p.Filter.Resource != resource {
				continue
			}
			out = append(out, candidate{repo: repo, digest: d.String(), tags: byDigest[d], resource: resource})
		}
	}
	return out, nil
}

func isCosignTag(t string) bool {
	if !strings.HasPrefix(t, "sha256-") {
		return false
	}
	for _, s := range cosignSuffixes {
		if strings.HasSuffix(t, s) {
			return true
		}
	}
	return false
}

// task performs one task and records how it ended.
func (x *execution) task(ctx context.Context, t *ent.ReplicationTask) {
	start := time.Now()
	_ = x.w.db.ReplicationTask.UpdateOneID(t.ID).SetStatus(replicationtask.StatusRunning).SetStartedAt(start).
		AddAttempts(1).Exec(ctx)
	srcRepo, dstRepo := repoOf(t.SrcResource), repoOf(t.DstResource)
	var (
		sent int64
		skip string
		err  error
	)
	switch {
	case t.Operation == replicationtask.OperationDeletion && len(t.Tags) > 0:
		skip, err = x.deleteTags(ctx, dstRepo, digest.Digest(t.Digest), t.Tags)
	case t.Operation == replicationtask.OperationDeletion:
		err = x.dst.deleteManifest(ctx, dstRepo, digest.Digest(t.Digest))
	default:
		sent, skip, err = x.copyArtifact(ctx, srcRepo, dstRepo, digest.Digest(t.Digest), t.Tags)
	}
	status, msg := replicationtask.StatusSuccess, skip
	switch {
	case ctx.Err() != nil:
		status, msg = replicationtask.StatusStopped, "stopped"
	case err != nil:
		status, msg = replicationtask.StatusFailed, err.Error()
		x.w.log.Warn("replication task failed", "execution", x.e.ID, "task", t.ID, "err", err)
	case strings.HasPrefix(skip, "skipped"):
		status = replicationtask.StatusSkipped
	}
	bg := context.WithoutCancel(ctx)
	if uerr := x.w.db.ReplicationTask.UpdateOneID(t.ID).SetStatus(status).SetMessage(trim(msg, 2048)).SetBytes(sent).
		SetDurationMs(time.Since(start).Milliseconds()).SetEndedAt(time.Now()).Exec(bg); uerr != nil {
		x.w.log.Error("record replication task", "task", t.ID, "err", uerr)
	}
	x.progress(bg)
}

// deleteTags removes a deleted tag's replicas from the destination: only where the tag still
// names the artifact it named here (a tag moved since is someone else's), and a tag already gone
// is done.
func (x *execution) deleteTags(ctx context.Context, repo string, was digest.Digest, tags []string) (string, error) {
	var kept []string
	for _, tag := range tags {
		d, ok, err := x.dst.resolve(ctx, repo, tag)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		if was != "" && d != was {
			kept = append(kept, fmt.Sprintf("%s names %s there, not %s", tag, d, was))
			continue
		}
		if err := x.dst.deleteTag(ctx, repo, tag); err != nil {
			return "", err
		}
	}
	if len(kept) > 0 {
		return "skipped: " + strings.Join(kept, "; "), nil
	}
	return "", nil
}

// repoOf is the repository of "repo:tag,tag" or "repo@digest".
func repoOf(res string) string {
	if i := strings.Index(res, "@"); i >= 0 {
		return res[:i]
	}
	if i := strings.LastIndex(res, ":"); i >= 0 && !strings.Contains(res[i:], "/") {
		return res[:i]
	}
	return res
}

// progress saves the totals and sends REPLICATION_PROGRESS, at most once a second.
func (x *execution) progress(ctx context.Context) {
	x.mu.Lock()
	due := time.Since(x.lastReport) >= time.Second
	if due {
		x.lastReport = time.Now()
	}
	x.mu.Unlock()
	if !due {
		return
	}
	if err := recount(ctx, x.w.pool, x.e.ID); err != nil {
		x.w.log.Warn("replication progress", "execution", x.e.ID, "err", err)
		return
	}
	// The log so far: what the execution had when this attempt began, and this attempt's lines.
	if err := x.w.db.ReplicationExecution.UpdateOneID(x.e.ID).SetLog(x.e.Log + x.logText()).Exec(ctx); err != nil {
		x.w.log.Warn("replication progress", "execution", x.e.ID, "err", err)
	}
	x.w.event(ctx, x.e.ID, event.ReplicationProgress, 0)
}

// copyArtifact copies one artifact (its manifest tree, blobs and accessories) and its tags. skip
// says why tags were left alone (override off) or the artifact skipped.
func (x *execution) copyArtifact(ctx context.Context, srcRepo, dstRepo string, d digest.Digest, tags []string) (int64, string, error) {
	if reason, err := x.destRefused(ctx, dstRepo); err != nil {
		return 0, "", err
	} else if reason != "" {
		return 0, reason, nil
	}
	var kept []string
	var notes []string
	for _, t := range tags {
		if !x.p.Override {
			have, found, err := x.dst.resolve(ctx, dstRepo, t)
			if err != nil {
				return 0, "", fmt.Errorf("look up %s:%s on the destination: %w", dstRepo, t, err)
			}
			if found && have != d {
				notes = append(notes, fmt.Sprintf("tag %s exists on the destination (%s) and override is off", t, have))
				continue
			}
		}
		kept = append(kept, t)
	}
	if len(tags) > 0 && len(kept) == 0 {
		return 0, "skipped: " + strings.Join(notes, "; "), nil
	}
	sent, err := x.copyTree(ctx, srcRepo, dstRepo, d, kept, 0)
	if err != nil {
		return sent, "", err
	}
	// Accessories travel with their subject: signatures, SBOMs, attestations.
	accs, err := x.src.accessories(ctx, srcRepo, d)
	if err != nil {
		return sent, "", err
	}
	for _, a := range accs {
		n, err := x.copyTree(ctx, srcRepo, dstRepo, a.Digest, a.Tags, 0)
		sent += n
		if err != nil {
			return sent, "", fmt.Errorf("accessory %s: %w", a.Digest, err)
		}
	}
	return sent, strings.Join(notes, "; "), nil
}

// destRefused says why dstRepo's project may not be written to: a proxy cache, remote or local.
func (x *execution) destRefused(ctx context.Context, dstRepo string) (string, error) {
	proj, _, _ := strings.Cut(dstRepo, "/")
	x.mu.Lock()
	if x.proxy == nil {
		x.proxy = map[string]error{}
	}
	cached, ok := x.proxy[proj]
	x.mu.Unlock()
	if !ok {
		var isProxy bool
		var err error
		if f, remote := x.dst.(*far); remote {
			isProxy, err = f.r.IsProxyCache(ctx, proj)
		} else {
			isProxy, err = x.w.db.Project.Query().Where(project.Name(proj), project.ProxyRegistryIDNotNil()).Exist(ctx)
		}
		if err != nil {
			return "", err
		}
		if isProxy {
			cached = errors.New("skipped: the destination project " + proj + " is a proxy cache, which replication never pushes into")
		}
		x.mu.Lock()
		x.proxy[proj] = cached
		x.mu.Unlock()
	}
	if cached != nil {
		return cached.Error(), nil
	}
	return "", nil
}

// copyTree copies manifest d (children first, then blobs, then the manifest itself) unless the
// destination has it, and points tags at it.
func (x *execution) copyTree(ctx context.Context, srcRepo, dstRepo string, d digest.Digest, tags []string, depth int) (int64, error) {
	if depth > 4 {
		return 0, fmt.Errorf("%s: manifests nested too deep", d)
	}
	mt, body, err := x.src.manifest(ctx, srcRepo, d)
	if err != nil {
		return 0, fmt.Errorf("read manifest %s@%s: %w", srcRepo, d, err)
	}
	if digest.FromBytes(body) != d && d.Algorithm() == digest.SHA256 {
		return 0, fmt.Errorf("manifest %s@%s: the source sent bytes of another digest", srcRepo, d)
	}
	var sent int64
	_, have, err := x.dst.resolve(ctx, dstRepo, d.String())
	if err != nil {
		return 0, fmt.Errorf("look up %s@%s on the destination: %w", dstRepo, d, err)
	}
	if !have {
		children, blobs, err := manifestRefs(mt, body)
		if err != nil {
			return 0, err
		}
		for _, c := range children {
			n, err := x.copyTree(ctx, srcRepo, dstRepo, c.Digest, nil, depth+1)
			sent += n
			if err != nil {
				return sent, err
			}
		}
		for _, b := range blobs {
			n, err := x.copyBlob(ctx, srcRepo, dstRepo, b.Digest, b.Size, b.MediaType)
			sent += n
			if err != nil {
				return sent, err
			}
		}
		if err := x.dst.putManifest(ctx, dstRepo, d.String(), mt, body); err != nil {
			return sent, fmt.Errorf("write manifest %s@%s: %w", dstRepo, d, err)
		}
		sent += int64(len(body))
	}
	for _, t := range tags {
		if err := x.dst.putManifest(ctx, dstRepo, t, mt, body); err != nil {
			return sent, fmt.Errorf("tag %s:%s: %w", dstRepo, t, err)
		}
	}
	return sent, nil
}

// copyBlob sends a blob the destination lacks: HEAD first, a mount from another repository this
// execution sent it to, else the bytes (through the bandwidth limit, checked against the digest).
// Tasks that need the same blob at once wait for the first to send it, then mount it: a base layer
// shared by many images crosses the wire once.
func (x *execution) copyBlob(ctx context.Context, srcRepo, dstRepo string, d digest.Digest, size int64, mediaType string) (int64, error) {
	x.mu.Lock()
	f, waiting := x.sent[d]
	if !waiting {
		f = &blobFlight{done: make(chan struct{})}
		x.sent[d] = f
	}
	x.mu.Unlock()
	from := ""
	if waiting {
		select {
		case <-f.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if f.err == nil {
			if f.repo == dstRepo {
				return 0, nil
			}
			from = f.repo
		}
	}
	open := func() (io.ReadCloser, error) {
		rc, err := x.src.openBlob(ctx, srcRepo, d)
		if err != nil {
			return nil, fmt.Errorf("read blob %s@%s: %w", srcRepo, d, err)
		}
		return &verifyingReader{rc: rc, v: d.Verifier(), d: d, limit: x.limit, ctx: ctx}, nil
	}
	n, err := x.dst.putBlob(ctx, dstRepo, d, size, mediaType, open, from)
	if err != nil {
		err = fmt.Errorf("copy blob %s to %s: %w", d, dstRepo, err)
	}
	if !waiting {
		f.repo, f.err = dstRepo, err
		close(f.done)
	}
	return n, err
}

// blobFlight is a blob one task of the execution is sending (or has sent) to repo.
type blobFlight struct {
	done chan struct{}
	repo string
	err  error
}

// verifyingReader checks at the end of a blob that its bytes have its digest, and paces reads
// to the bandwidth limit.
type verifyingReader struct {
	rc    io.ReadCloser
	v     digest.Verifier
	d     digest.Digest
	limit *rate.Limiter
	ctx   context.Context
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	if r.limit != nil && len(p) > r.limit.Burst() {
		p = p[:r.limit.Burst()]
	}
	n, err := r.rc.Read(p)
	if n > 0 {
		_, _ = r.v.Write(p[:n])
		if r.limit != nil {
			if werr := r.limit.WaitN(r.ctx, n); werr != nil {
				return n, werr
			}
		}
	}
	if errors.Is(err, io.EOF) && !r.v.Verified() {
		return n, fmt.Errorf("blob %s: the source sent bytes of another digest", r.d)
	}
	return n, err
}

func (r *verifyingReader) Close() error { return r.rc.Close() }
