package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// DefaultLease is how long a run lease lasts without renewal: a worker that dies is noticed
// within about this long.
const DefaultLease = time.Minute

// MinLease is the shortest lease allowed: renewals are a fraction of it apart.
const MinLease = time.Second

// ErrLeaseLost is the cause of a job's context when its lease was taken from it (the reconciler
// presumed its worker dead, or another attempt took over): the job must stop at once.
var ErrLeaseLost = errors.New("the run's lease was lost: another process presumed this worker dead")

// Leases is River worker middleware that holds a lease in run_leases for every attempt of the
// job kinds it is given, renewed while the attempt runs. A lease that is not renewed in time
// says the process working the attempt died; the reconciler then ends its run.
type Leases struct {
	river.MiddlewareDefaults
	pool  *pgxpool.Pool
	ttl   time.Duration
	kinds map[string]bool
	host  string
	log   *slog.Logger
}

// NewLeases returns the middleware for the given job kinds; ttl below MinLease means DefaultLease.
func NewLeases(pool *pgxpool.Pool, ttl time.Duration, log *slog.Logger, kinds ...string) *Leases {
	if ttl < MinLease {
		ttl = DefaultLease
	}
	host, _ := os.Hostname()
	l := &Leases{pool: pool, ttl: ttl, kinds: map[string]bool{}, host: fmt.Sprintf("%s:%d", host, os.Getpid()), log: log}
	for _, k := range kinds {
		l.kinds[k] = true
	}
	return l
}

// TTL is how long a lease lasts without renewal.
func (l *Leases) TTL() time.Duration { return l.ttl }

// Kinds are the job kinds that hold leases.
func (l *Leases) Kinds() []string {
	out := make([]string, 0, len(l.kinds))
	for k := range l.kinds {
		out = append(out, k)
	}
	return out
}

// Work takes the attempt's lease, renews it while doInner runs, and hands it to the job through
// its context (From). A lease that cannot be taken fails the attempt.
func (l *Leases) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if !l.kinds[job.Kind] {
		return doInner(ctx)
	}
	owner := l.host
	if c, err := river.ClientFromContextSafely[pgx.Tx](ctx); err == nil {
		owner += "/" + c.ID()
	}
	lease := &Lease{jobID: job.ID, owner: owner, ttl: l.ttl}
	start := time.Now()
	_, err := l.pool.Exec(ctx, `
INSERT INTO run_leases (id, kind, owner, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))
ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at`,
		job.ID, job.Kind, owner, l.ttl.Seconds())
	if err != nil {
		return fmt.Errorf("take the lease of job %d (%s): %w", job.ID, job.Kind, err)
	}
	lease.renewed(start)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.renew(ctx, lease, cancel, stop)
	}()
	err = doInner(context.WithValue(ctx, leaseKey{}, lease))
	close(stop)
	wg.Wait()
	// The lease is left to expire rather than deleted: until River records the job's end, a
	// missing lease would make the job look dead to the reconciler.
	return err
}

// renew extends the lease every sixth of its life until stop closes. A renewal that finds the
// lease gone or taken means the reconciler ended this attempt: the job's context is cancelled.
func (l *Leases) renew(ctx context.Context, lease *Lease, cancel context.CancelCauseFunc, stop <-chan struct{}) {
	t := time.NewTicker(l.ttl / 6)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return // (not on ctx's end: a stopped job may still be finishing the work in hand)
		case <-t.C:
		}
		start := time.Now()
		rctx, done := context.WithTimeout(context.WithoutCancel(ctx), l.ttl/6)
		tag, err := l.pool.Exec(rctx, `UPDATE run_leases SET expires_at = now() + make_interval(secs => $3)
WHERE id = $1 AND owner = $2 AND expires_at > now()`, lease.jobID, lease.owner, l.ttl.Seconds())
		done()
		switch {
		case err != nil:
			// The database may come back before the lease runs out; Valid says when to stop.
			l.log.Warn("renew run lease", "job", lease.jobID, "err", err)
		case tag.RowsAffected() == 0:
			lease.lose()
			l.log.Error("run lease lost: stopping the job", "job", lease.jobID)
			cancel(ErrLeaseLost)
			return
		default:
			lease.renewed(start)
		}
	}
}

// Held is the SQL condition that the River job whose id is in column jobID holds a run lease that
// has not lapsed: what makes a claim made under a lease (a GC's on a blob) count. The database's
// clock decides, the same for every process.
func Held(jobID string) string {
	return `EXISTS (SELECT 1 FROM run_leases l WHERE l.id = ` + jobID + ` AND l.expires_at > now())`
}

// Lease is the hold an attempt has on its job while it runs.
type Lease struct {
	jobID int64
	owner string
	ttl   time.Duration

	mu         sync.Mutex
	validUntil time.Time
}

// NewLease returns a lease that is valid for ttl from now and is never renewed, for code that
// works a job outside River (tests, tools).
func NewLease(jobID int64, ttl time.Duration) *Lease {
	l := &Lease{jobID: jobID, owner: "local", ttl: ttl}
	l.renewed(time.Now())
	return l
}

type leaseKey struct{}

// From returns the lease of the attempt ctx belongs to, or nil if its kind holds none.
func From(ctx context.Context) *Lease {
	l, _ := ctx.Value(leaseKey{}).(*Lease)
	return l
}

// JobID is the River job the lease is for: what claims made under it name as their owner.
func (l *Lease) JobID() int64 { return l.jobID }

// Valid reports whether the lease is safely held: it was renewed recently enough that, with a
// third of its life to spare, no other process can think its holder dead. Work that cannot be
// undone (deleting from storage) is done only while Valid; the margin covers one such step.
func (l *Lease) Valid() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().Before(l.validUntil.Add(-l.ttl / 3))
}

// renewed records a renewal that started at start: the database counts the lease from its own
// now(), which is later, so counting from start is on the safe side.
func (l *Lease) renewed(start time.Time) {
	l.mu.Lock()
	l.validUntil = start.Add(l.ttl)
	l.mu.Unlock()
}

func (l *Lease) lose() {
	l.mu.Lock()
	l.validUntil = time.Time{}
	l.mu.Unlock()
}
