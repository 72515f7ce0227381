package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The spool keeps audit entries on local disk, in order, while PostgreSQL cannot take them (or
// while the in-memory queue is full). It is a directory (a numbered slot of the configured one,
// held by this process alone) of append-only segment files of JSON
// lines, each named by the sequence number of its first entry, so that replaying them in name
// order replays entries in the order they were recorded. Beside each segment a small ".read" file
// says how many of its bytes are already in PostgreSQL; a segment is deleted once all of it is.
//
// Durability: every entry is written to the file (the kernel's page cache) before Record returns,
// so a crashed or killed process loses nothing; the files are fsynced once a second while there
// is something new, and at Close, so a machine crash loses at most the last second.
//
// Every spool method is called with the Writer's mutex held, except readBatch, which reads only
// bytes that are already complete.

const (
	segmentExt = ".spool"
	readExt    = ".read"
	lockName   = "lock"
	// maxSegment is the size at which the spool starts a new segment, so that written-out
	// segments can be deleted while entries keep arriving.
	maxSegment = 64 << 20
)

// DefaultSpoolLimit is how many bytes of entries the spool holds at most (about two million
// entries) unless configured otherwise.
const DefaultSpoolLimit = 512 << 20

// spoolLine is an entry as one line of a segment.
type spoolLine struct {
	Time         time.Time `json:"t"`
	User         string    `json:"u"`
	Project      string    `json:"p,omitempty"`
	Operation    string    `json:"o"`
	ResourceType string    `json:"rt"`
	Resource     string    `json:"r"`
	SourceIP     string    `json:"ip,omitempty"`
	Failed       bool      `json:"f,omitempty"`
}

// segment is one spool file.
type segment struct {
	first uint64   // sequence number of its first entry
	path  string   //
	f     *os.File // open for appending; nil for a segment left by an earlier process or closed
	size  int64    // bytes of complete lines
	read  int64    // bytes already written to PostgreSQL
}

type spool struct {
	dir     string
	limit   int64 // most bytes waiting to be written to PostgreSQL
	lock    *os.File
	segs    []*segment // in sequence order
	pending int64      // bytes waiting to be written to PostgreSQL
	dirty   bool       // written since the last sync
}

// maxSlots is how many processes can share one spool directory (each takes a numbered
// subdirectory of its own).
const maxSlots = 64

// errSpoolInUse says another live process holds a spool slot.
var errSpoolInUse = errors.New("in use by another process")

// openSpool takes a spool under base for this process: the first numbered subdirectory no other
// live process holds (replicas that share a data directory each get their own). Slots left with
// entries by processes that are gone are adopted: their segments move into this one, to be
// written like its own. next is a sequence number above every entry in the spool.
func openSpool(base string, limit int64) (s *spool, next uint64, err error) {
	var (
		dir  string
		lock *os.File
	)
	for n := 0; n < maxSlots && lock == nil; n++ {
		dir = filepath.Join(base, strconv.Itoa(n))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, 0, fmt.Errorf("audit spool %s: %w", dir, err)
		}
		lock, err = lockDir(filepath.Join(dir, lockName))
		if err != nil && !errors.Is(err, errSpoolInUse) {
			return nil, 0, fmt.Errorf("audit spool %s: %w", dir, err)
		}
	}
	if lock == nil {
		return nil, 0, fmt.Errorf("audit spool %s: all %d slots are in use by other processes: give this one its own BERTH_AUDIT_SPOOL_DIR", base, maxSlots)
	}
	s = &spool{dir: dir, limit: limit, lock: lock}
	if _, next, err = s.load(); err != nil {
		s.close()
		return nil, 0, err
	}
	for n := range maxSlots {
		other := filepath.Join(base, strconv.Itoa(n))
		if other == dir {
			continue
		}
		if next, err = s.adopt(other, next); err != nil {
			s.close()
			return nil, 0, err
		}
	}
	if s.segs, next, err = s.load(); err != nil {
		s.close()
		return nil, 0, err
	}
	s.pending = 0
	for _, seg := range s.segs {
		s.pending += seg.size - seg.read
	}
	spoolBytes.Set(float64(s.pending))
	return s, next, nil
}

