package oplog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/atomicfile"
)

// A Journal is a write-ahead log shared by many oplogs: records from
// concurrent writers, whatever oplog they are for, are written together
// with one fsync (group commit). It lives in a folder of segment files;
// Rotate starts a new segment, and Remove deletes the segments whose
// records the oplogs' own files hold durably. It is safe for concurrent
// use.
type Journal struct {
	dir string

	mu      sync.Mutex
	cond    sync.Cond
	seg     *os.File         // the open segment, nil until the next write
	segSeq  uint64           // the open segment's number, or the next one's
	size    int64            // bytes of the segments' magics and frames (not their zeros)
	used    map[uint64]int64 // those bytes of each closed segment
	writing bool
	current *jbatch
	next    *jbatch
	err     error
	closed  bool
	syncs   int64
	onSync  func(time.Duration) // told how long each fsync took
	maxRec  int                 // the largest record Enqueue takes (LimitRecords)

	// Preallocation (Preallocate): the next segment is made ahead of need
	// as spareName, its magic then zeros, written and fsynced once.
	prealloc  int64                // the most a spare is made of; 0: none
	logf      func(string, ...any) // told when a segment runs past its zeros
	spareSize int64                // the ready spare's size; 0: none ready
	sparing   bool                 // a spare is being made
	lastUsed  int64                // bytes used of the last closed segment

	// The writer's own (the one whose write is in progress):
	keys    segmentKeys // the open segment's keys, by number
	off     int64       // where the open segment's next frame goes
	end     int64       // the open segment file's size
	zeroed  int64       // the open segment's preallocated size (0: appended)
	out     []byte      // the frames of the write, reused
	scratch []byte      // a frame's entries before compression, reused
}

// spareName is the file a segment is made in ahead of need; it is not a
// segment until renamed, and one left by a crash is removed on open.
const spareName = "spare.tmp"

// A spare segment (Preallocate) is made of twice what the last segment
// used, rounded up to spareMin, within [spareMin, the bound given]: a
// segment holds a flush interval's records, and while segments fill up
// before the interval ends, each spare doubles.
const spareMin = 16 << 10

// Preallocate has the journal write into segments made ahead of need:
// each is the magic then zeros, written and fsynced once in the
// background, and records overwrite the zeros in place, so that a
// record's fdatasync commits no metadata (the file's size and blocks are
// already durable). A spare is made of twice what the last segment used,
// at least 16 KiB and at most max bytes; a write that finds no room in
// its segment's zeros and no spare ready appends past them (told to logf
// once per segment). max <= 0 turns preallocation off. Call it before the
// first Enqueue.
func (j *Journal) Preallocate(max int64, logf func(string, ...any)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.prealloc, j.logf = max, logf
	if max > 0 {
		j.makeSpareLocked()
	}
}

// makeSpareLocked starts making a spare if none is ready or under way.
// The caller holds j.mu.
func (j *Journal) makeSpareLocked() {
	if j.prealloc <= 0 || j.spareSize > 0 || j.sparing || j.closed {
		return
	}
	size := min(max((2*j.lastUsed+spareMin-1)/spareMin*spareMin, spareMin), max(j.prealloc, int64(len(journalMagic))))
	j.sparing = true
	go func() {
		err := writeSpare(filepath.Join(j.dir, spareName), size)
		j.mu.Lock()
		defer j.mu.Unlock()
		j.sparing = false
		j.cond.Broadcast() // Close may wait for it
		if err != nil {
			if j.logf != nil {
				j.logf("journal: making the next segment ahead of need: %v (segments are appended to meanwhile)", err)
			}
			return
		}
		if j.closed {
			os.Remove(filepath.Join(j.dir, spareName))
			return
		}
		j.spareSize = size
	}()
}

