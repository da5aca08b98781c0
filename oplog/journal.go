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
	seg     *os.File // the open segment, nil until the next write
	segSeq  uint64   // the open segment's number, or the next one's
	size    int64    // bytes in the folder's segments
	writing bool
	current *jbatch
	next    *jbatch
	err     error
	closed  bool
	syncs   int64
	onSync  func(time.Duration) // told how long each fsync took

	// The writer's own (the one whose write is in progress):
	keys    segmentKeys // the open segment's keys, by number
	out     []byte      // the frames of the write, reused
	scratch []byte      // a frame's entries before compression, reused
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
// the last segment (a crash in the middle of a write) is cut off; damage
// anywhere else is ErrCorrupt. It returns the journal, appending to a new
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
	j := &Journal{dir: dir, segSeq: 1}
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
		if good < int64(len(data)) {
			if i != len(segs)-1 {
				return nil, 0, fmt.Errorf("journal %s: %w: damage at offset %d before the last segment", name, ErrCorrupt, good)
			}
			if err := cutFile(name, good); err != nil {
				return nil, 0, fmt.Errorf("journal %s: cut torn tail: %w", name, err)
			}
		}
		j.size += good
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
	if len(key)+len(body) > maxJournalRecord {
		return Ticket{}, fmt.Errorf("%w: journal record of %d bytes", ErrTooLarge, len(key)+len(body))
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

// write appends the frames of the pending records to the open segment,
// starting one if needed, and makes them durable. Only the writer calls
// it.
func (j *Journal) write(pending []byte) error {
	j.mu.Lock()
	seg, seq := j.seg, j.segSeq
	j.mu.Unlock()
	var n int64
	if seg == nil {
		j.keys = make(segmentKeys)
		f, err := os.OpenFile(j.segName(seq), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		if _, err := f.Write([]byte(journalMagic)); err != nil {
			f.Close()
			return fmt.Errorf("journal: %w", err)
		}
		// The segment's name must be durable before a record in it is
		// acknowledged.
		if err := atomicfile.SyncDir(j.dir); err != nil {
			f.Close()
			return fmt.Errorf("journal: %w", err)
		}
		seg, n = f, int64(len(journalMagic))
		j.mu.Lock()
		j.seg = f
		j.mu.Unlock()
	}
	var data []byte
	data, j.scratch = encodeFrames(j.out[:0], pending, j.keys, j.scratch)
	j.out = data
	if cap(j.out) > 4*journalFrameTarget || cap(j.scratch) > 4*journalFrameTarget { // not kept after a big write
		j.out, j.scratch = nil, nil
	}
	if _, err := seg.Write(data); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	start := time.Now()
	if err := fdatasync(seg); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	took := time.Since(start)
	j.mu.Lock()
	j.size += n + int64(len(data))
	j.syncs++
	onSync := j.onSync
	j.mu.Unlock()
	if onSync != nil {
		onSync(took)
	}
	return nil
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
	err := j.seg.Close()
	j.seg = nil
	j.segSeq++
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
		name := j.segName(seq)
		fi, err := os.Stat(name)
		if err == nil {
			err = os.Remove(name)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("journal: %w", err)
		}
		if err == nil {
			j.mu.Lock()
			j.size -= fi.Size()
			j.mu.Unlock()
			removed = true
		}
	}
	if removed {
		return atomicfile.SyncDir(j.dir)
	}
	return nil
}

// Size is the number of bytes the journal's segments hold.
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
		return errors.New("journal closed")
	}
	return fmt.Errorf("journal unusable after a failed write: %w", j.err)
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
	if j.seg != nil {
		err := j.seg.Close()
		j.seg = nil
		return err
	}
	return nil
}