// adopt moves the segments of the slot in dir, if no live process holds it, into this spool,
// renumbered from next (their order kept), and returns the next free number.
func (s *spool) adopt(dir string, next uint64) (uint64, error) {
	if _, err := os.Stat(dir); err != nil {
		return next, nil
	}
	lock, err := lockDir(filepath.Join(dir, lockName))
	if errors.Is(err, errSpoolInUse) {
		return next, nil
	}
	if err != nil {
		return next, fmt.Errorf("audit spool %s: %w", dir, err)
	}
	defer lock.Close()
	orphan := &spool{dir: dir}
	segs, _, err := orphan.load()
	if err != nil {
		return next, err
	}
	for _, seg := range segs {
		path := filepath.Join(s.dir, fmt.Sprintf("%020d%s", next, segmentExt))
		if seg.read > 0 {
			if err := os.Rename(seg.path+readExt, path+readExt); err != nil {
				return next, fmt.Errorf("adopt audit spool segment %s: %w", seg.path, err)
			}
		}
		if err := os.Rename(seg.path, path); err != nil {
			return next, fmt.Errorf("adopt audit spool segment %s: %w", seg.path, err)
		}
		next += uint64(seg.size) + 1
	}
	return next, nil
}

// load lists the segments in the spool's directory, in order, and a sequence number above every
// entry in them.
func (s *spool) load() (segs []*segment, next uint64, err error) {
	names, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, 0, fmt.Errorf("audit spool %s: %w", s.dir, err)
	}
	next = 1
	for _, d := range names {
		base, ok := strings.CutSuffix(d.Name(), segmentExt)
		if !ok {
			continue
		}
		first, err := strconv.ParseUint(base, 10, 64)
		if err != nil {
			continue // not one of ours
		}
		seg := &segment{first: first, path: filepath.Join(s.dir, d.Name())}
		info, err := d.Info()
		if err != nil {
			return nil, 0, fmt.Errorf("audit spool %s: %w", s.dir, err)
		}
		seg.size = info.Size()
		if b, err := os.ReadFile(seg.path + readExt); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n >= 0 && n <= seg.size {
				seg.read = n
			}
		}
		segs = append(segs, seg)
		// A line is at least one byte, so first+size is above every entry of the segment.
		next = max(next, first+uint64(seg.size)+1)
	}
	slices.SortFunc(segs, func(a, b *segment) int { return compareSeq(a.first, b.first) })
	return segs, next, nil
}

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// empty reports whether nothing waits in the spool.
func (s *spool) empty() bool { return len(s.segs) == 0 }

// write appends records, which are in sequence order, to the spool. Records older than the
// spool's newest entry (the queue's, when the database failed) go into a segment of their own
// that sorts before the newer ones. It returns how many records it kept; the rest did not fit
// (the limit) or could not be written (the error).
func (s *spool) write(recs []record) (int, error) {
	kept := 0
	for kept < len(recs) {
		seg, err := s.segmentFor(recs[kept].seq)
		if err != nil {
			return kept, err
		}
		var buf bytes.Buffer
		n := 0
		for _, r := range recs[kept:] {
			line, err := json.Marshal(spoolLine(r.e))
			if err != nil {
				return kept, fmt.Errorf("encode audit entry: %w", err)
			}
			if s.pending+int64(buf.Len()+len(line)+1) > s.limit {
				break
			}
			buf.Write(line)
			buf.WriteByte('\n')
			n++
			if seg.size+int64(buf.Len()) >= maxSegment {
				break
			}
		}
		if n == 0 {
			return kept, nil // full
		}
		if _, err := seg.f.Write(buf.Bytes()); err != nil {
			// Cut a partly written line off, so that the segment stays whole lines.
			_ = seg.f.Truncate(seg.size)
			return kept, fmt.Errorf("write audit spool %s: %w", seg.path, err)
		}
		seg.size += int64(buf.Len())
		s.pending += int64(buf.Len())
		s.dirty = true
		if seg != s.segs[len(s.segs)-1] {
			// An older segment (the queue's entries, spooled after newer ones): nothing is
			// appended to it later.
			_ = seg.f.Sync()
			_ = seg.f.Close()
			seg.f = nil
		}
		kept += n
		spooledTotal.Add(float64(n))
		spoolBytes.Set(float64(s.pending))
	}
	return kept, nil
}