// writeSpare writes a spare segment of size bytes: the magic, then zeros,
// made durable.
func writeSpare(name string, size int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	buf := make([]byte, min(size, 256<<10))
	copy(buf, journalMagic)
	for off := int64(0); off < size && err == nil; off += int64(len(buf)) {
		_, err = f.Write(buf[:min(int64(len(buf)), size-off)])
		clear(buf[:len(journalMagic)])
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// OnSync has f told how long each of the journal's fsyncs takes (for a
// status file's latency figures). Set it before the first Append.
func (j *Journal) OnSync(f func(time.Duration)) {
	j.mu.Lock()
	j.onSync = f
	j.mu.Unlock()
}

type jbatch struct {
	data []byte // records as appendPending appends them
	done bool
	err  error
}

// A Ticket is what a writer waits on for its records to be durable.
type Ticket struct {
	j *Journal
	b *jbatch
}

// Wait returns once the records of the ticket (and every record enqueued
// before them) are durable. The zero Ticket waits for nothing.
func (t Ticket) Wait() error {
	if t.j == nil || t.b == nil {
		return nil
	}
	return t.j.wait(t.b)
}

// OpenJournal opens the journal in dir, creating dir if needed, and calls
// replay with the key and body of every record it holds, in order (a
// record of a version 1 segment has no key: the key is nil and the body
// the whole record); replay must not keep them. A torn tail of
// the last segment (a crash in the middle of a write) is cut off; zero
// bytes ending a segment are the unused part of a preallocated one
// (Preallocate); other damage anywhere is ErrCorrupt. It returns the journal, appending to a new
// segment, and the number of the last segment replayed (0 if none): once
// what replay was given is durable elsewhere, Remove(last) deletes it.
func OpenJournal(dir string, replay func(key, body []byte) error) (*Journal, uint64, error) {
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("open journal: %w", err)
	}
	segs, err := journalSegments(dir)
	if err != nil {
		return nil, 0, err
	}
	if err := os.Remove(filepath.Join(dir, spareName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("open journal: %w", err)
	}
	j := &Journal{dir: dir, segSeq: 1, used: make(map[uint64]int64), maxRec: MaxJournalRecord}
	j.cond.L = &j.mu
	var last uint64
	for i, seq := range segs {
		name := j.segName(seq)
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, 0, fmt.Errorf("open journal: %w", err)
		}
		good, err := readJournal(data, replay)
		if err != nil {
			return nil, 0, fmt.Errorf("journal %s: %w", name, err)
		}
		// The unused zeros of a preallocated segment are no damage,
		// whatever segment they end; they are removed with it.
		if good < int64(len(data)) && !allZero(data[good:]) {
			if i != len(segs)-1 {
				return nil, 0, fmt.Errorf("journal %s: %w: damage at offset %d before the last segment", name, ErrCorrupt, good)
			}
			if err := cutFile(name, good); err != nil {
				return nil, 0, fmt.Errorf("journal %s: cut torn tail: %w", name, err)
			}
		}
		j.size += good
		j.used[seq] = good
		last = seq
		j.segSeq = seq + 1
	}
	return j, last, nil
}

func cutFile(name string, size int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// journalSegments lists the segment numbers in dir, in order.
func journalSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	var segs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), journalExt)
		if !ok || e.IsDir() {
			continue
		}
		seq, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		segs = append(segs, seq)
	}
	sort.Slice(segs, func(a, b int) bool { return segs[a] < segs[b] })
	return segs, nil
}

func (j *Journal) segName(seq uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%016x%s", seq, journalExt))
}

// Enqueue adds a record to the next write and returns its ticket. Records
// are written in the order they are enqueued. The key names what the
// record is for (an oplog, say): it is written once per segment, and
// then as a small number. With an empty body Enqueue adds nothing and
// returns a ticket for every record enqueued so far. It keeps neither
// key nor body.
func (j *Journal) Enqueue(key, body []byte) (Ticket, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil || j.closed {
		return Ticket{}, j.unusable()
	}
	if len(body) == 0 {
		b := j.next
		if b == nil {
			b = j.current
		}
		return Ticket{j, b}, nil
	}
	if n := len(key) + len(body); n > j.maxRec {
		return Ticket{}, fmt.Errorf("%w: journal record of %d bytes, limit %d", ErrTooLarge, n, j.maxRec)
	}
	if j.next == nil {
		j.next = &jbatch{}
	}
	j.next.data = appendPending(j.next.data, key, body)
	return Ticket{j, j.next}, nil
}

func (j *Journal) wait(b *jbatch) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for !b.done {
		if j.writing {
			j.cond.Wait()
			continue
		}
		if j.err != nil || j.closed {
			return j.unusable()
		}
		w := j.next
		j.next, j.current = nil, w
		j.writing = true
		j.mu.Unlock()
		err := j.write(w.data)
		j.mu.Lock()
		j.writing, j.current = false, nil
		w.done, w.err = true, err
		if err != nil && j.err == nil {
			j.err = err
		}
		j.cond.Broadcast()
	}
	return b.err
}

// write writes the frames of the pending records into the open segment,
// starting one if needed (the spare, if one is ready), and makes them
// durable. Only the writer calls it.
func (j *Journal) write(pending []byte) error {
	var data []byte
	j.mu.Lock()
	seg := j.seg
	j.mu.Unlock()
	if seg == nil {
		j.keys = make(segmentKeys)
	}
	data, j.scratch = encodeFrames(j.out[:0], pending, j.keys, j.scratch)
	j.out = data
	if cap(j.out) > 4*journalFrameTarget || cap(j.scratch) > 4*journalFrameTarget { // not kept after a big write
		j.out, j.scratch = nil, nil
	}
	if seg != nil && j.off+int64(len(data)) > j.end && j.off > int64(len(journalMagic)) && j.spareReady() {
		// The segment's zeros are used up and a spare is ready: the
		// frames go there, with the keys defined again.
		j.closeFull()
		seg = nil
		j.keys = make(segmentKeys)
		data, j.scratch = encodeFrames(j.out[:0], pending, j.keys, j.scratch)
		j.out = data
	}
	if seg == nil {
		var err error
		if seg, err = j.startSegment(); err != nil {
			return err
		}
	}
	if _, err := seg.WriteAt(data, j.off); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.off += int64(len(data))
	grown := max(j.off-j.end, 0)
	if grown > 0 && j.zeroed > 0 && j.end == j.zeroed && j.logf != nil {
		j.logf("journal: segment %s ran past its %d preallocated bytes with no spare ready: appending to it (-wal-prealloc)", filepath.Base(seg.Name()), j.zeroed)
	}
	j.end += grown
	start := time.Now()
	if err := fdatasync(seg); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	took := time.Since(start)
	j.mu.Lock()
	j.size += int64(len(data))
	j.syncs++
	onSync := j.onSync
	j.mu.Unlock()
	if onSync != nil {
		onSync(took)
	}
	return nil
}

