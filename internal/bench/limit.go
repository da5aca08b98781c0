package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// recordSize is the size of one append of the limit measurement: about an
// op's JSON line.
const recordSize = 120

// fsyncLimit measures what the disk under dir gives a plain Go program:
// records of recordSize bytes appended to one file, each durable (fsync)
// before its writer goes on, by writers goroutines. With one writer each
// record has an fsync of its own; with several, records that wait together
// share one write and one fsync (group commit). It returns records/s.
func fsyncLimit(dir string, writers int, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "limit-*.log")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	g := &groupFile{f: f}
	g.cond.L = &g.mu
	rec := make([]byte, recordSize)
	for i := range rec {
		rec[i] = 'a' + byte(i%26)
	}
	rec[len(rec)-1] = '\n'
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		first error
	)
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			var err error
			for time.Since(start) < d {
				if err = g.append(rec); err != nil {
					break
				}
				n++
			}
			mu.Lock()
			total += n
			if err != nil && first == nil {
				first = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if first != nil {
		return 0, first
	}
	return float64(total) / el.Seconds(), nil
}

// fsyncLimitPrezeroed measures records of recordSize bytes written one
// after another, each durable (fdatasync) before the next, over the zeros
// of a file written and fsynced first: no metadata changes, as in the
// store's preallocated write-ahead log segments. It returns records/s.
func fsyncLimitPrezeroed(dir string, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "limit-*.zero")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const size = 16 << 20 // past it the file grows, as an appended one
	if _, err := f.Write(make([]byte, size)); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	rec := make([]byte, recordSize)
	for i := range rec {
		rec[i] = 'a' + byte(i%26)
	}
	n := 0
	start := time.Now()
	for off := int64(0); time.Since(start) < d; off += recordSize {
		if _, err := f.WriteAt(rec, off); err != nil {
			return 0, err
		}
		if err := fdatasync(f); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// groupFile is the smallest group commit: a writer that finds no write in
// progress writes every pending record and fsyncs; the others wait for it.
type groupFile struct {
	f       *os.File
	mu      sync.Mutex
	cond    sync.Cond
	pending []byte
	gen     uint64 // batches made durable
	writing bool
	err     error
}

func (g *groupFile) append(rec []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = append(g.pending, rec...)
	mine := g.gen + 1 // durable once the batch after the current one is
	if g.writing {
		mine++
	}
	for g.gen < mine && g.err == nil {
		if g.writing {
			g.cond.Wait()
			continue
		}
		buf := g.pending
		g.pending = nil
		g.writing = true
		g.mu.Unlock()
		_, err := g.f.Write(buf)
		if err == nil {
			err = g.f.Sync()
		}
		g.mu.Lock()
		g.writing = false
		g.gen++
		if err != nil {
			g.err = err
		}
		g.cond.Broadcast()
	}
	return g.err
}

// dirBytes sums the sizes of the regular files below dir: the data at
// rest (oplog files, the journal, the store's small files) and, apart,
// the users' call logs (calls.jsonl and calls.zst: bounded per user by
// gig-store -call-log, whatever the number of ops).
func dirBytes(dir string) (data, calls int64, err error) {
	err = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		switch {
		case !fi.Mode().IsRegular():
		case fi.Name() == callLogName || fi.Name() == callLogOldName:
			calls += fi.Size()
		case fi.Name() == walSpareName: // counted apart: see spareBytes
		default:
			data += fi.Size()
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return data, calls, nil
}

// spareBytes is the size of the store's spare write-ahead log segment
// (zeros made ahead of need, in the background, and removed by a clean
// stop: it is there or not depending on when the folder is measured,
// hence counted apart from the ops' data), 0 if there is none.
func spareBytes(dir string) int64 {
	fi, err := os.Stat(filepath.Join(dir, "wal", walSpareName))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// walSpareName is the name of a store's spare write-ahead log segment
// (oplog.Journal's doc).
const walSpareName = "spare.tmp"

// callLogName and callLogOldName are the names of a user's call log in
// a store's data folder, its newest calls and the older ones compressed
// (netstore's doc).
const (
	callLogName    = "calls.jsonl"
	callLogOldName = "calls.zst"
)