// segmentFor returns the segment to append an entry with sequence number seq to: the newest one,
// if it is open and seq comes after it and it has room, or a new one.
func (s *spool) segmentFor(seq uint64) (*segment, error) {
	if n := len(s.segs); n > 0 {
		last := s.segs[n-1]
		if last.f != nil && last.first < seq && last.size < maxSegment {
			return last, nil
		}
		if last.first < seq && last.f != nil {
			_ = last.f.Sync()
			_ = last.f.Close()
			last.f = nil
		}
	}
	path := filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segmentExt))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create audit spool segment: %w", err)
	}
	seg := &segment{first: seq, path: path, f: f}
	i, _ := slices.BinarySearchFunc(s.segs, seq, func(g *segment, seq uint64) int { return compareSeq(g.first, seq) })
	s.segs = slices.Insert(s.segs, i, seg)
	return seg, nil
}

// head returns the oldest segment with entries not yet written and the range of its bytes that
// hold them, deleting segments that are done. It returns nil when the spool is empty.
func (s *spool) head() (seg *segment, from, to int64) {
	for len(s.segs) > 0 {
		seg = s.segs[0]
		if seg.read < seg.size {
			return seg, seg.read, seg.size
		}
		s.remove(seg)
	}
	return nil, 0, 0
}

// advance records that the bytes of seg up to n are in PostgreSQL.
func (s *spool) advance(seg *segment, n int64) {
	s.pending -= n - seg.read
	seg.read = n
	spoolBytes.Set(float64(s.pending))
	if seg.read >= seg.size {
		s.remove(seg)
		return
	}
	// Without this a restart would write the segment's first part again. It is not atomic with
	// the insert: a crash between the two writes that batch twice (at least once, never lost).
	_ = os.WriteFile(seg.path+readExt, []byte(strconv.FormatInt(n, 10)), 0o600)
}

func (s *spool) remove(seg *segment) {
	if seg.f != nil {
		_ = seg.f.Close()
		seg.f = nil
	}
	_ = os.Remove(seg.path)
	_ = os.Remove(seg.path + readExt)
	s.pending -= seg.size - seg.read
	seg.read = seg.size
	s.segs = slices.DeleteFunc(s.segs, func(g *segment) bool { return g == seg })
	spoolBytes.Set(float64(s.pending))
}

// sync flushes what was written to disk.
func (s *spool) sync() error {
	if !s.dirty {
		return nil
	}
	var errs []error
	for _, seg := range s.segs {
		if seg.f != nil {
			errs = append(errs, seg.f.Sync())
		}
	}
	// New segment files are entries of the directory.
	if d, err := os.Open(s.dir); err == nil {
		errs = append(errs, d.Sync())
		d.Close()
	}
	s.dirty = false
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sync audit spool %s: %w", s.dir, err)
	}
	return nil
}

// close syncs and closes the files and lets another process take the spool.
func (s *spool) close() error {
	err := s.sync()
	for _, seg := range s.segs {
		if seg.f != nil {
			_ = seg.f.Close()
			seg.f = nil
		}
	}
	if s.lock != nil {
		_ = s.lock.Close() // closing the file releases the lock
		s.lock = nil
	}
	return err
}

// readBatch reads up to max entries of seg from byte from, not past to. It returns them, the
// offset after the last line it consumed, and how many lines it could not decode (skipped: a line
// torn by a crash). A segment's bytes up to size are whole lines, except the tail of one left by a
// crash while it was written.
func readBatch(seg *segment, from, to int64, max int) (entries []Entry, next int64, bad int, err error) {
	f, err := os.Open(seg.path)
	if err != nil {
		return nil, from, 0, fmt.Errorf("read audit spool: %w", err)
	}
	defer f.Close()
	// Read up to 1 MiB at a time: a batch of entries is far smaller.
	buf := make([]byte, min(to-from, 1<<20))
	n, err := f.ReadAt(buf, from)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, from, 0, fmt.Errorf("read audit spool %s: %w", seg.path, err)
	}
	buf = buf[:n]
	if n == 0 {
		// The file is shorter than it was: what is missing cannot be read, ever.
		return nil, to, 1, nil
	}
	next = from
	for len(entries) < max && len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			if len(entries) == 0 && bad == 0 && len(buf) == 1<<20 {
				// No line is this long (entries are bounded): skip the window as unreadable.
				bad++
				next += int64(len(buf))
				break
			}
			if next+int64(len(buf)) < to || len(entries) > 0 || seg.f != nil {
				break // the rest is read next time
			}
			// The unterminated end of a segment an earlier process was writing when it died.
			bad++
			next = to
			break
		}
		var l spoolLine
		if json.Unmarshal(buf[:i], &l) != nil {
			bad++
		} else {
			entries = append(entries, Entry(l))
		}
		next += int64(i + 1)
		buf = buf[i+1:]
	}
	return entries, next, bad, nil
}
