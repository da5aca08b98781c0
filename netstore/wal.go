package netstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/oplog"
)

// Defaults of the write-ahead log.
const (
	// DefaultFlushInterval is how often the oplogs' files are brought up to
	// date from the write-ahead log, which is then emptied.
	DefaultFlushInterval = time.Second
	// DefaultWALMaxBytes is the size of the write-ahead log past which a
	// flush starts at once.
	DefaultWALMaxBytes = 64 << 20
	// DefaultWALPrealloc is the most bytes a segment of the write-ahead
	// log is made of ahead of need (twice what the last one used, at
	// least 64 KiB): written as zeros and fsynced once, in the
	// background, so that records overwrite zeros in place and a push's
	// fdatasync commits no metadata.
	DefaultWALPrealloc = 4 << 20
	// DefaultFlushWorkers is how many oplogs' files a flush writes and
	// fsyncs at once. Concurrent fsyncs of many files share the file
	// system's journal commits, so a flush of many oplogs takes a few
	// commits instead of one per oplog (BenchmarkFlushManyOplogs).
	DefaultFlushWorkers = 16
)

// The write-ahead log of a store (one for all its users): a push is
// acknowledged once its accepted records are durable in the log, so
// pushes that arrive together share one fsync whatever oplogs they touch.
// A background flusher appends the records to the oplogs' own files (one
// frame per oplog per flush, then fsync), and deletes the log's segments
// they hold. On start the log is replayed into the oplogs, so a crash at
// any moment loses nothing acknowledged.
//
// The log lives in <Dir>/wal, in the segments of an oplog.Journal (whose
// doc gives the framing). Each record is the accepted ops of one push to
// one oplog. Its key names the oplog: one byte, the length of the user
// id, and the id; one byte, the length of the type, and the type; two
// bytes (little endian), the length of the path, and the path (the
// journal writes it once per segment). Its body is the ops as the oplog's
// file holds them: JSON lines without the sha, which replay computes
// again. testdata/wal-v2 pins the format. A version 1 record
// (testdata/wal-v1, replayed after an upgrade) has no key: its body is
// the key's bytes followed by the ops as JSON lines with their shas.
type storeWAL struct {
	s        *Service
	j        *oplog.Journal
	interval time.Duration
	maxBytes int64
	workers  int // oplogs' files written at once by a flush

	flushing sync.Mutex   // held by a flush: one at a time
	logged   atomic.Int64 // unix ms of the last line about a flush pushes waited for

	mu    sync.Mutex
	dirty map[*logEntry]*user // oplogs with records not yet in their file

	kick chan struct{} // asks the flusher to flush now
	stop chan struct{}
	done chan struct{}
}

// walKey encodes the journal key of an oplog.
func walKey(user, typ, path string) []byte {
	b := make([]byte, 0, 4+len(user)+len(typ)+len(path))
	b = append(b, byte(len(user)))
	b = append(b, user...)
	b = append(b, byte(len(typ)))
	b = append(b, typ...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(path)))
	return append(b, path...)
}

// parseWALKey decodes what walKey encodes, and returns what follows it
// (the ops of a version 1 record).
func parseWALKey(b []byte) (user, typ, path string, rest []byte, err error) {
	bad := errors.New("bad journal record")
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", "", "", nil, bad
	}
	user, b = string(b[1:1+int(b[0])]), b[1+int(b[0]):]
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", "", "", nil, bad
	}
	typ, b = string(b[1:1+int(b[0])]), b[1+int(b[0]):]
	if len(b) < 2 {
		return "", "", "", nil, bad
	}
	n := int(binary.LittleEndian.Uint16(b))
	if len(b) < 2+n {
		return "", "", "", nil, bad
	}
	return user, typ, string(b[2 : 2+n]), b[2+n:], nil
}

