package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	queued = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "berth", Name: "audit_queue_length", Help: "Audit entries waiting in memory to be written."})
	written = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "berth", Name: "audit_entries_written_total", Help: "Audit entries written to PostgreSQL."})
	writeErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "berth", Name: "audit_write_errors_total", Help: "Failed audit batch writes (their entries wait in the spool)."})
	spooledTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "berth", Name: "audit_spooled_total", Help: "Audit entries written to the local spool (queue full or database unavailable)."})
	spoolBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "berth", Name: "audit_spool_bytes", Help: "Bytes of audit entries in the local spool waiting for PostgreSQL."})
	droppedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "berth", Name: "audit_entries_dropped_total",
		Help: "Audit entries lost: the spool was full or could not be written, a spooled line could not be read, or the writer was closed."})
)

// Collectors are this package's metrics (the writer's and the forwarder's), for the composition
// root to register.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{queued, written, writeErrors, spooledTotal, spoolBytes, droppedTotal,
		forwardBehind, forwardHealthy, forwardedTotal}
}

// Queue, batch and timing.
const (
	queueSize = 10000
	batchSize = 1000
	// linger is how long the writer gathers a batch after its first entry.
	linger = 100 * time.Millisecond
	// writeTimeout bounds one batch insert, so a database that stopped answering is found out.
	writeTimeout = 10 * time.Second
	// retryMax is the longest wait between attempts to write the spool while the database is away.
	retryMax = 5 * time.Second
	// reportEvery limits repeated log lines (write failures, lost entries) to one per interval.
	reportEvery = time.Minute
)

// WriterOptions configure a Writer's spool.
type WriterOptions struct {
	// SpoolDir is the directory of the spool, on local disk, used by this process alone.
	SpoolDir string
	// SpoolLimit is how many bytes of entries the spool holds at most (DefaultSpoolLimit if 0).
	SpoolLimit int64
}

// record is an entry with its place in the order entries were recorded.
type record struct {
	seq uint64
	e   Entry
}

// Writer takes entries from request handlers and writes them to PostgreSQL in batches, so that no
// request waits for the database. Record never blocks: an entry goes to a bounded in-memory queue
// or, when that is full or the database cannot be written, to a spool on local disk, which the
// writer writes to PostgreSQL when it can, in the order entries were recorded. A spool left by a
// crash is written at the next start. Only when the spool too is full is an entry lost, and that
// is counted (berth_audit_entries_dropped_total) and logged.
type Writer struct {
	pool     *pgxpool.Pool
	settings *Settings
	log      *slog.Logger
	queue    chan record // never closed: a Record racing Close cannot send on a closed channel

	// dbCtx is cancelled when Close's deadline for database writes passes.
	dbCtx    context.Context
	cancelDB context.CancelFunc
	stopping chan struct{} // closed by Close
	done     chan struct{} // closed when the write loop has ended
	stop     sync.Once

	mu       sync.Mutex
	next     uint64 // sequence number of the next entry
	spooling bool   // entries go to the spool, not the queue, until it is written out
	closed   bool
	spool    *spool
	// Reports of lost entries and failed writes, at most one a reportEvery.
	lost, lostReported   int64
	lastLost, lastFailed time.Time
	failing              bool
}

// NewWriter opens the spool (taking it for this process, and finding what a previous one left)
// and starts the writer.
func NewWriter(pool *pgxpool.Pool, settings *Settings, log *slog.Logger, opts WriterOptions) (*Writer, error) {
	if opts.SpoolDir == "" {
		return nil, errors.New("audit writer: no spool directory")
	}
	if opts.SpoolLimit <= 0 {
		opts.SpoolLimit = DefaultSpoolLimit
	}
	sp, next, err := openSpool(opts.SpoolDir, opts.SpoolLimit)
	if err != nil {
		return nil, err
	}
	w := &Writer{pool: pool, settings: settings, log: log, queue: make(chan record, queueSize), stopping: make(chan struct{}),
		done: make(chan struct{}), next: next, spool: sp, spooling: !sp.empty()}
	w.dbCtx, w.cancelDB = context.WithCancel(context.Background())
	if w.spooling {
		log.Info("audit: writing entries left in the spool by an earlier run", "spool", opts.SpoolDir, "bytes", sp.pending)
	}
	go w.run()
	return w, nil
}

