package oplog

import (
	"bytes"
	"fmt"
	"sync"
)

// A DiskLog is an oplog kept in memory and in its File: every accepted record
// is appended to the file and durable before Merge returns. When pruned
// records make up most of the file, it is rewritten with the live records
// only. It is safe for concurrent use.
type DiskLog struct {
	file *File
	// Logf, if set, logs what goes wrong in the background (a failed
	// compaction).
	Logf func(format string, args ...any)

	mu        sync.Mutex
	log       *Log
	version   uint64 // counts accepted records since open
	onDisk    int    // records in the file, live or not
	unflushed []byte // records merged by MergeJournaled, not yet in the file
}

// OpenDiskLog loads the oplog file at path, creating it if missing. A torn
// last frame is cut off; any other damage is an error naming the file.
func OpenDiskLog(path string) (*DiskLog, error) {
	f, records, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	l, n, err := parseRecords(records)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("load log %s: %w", path, err)
	}
	return &DiskLog{file: f, log: l, onDisk: n}, nil
}

// Merge merges ops into the log and returns once the accepted ones are
// durable, with one Result per op. A no-op is answered only once what made
// it a no-op is durable too: an op that a concurrent Merge accepted is "already
// present" only after that Merge's fsync. An error means the file could not
// be written: nothing of this call was acknowledged and the DiskLog must be
// closed and opened again. A compaction that fails is logged (Logf), not
// returned: the records are durable in the old file.
func (d *DiskLog) Merge(ops []Op) ([]Result, error) {
	res := make([]Result, len(ops))
	var lines []byte
	noop := false
	d.mu.Lock()
	for i := range ops {
		res[i] = d.log.Merge(ops[i])
		switch res[i].Outcome() {
		case Accepted:
			lines = ops[i].appendStored(lines)
			lines = append(lines, '\n')
			d.version++
			d.onDisk++
		case NoOp:
			noop = true
		}
	}
	// Enqueued under the lock, batches keep the order of the merges, and
	// waiting for the latest one waits for every earlier one.
	b, err := d.file.enqueue(lines)
	if b == nil && err == nil && noop {
		b = d.file.latest()
	}
	compact := d.onDisk > 64 && d.onDisk > 2*d.log.Len()
	d.mu.Unlock()
	if err == nil && b != nil {
		err = d.file.wait(b)
	}
	if err != nil {
		return nil, err
	}
	if compact {
		if err := d.Compact(); err != nil && d.Logf != nil {
			d.Logf("oplog: %v", err)
		}
	}
	return res, nil
}

// Compact rewrites the file with the live records only.
func (d *DiskLog) Compact() error {
	return d.file.Rewrite(func() []byte {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.onDisk = d.log.Len()
		d.unflushed = nil // the rewrite holds them
		return d.log.appendStoredLines(nil)
	})
}

// Snapshot returns a copy of the log as it is now.
func (d *DiskLog) Snapshot() *Log {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.Clone()
}

// View calls fn with the log, which it must only read, and its version,
// under the lock.
func (d *DiskLog) View(fn func(l *Log, version uint64)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d.log, d.version)
}

// File returns the log's file.
func (d *DiskLog) File() *File { return d.file }

// Close writes what MergeJournaled merged since the last Flush to the
// file and closes it.
func (d *DiskLog) Close() error {
	d.mu.Lock()
	pending := len(d.unflushed) > 0
	d.mu.Unlock()
	var err error
	if pending {
		err = d.Flush()
	}
	if cerr := d.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// MergeJournaled merges ops into the log in memory and hands the accepted
// records to journal, in the form the log's file keeps them (JSON lines
// without the sha, which DecodeRecords computes again), under the log's
// lock (so a journal receives each log's records in merge order); with
// nothing accepted it calls journal with nil, for a ticket that covers
// what made the ops no-ops. journal must not keep the records. They are
// durable once the ticket journal returned is; they reach the log's own
// file at the next Flush. A journal error means nothing of this call was
// acknowledged, and the merge is undone: the log, its version and what
// the next Flush writes are as before the call, so that the same ops
// merged again are accepted, not "already present" without being durable.
func (d *DiskLog) MergeJournaled(ops []Op, journal func(records []byte) (Ticket, error)) ([]Result, Ticket, error) {
	res := make([]Result, len(ops))
	d.mu.Lock()
	defer d.mu.Unlock()
	start, version := len(d.unflushed), d.version
	// A checkpoint prunes what it covers, which Drop cannot undo: with
	// one among the ops the log is copied first (a checkpoint's merge
	// walks every op anyway).
	var before *Log
	for i := range ops {
		if ops[i].Kind() == KindCheckpoint {
			before = d.log.Clone()
			break
		}
	}
	for i := range ops {
		res[i] = d.log.Merge(ops[i])
		if res[i].Outcome() == Accepted {
			d.unflushed = append(ops[i].appendStored(d.unflushed), '\n')
			d.version++
		}
	}
	t, err := journal(d.unflushed[start:])
	if err != nil {
		d.unflushed, d.version = d.unflushed[:start], version
		if before != nil {
			d.log.restore(before)
		} else {
			for i := len(ops) - 1; i >= 0; i-- {
				if res[i].Outcome() == Accepted {
					d.log.Drop(&ops[i])
				}
			}
		}
		return nil, Ticket{}, err
	}
	return res, t, nil
}

// Flush appends the records merged by MergeJournaled since the last Flush
// to the log's file, as frames of many records, and fsyncs. When the file
// has grown by many small frames since it was last rewritten, Flush then
// compacts it: one rewrite of big frames, amortised over the appends that
// made it worth it.
func (d *DiskLog) Flush() error {
	d.mu.Lock()
	lines := d.unflushed
	d.unflushed = nil
	b, err := d.file.enqueue(lines)
	if b != nil {
		d.onDisk += bytes.Count(lines, []byte{'\n'})
	}
	d.mu.Unlock()
	if err == nil && b != nil {
		err = d.file.wait(b)
	}
	if err != nil {
		d.mu.Lock()
		d.unflushed = append(lines, d.unflushed...)
		d.mu.Unlock()
		return err
	}
	if d.compactDue() {
		if err := d.Compact(); err != nil && d.Logf != nil {
			d.Logf("oplog: %v", err)
		}
	}
	return nil
}

// compactDue reports whether the file is worth rewriting: most of its
// records are pruned, or it has grown by half since its last rewrite in
// several frames (small frames compress badly).
func (d *DiskLog) compactDue() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.onDisk > 64 && d.onDisk > 2*d.log.Len() {
		return true
	}
	f := d.file
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frames >= 4 && f.size-f.rewritten >= f.rewritten/2 && f.size > 4<<10
}