// openWAL opens the store's write-ahead log and replays it into the
// oplogs, each made durable in its file; then the replayed segments go.
func (s *Service) openWAL() error {
	type key struct{ user, typ, path string }
	pending := make(map[key][]oplog.Op)
	var order []key
	j, last, err := oplog.OpenJournal(filepath.Join(s.cfg.Dir, "wal"), func(jkey, body []byte) error {
		v1 := jkey == nil
		if v1 { // the key, then the ops
			jkey = body
		}
		user, typ, path, rest, err := parseWALKey(jkey)
		if err != nil {
			return err
		}
		if v1 {
			body = rest
		}
		ops, err := oplog.DecodeRecords(body)
		if err != nil {
			return err
		}
		k := key{user, typ, path}
		if _, ok := pending[k]; !ok {
			order = append(order, k)
		}
		pending[k] = append(pending[k], ops...)
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range order {
		u, err := s.user(k.user)
		if err != nil {
			j.Close()
			return fmt.Errorf("replay journal: %w", err)
		}
		e, err := u.log(k.typ, k.path, true)
		if err != nil {
			j.Close()
			return fmt.Errorf("replay journal: %s %s: %w", k.typ, k.path, err)
		}
		_, err = e.d.Merge(pending[k])
		u.cache.unpin(e)
		if err != nil {
			j.Close()
			return fmt.Errorf("replay journal: %s %s: %w", k.typ, k.path, err)
		}
	}
	if last > 0 {
		if err := j.Remove(last); err != nil {
			j.Close()
			return err
		}
	}
	w := &storeWAL{
		s: s, j: j,
		interval: s.cfg.FlushInterval,
		maxBytes: s.cfg.WALMaxBytes,
		workers:  s.cfg.FlushWorkers,
		dirty:    make(map[*logEntry]*user),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.wal = w
	j.OnSync(s.fsync.Observe)
	j.Preallocate(s.cfg.WALPrealloc, s.cfg.Logf)
	if s.cfg.WALMaxRecord > 0 {
		j.LimitRecords(s.cfg.WALMaxRecord)
	}
	s.cache.flush = w.flushSoon
	go w.run()
	return nil
}

// pushJournaled merges the grouped records of one push into their oplogs,
// writes what they accepted to the write-ahead log, and returns once it is
// durable: one wait for every oplog of the push, and one fsync for every
// push that arrives meanwhile. An oplog that cannot be merged or written
// (its records over the log's record bound, a closed log) is left as it
// was and its records get that result, refused for a limit and failed
// otherwise; the other oplogs go on. Once the request is cancelled the
// oplogs not yet merged fail, and what was merged is still made durable
// and published.
func (s *Service) pushJournaled(ctx context.Context, u *user, order []logKey, groups map[logKey][]int, recs []Record, res []oplog.Result) error {
	type staged struct {
		k        logKey
		idx      []int
		ops      []oplog.Op
		got      []oplog.Result
		accepted []oplog.Op
	}
	var done []staged
	var last oplog.Ticket
	for n, k := range order {
		if err := ctx.Err(); err != nil {
			for _, k := range order[n:] {
				for _, i := range groups[k] {
					res[i] = oplog.Result{Code: oplog.CodeFailed, Reason: fmt.Sprintf("not merged: %v", err)}
				}
			}
			break
		}
		idx := groups[k]
		e, err := u.log(k.typ, k.path, true)
		if err != nil {
			for _, i := range idx {
				res[i] = oplog.Refusal(err)
			}
			continue
		}
		ops := make([]oplog.Op, len(idx))
		for j, i := range idx {
			ops[j] = recs[i].Op
		}
		got, t, err := e.d.MergeJournaled(ops, func(lines []byte) (oplog.Ticket, error) {
			if len(lines) == 0 {
				return s.wal.j.Enqueue(nil, nil)
			}
			s.wal.markDirty(e, u)
			return s.wal.j.Enqueue(walKey(u.id, k.typ, k.path), lines)
		})
		u.cache.unpin(e)
		if err != nil {
			s.cfg.Logf("store: user %s: %s %s: %v", u.id, k.typ, k.path, err)
			r := oplog.Result{Code: oplog.CodeFailed, Reason: fmt.Sprintf("not merged: write-ahead log: %v", err)}
			if gig.KindOf(err) == gig.ErrLimit {
				r = oplog.Refusal(err)
			}
			for _, i := range idx {
				res[i] = r
			}
			continue
		}
		last = t
		st := staged{k: k, idx: idx, ops: ops, got: got}
		for j, i := range idx {
			res[i] = got[j]
			if got[j].Outcome() == oplog.Accepted {
				st.accepted = append(st.accepted, ops[j])
			}
		}
		done = append(done, st)
	}
	// Tickets are batches in order: the last one is durable after all
	// earlier ones.
	u.hub.expect(last)
	if err := last.Wait(); err != nil {
		u.hub.publish(last, nil)
		s.cfg.Logf("store: user %s: write-ahead log: %v", u.id, err)
		for _, st := range done {
			for _, i := range st.idx {
				if res[i].Outcome() == oplog.Accepted {
					res[i] = oplog.Result{Code: oplog.CodeFailed, Reason: "not durable: the write-ahead log failed"}
				}
			}
		}
		return fmt.Errorf("write-ahead log: %w", err)
	}
	if s.wal.j.Size() > s.wal.maxBytes {
		s.wal.flushSoon()
	}
	pub := make([]published, len(done))
	for i, st := range done {
		pub[i] = published{st.k.typ, st.k.path, append(st.accepted, u.hub.unheard(st.ops, st.got)...)} // unheard: KeepStream only
	}
	u.hub.publish(last, pub)
	return ctx.Err()
}

// markDirty notes that an oplog has records in the log only, and pins it
// in the store's cache until a flush puts them in its file: an evicted
// oplog is loaded again from its file, which must hold them all. The
// caller holds a pin of e.
func (w *storeWAL) markDirty(e *logEntry, u *user) {
	w.mu.Lock()
	_, had := w.dirty[e]
	w.dirty[e] = u
	w.mu.Unlock()
	if !had {
		u.cache.pin(e)
	}
}

func (w *storeWAL) flushSoon() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// run flushes every interval, or when asked, until stopped.
func (w *storeWAL) run() {
	defer close(w.done)
	var tick <-chan time.Time
	if w.interval > 0 {
		t := time.NewTicker(w.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-w.stop:
			return
		case <-tick:
		case <-w.kick:
		}
		if err := w.flush(); err != nil {
			w.s.cfg.Logf("store: flush of the write-ahead log: %v (it is kept and replayed at the next start)", err)
		}
	}
}

// flush brings every dirty oplog's file up to date and removes the
// segments of the write-ahead log they now hold. The segment is closed
// first: whatever it holds was merged, and marked dirty, before. The
// files are written by up to workers at once, each made durable (fsync)
// before its oplog is unpinned; the segments go only once every file is
// durable, so a flush that fails for one oplog keeps the log whole, and
// the next start replays it.
func (w *storeWAL) flush() error {
	w.flushing.Lock()
	defer w.flushing.Unlock()
	defer w.s.cache.flushDone()
	upTo, err := w.j.Rotate()
	if err != nil {
		return err
	}
	w.mu.Lock()
	dirty := make([]dirtyLog, 0, len(w.dirty))
	for e, u := range w.dirty {
		dirty = append(dirty, dirtyLog{e, u})
	}
	w.dirty = make(map[*logEntry]*user)
	w.mu.Unlock()

	waits0, t0 := w.s.cache.waits.Load(), time.Now()
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errMu   sync.Mutex
		first   error
		workers = min(max(w.workers, 1), len(dirty))
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(dirty)); i = next.Add(1) - 1 {
				x := dirty[i]
				// Flushed, the oplog may be evicted: the slice must not
				// keep it in memory while the rest of the flush runs
				// (tens of seconds for tens of thousands of oplogs).
				dirty[i] = dirtyLog{}
				if err := w.flushOne(x); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if waited := w.s.cache.waits.Load() - waits0; waited > 0 && len(dirty) > workers {
		w.s.cache.logEvery(&w.logged, "store: a flush of %d oplogs took %v, %d files at a time (-flush-workers), while %d pushes waited for it", len(dirty), time.Since(t0).Round(time.Millisecond), workers, waited)
	}
	if first != nil {
		return first
	}
	return w.j.Remove(upTo)
}

// dirtyLog is an oplog with records in the write-ahead log only, and its
// user.
type dirtyLog struct {
	e *logEntry
	u *user
}

// flushOne writes the records of one dirty oplog to its file, durably,
// and drops the write-ahead log's pin; on failure the oplog stays dirty
// (with its pin) for the next flush.
func (w *storeWAL) flushOne(x dirtyLog) error {
	if err := x.e.d.Flush(); err != nil {
		w.mu.Lock()
		_, had := w.dirty[x.e]
		w.dirty[x.e] = x.u // again next time, with its pin
		w.mu.Unlock()
		if had {
			x.u.cache.unpin(x.e)
		}
		return err
	}
	x.u.cache.unpin(x.e)
	return nil
}

// close stops the flusher, flushes, and closes the log.
func (w *storeWAL) close() error {
	if w == nil {
		return nil
	}
	close(w.stop)
	<-w.done
	err := w.flush()
	if cerr := w.j.Close(); err == nil {
		err = cerr
	}
	return err
}

// Flush brings the files of the oplogs up to date from the write-ahead
// log now, as the store does every FlushInterval, and removes the log's
// segments they hold.
func (s *Service) Flush() error {
	if s.wal == nil {
		return nil
	}
	if err := s.wal.flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// Syncs counts the fsyncs of the write-ahead log (for benchmarks).
func (s *Service) Syncs() uint64 { return uint64(s.wal.j.Syncs()) }

// FsyncLatency says how long the write-ahead log's recent fsyncs took:
// "p50 <d> p99 <d> (n <count>)", or "none yet".
func (s *Service) FsyncLatency() string { return s.fsync.Text() }