// errClosed is Record's answer after Close.
var errClosed = errors.New("audit writer closed: the entry was not recorded")

// Record takes e, filling user, source IP and time from ctx. It never waits for the database or
// for room in the queue. It returns an error only after Close; an entry that the spool has no
// room for is counted and logged by the writer.
func (w *Writer) Record(ctx context.Context, e Entry) error {
	e = bounded(FromContext(ctx, e))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.lostLocked(1, errClosed)
		return errClosed
	}
	r := record{seq: w.next, e: e}
	w.next++
	if !w.spooling {
		select {
		case w.queue <- r:
			return nil
		default:
			// The queue is full: this entry and every later one go to the spool until the writer
			// has caught up, which keeps them in order.
			w.spooling = true
		}
	}
	w.spoolLocked([]record{r})
	return nil
}

// Log is Record for a change that stands whether or not it is audited (the domain services'
// case): the only failure, after Close, is logged.
func (w *Writer) Log(ctx context.Context, e Entry) {
	if err := w.Record(ctx, e); err != nil {
		w.log.Error("audit: record", "operation", e.Operation, "resource", e.Resource, "err", err)
	}
}

// spoolLocked writes recs to the spool, counting and reporting any it cannot keep.
func (w *Writer) spoolLocked(recs []record) {
	kept, err := w.spool.write(recs)
	if kept < len(recs) {
		if err == nil {
			err = fmt.Errorf("the audit spool is full (%d bytes; BERTH_AUDIT_SPOOL_SIZE)", w.spool.limit)
		}
		w.lostLocked(len(recs)-kept, err)
	}
}

// lostLocked counts entries that are lost and logs it, at most once a reportEvery.
func (w *Writer) lostLocked(n int, why error) {
	droppedTotal.Add(float64(n))
	w.lost += int64(n)
	if now := time.Now(); now.Sub(w.lastLost) >= reportEvery {
		w.log.Error("audit: entries lost", "lost", w.lost-w.lostReported, "lost_since_start", w.lost, "reason", why.Error())
		w.lostReported, w.lastLost = w.lost, now
	}
}

// LogPulls reports whether pulls are to be recorded (a setting).
func (w *Writer) LogPulls() bool { return w.settings.Current().LogPulls }

// Close stops taking entries and writes what it holds: to PostgreSQL while ctx's deadline leaves
// time, and what is left to the spool, for the next start. It returns when that is done or when
// ctx ends, whichever is first.
func (w *Writer) Close(ctx context.Context) error {
	w.stop.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		// Database writes stop early enough to leave time for spooling what they could not write.
		dbCtx := ctx
		if d, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			dbCtx, cancel = context.WithDeadline(ctx, d.Add(-min(time.Until(d)/4, time.Second)))
			context.AfterFunc(w.dbCtx, cancel)
		}
		context.AfterFunc(dbCtx, w.cancelDB)
		close(w.stopping)
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close audit writer: %w (entries still in memory may be lost)", ctx.Err())
	}
}