// spareReady tells whether a spare segment is ready.
func (j *Journal) spareReady() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.spareSize > 0
}

// closeFull closes the open segment, whose zeros the writer used up: the
// next write starts the next one.
func (j *Journal) closeFull() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closeSegLocked()
}

// closeSegLocked closes the open segment. The caller holds j.mu, and
// either is the writer or waited for no write to be in progress.
func (j *Journal) closeSegLocked() error {
	err := j.seg.Close()
	j.seg = nil
	j.used[j.segSeq] = j.off
	j.segSeq++
	j.lastUsed = j.off
	return err
}

// startSegment opens the next segment: the spare renamed, if one is
// ready, else a new file of the magic alone, appended to. Its name is
// durable (the folder fsynced) before it returns, as it must be before a
// record in it is acknowledged. Only the writer calls it.
func (j *Journal) startSegment() (*os.File, error) {
	j.mu.Lock()
	seq, spare := j.segSeq, j.spareSize
	j.spareSize = 0
	j.mu.Unlock()
	name := j.segName(seq)
	var f *os.File
	var err error
	if spare > 0 {
		if err = os.Rename(filepath.Join(j.dir, spareName), name); err == nil {
			f, err = os.OpenFile(name, os.O_WRONLY, 0)
		}
		j.end, j.zeroed = spare, spare
	} else {
		f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			if _, err = f.Write([]byte(journalMagic)); err != nil {
				f.Close()
			}
		}
		j.end, j.zeroed = int64(len(journalMagic)), 0
	}
	if err == nil {
		if err = atomicfile.SyncDir(j.dir); err != nil {
			f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.off = int64(len(journalMagic))
	j.mu.Lock()
	j.seg = f
	j.size += j.off
	j.makeSpareLocked()
	j.mu.Unlock()
	return f, nil
}

// Rotate closes the open segment: later records go to a new one. It
// returns the number of the last closed segment: once what the journal
// held before Rotate is durable elsewhere, Remove(that) deletes it.
func (j *Journal) Rotate() (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.writing {
		j.cond.Wait()
	}
	if j.closed {
		return 0, j.unusable()
	}
	if j.seg == nil {
		return j.segSeq - 1, nil
	}
	err := j.closeSegLocked()
	return j.segSeq - 1, err
}

// Remove deletes the closed segments numbered up to upTo.
func (j *Journal) Remove(upTo uint64) error {
	segs, err := journalSegments(j.dir)
	if err != nil {
		return err
	}
	j.mu.Lock()
	open := j.segSeq
	if j.seg == nil {
		open = 0
	}
	j.mu.Unlock()
	removed := false
	for _, seq := range segs {
		if seq > upTo || seq == open {
			continue
		}
		err := os.Remove(j.segName(seq))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("journal: %w", err)
		}
		j.mu.Lock()
		j.size -= j.used[seq]
		delete(j.used, seq)
		j.mu.Unlock()
		removed = removed || err == nil
	}
	if removed {
		return atomicfile.SyncDir(j.dir)
	}
	return nil
}

// Size is the number of bytes of records the journal's segments hold:
// their magics and frames, not the zeros of preallocated segments.
func (j *Journal) Size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// Syncs reports how many fsyncs the journal did.
func (j *Journal) Syncs() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncs
}

func (j *Journal) unusable() error {
	if j.closed {
		return gig.Errorf(gig.ErrClosed, "journal closed")
	}
	return gig.Errorf(gig.ErrUnavailable, "journal unusable after a failed write: %w", j.err)
}

// LimitRecords lowers the largest record Enqueue takes (key and body) to
// n bytes, at most MaxJournalRecord; a larger record is refused with
// ErrTooLarge. Replay takes records up to MaxJournalRecord whatever the
// limit.
func (j *Journal) LimitRecords(n int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.maxRec = min(max(n, 1), MaxJournalRecord)
}

// Close waits for the write in progress and closes the open segment.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.writing {
		j.cond.Wait()
	}
	if j.closed {
		return nil
	}
	j.closed = true
	j.cond.Broadcast()
	for j.sparing {
		j.cond.Wait()
	}
	if j.spareSize > 0 { // a spare left on disk would be removed on open anyway
		j.spareSize = 0
		os.Remove(filepath.Join(j.dir, spareName))
	}
	if j.seg != nil {
		err := j.seg.Close()
		j.seg = nil
		return err
	}
	return nil
}

// waitSpare waits until no spare is being made (for tests: a spare, if
// one was asked for, is then ready).
func (j *Journal) waitSpare() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.sparing {
		j.cond.Wait()
	}
}
