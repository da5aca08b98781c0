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

	mu      sync.Mutex
	log     *Log
	version uint64 // counts accepted records since open
	onDisk  int    // records in the file, live or not
}

// OpenDiskLog loads the oplog file at path, creating it if missing. A torn
// last frame is cut off; any other damage is an error naming the file.
func OpenDiskLog(path string) (*DiskLog, error) {
	f, records, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	l := NewLog()
	n := 0
	for len(records) > 0 {
		line := records
		if i := bytes.IndexByte(records, '\n'); i >= 0 {
			line, records = records[:i], records[i+1:]
		} else {
			records = nil
		}
		if len(line) == 0 {
			continue
		}
		o, err := decode(line, false)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("load log %s: record %d: %w", path, n+1, err)
		}
		l.merge(o)
		n++
	}
	return &DiskLog{file: f, log: l, onDisk: n}, nil
}

// Merge merges ops into the log and returns once the accepted ones are
// durable, with one Result per op. An error means the file could not be
// written: nothing of this call was acknowledged and the DiskLog must be
// closed and opened again.
func (d *DiskLog) Merge(ops []Op) ([]Result, error) {
	res := make([]Result, len(ops))
	var lines []byte
	d.mu.Lock()
	for i := range ops {
		res[i] = d.log.Merge(ops[i])
		if res[i].Outcome == Accepted {
			lines = ops[i].AppendJSON(lines)
			lines = append(lines, '\n')
			d.version++
			d.onDisk++
		}
	}
	compact := d.onDisk > 64 && d.onDisk > 2*d.log.Len()
	d.mu.Unlock()
	if err := d.file.Append(lines); err != nil {
		return nil, err
	}
	if compact {
		if err := d.Compact(); err != nil {
			return nil, err
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
		return d.log.AppendJSONLines(nil)
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

// Version counts the records accepted since the log was opened; it moves on
// every change.
func (d *DiskLog) Version() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version
}

// File returns the log's file.
func (d *DiskLog) File() *File { return d.file }

// Close closes the file.
func (d *DiskLog) Close() error { return d.file.Close() }