func (w *Writer) run() {
	defer close(w.done)
	defer w.cancelDB()
	syncTick := time.NewTicker(time.Second)
	defer syncTick.Stop()
	retry := time.Duration(0)
	for {
		// The queue first: while spooling, nothing new enters it, so whatever it holds is older
		// than everything in the spool.
		if batch := w.take(); len(batch) > 0 {
			w.writeOrSpool(batch)
			continue
		}
		stopping := isClosed(w.stopping)
		if w.isSpooling() {
			err := w.drain()
			if err == nil {
				retry = 0
				continue
			}
			if stopping {
				break // the rest stays in the spool for the next start
			}
			retry = min(max(2*retry, 100*time.Millisecond), retryMax)
		} else if stopping {
			break
		}
		var wake <-chan time.Time
		if retry > 0 && w.isSpooling() {
			wake = time.After(retry)
		}
		select {
		case r := <-w.queue:
			w.writeOrSpool(w.gather(r))
		case <-wake:
		case <-syncTick.C:
			w.syncSpool()
		case <-w.stopping:
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.spool.close(); err != nil {
		w.log.Error("audit: close the spool", "err", err)
	}
	queued.Set(0)
}

// take returns what the queue holds now, up to a batch, without waiting.
func (w *Writer) take() []record {
	var batch []record
	for len(batch) < batchSize {
		select {
		case r := <-w.queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// gather makes a batch that starts with first: what arrives within linger, up to batchSize.
func (w *Writer) gather(first record) []record {
	batch := append(make([]record, 0, 64), first)
	timer := time.NewTimer(linger)
	defer timer.Stop()
	for len(batch) < batchSize {
		select {
		case r := <-w.queue:
			batch = append(batch, r)
		case <-timer.C:
			return batch
		case <-w.stopping:
			return append(batch, w.take()...)
		}
	}
	return batch
}

// writeOrSpool writes batch to PostgreSQL or, failing that, to the spool together with all that
// is queued, and makes later entries go to the spool until it is written out.
func (w *Writer) writeOrSpool(batch []record) {
	queued.Set(float64(len(w.queue)))
	entries := make([]Entry, len(batch))
	for i, r := range batch {
		entries[i] = r.e
	}
	err := w.write(entries)
	if err == nil {
		w.recovered()
		return
	}
	w.failed(err)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.spooling = true
	for {
		rest := w.take() // no Record adds to the queue any more
		if len(rest) == 0 {
			break
		}
		batch = append(batch, rest...)
	}
	// These are older than anything Record spooled meanwhile; the spool keeps them first.
	w.spoolLocked(batch)
	queued.Set(0)
}

// drain writes one batch from the spool to PostgreSQL. When the spool is empty, entries go to the
// queue again.
func (w *Writer) drain() error {
	w.mu.Lock()
	seg, from, to := w.spool.head()
	if seg == nil {
		if w.spooling {
			w.log.Info("audit: the spool is written to the database; recording through the queue again")
		}
		w.spooling = false
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	entries, next, bad, err := readBatch(seg, from, to, batchSize)
	if err != nil {
		w.failed(err)
		return err
	}
	if len(entries) > 0 {
		if err := w.write(entries); err != nil {
			w.failed(err)
			return err
		}
		w.recovered()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if bad > 0 {
		w.lostLocked(bad, fmt.Errorf("unreadable lines in the audit spool %s (cut short by a crash?)", seg.path))
	}
	w.spool.advance(seg, next)
	return nil
}

func (w *Writer) isSpooling() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.spooling
}

func (w *Writer) syncSpool() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.spool.sync(); err != nil {
		w.log.Error("audit: sync the spool", "err", err)
	}
}

// write inserts entries in one transaction that holds the commit-order lock.
func (w *Writer) write(entries []Entry) error {
	ctx, cancel := context.WithTimeout(w.dbCtx, writeTimeout)
	defer cancel()
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error { return insert(ctx, tx, entries) })
	if err != nil {
		writeErrors.Inc()
		return err
	}
	written.Add(float64(len(entries)))
	return nil
}

// failed logs a failed write: at once when writes start failing, then at most once a reportEvery.
func (w *Writer) failed(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now := time.Now(); !w.failing || now.Sub(w.lastFailed) >= reportEvery {
		w.log.Warn("audit: cannot write to the database; entries wait in the local spool", "spool", w.spool.dir, "err", err)
		w.lastFailed = now
	}
	w.failing = true
}

func (w *Writer) recovered() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failing {
		w.log.Info("audit: writing to the database again")
		w.failing = false
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
