package netstore

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/oplog"
)

// DefaultMemBudget is how many bytes of oplogs a store keeps in memory
// (Config.MemBudget, gig-store -mem).
const DefaultMemBudget = 256 << 20

// DefaultMemOverhead is what a store process takes beyond its oplogs'
// budget: the runtime, the binary, the streams' kept events, buffers of
// requests and flushes in progress, and room for the collector's garbage.
// gig-store's soft memory limit is -mem plus this unless told otherwise.
const DefaultMemOverhead = 64 << 20

// entryOverhead is what an open oplog costs in the cache beyond its
// DiskLog and its log (oplog.Log.MemSize, oplog.DiskLog.OwnSize): its
// logEntry, its element of the idle list, its slot in the cache's map,
// and entrySlack, a margin over what the heap showed beyond the sizes of
// the structs (TestCache_EstimateCoversTheHeap measured, pushed and then
// loaded: 1,071 and 1,360 B freed per evicted oplog of one op, 3,167 and
// 4,769 of ten ops, 32,563 and 45,454 of a hundred, against estimates
// 2–15% over them). The key's strings are counted apart.
const entryOverhead = int64(unsafe.Sizeof(logEntry{})) + int64(unsafe.Sizeof(list.Element{})) + int64(unsafe.Sizeof(cacheKey{})+8)*3/2 + entrySlack

const entrySlack = 64

// The oplog cache of a store holds the oplogs in memory, across users,
// within a budget of bytes. An oplog in use is pinned: by each request
// that holds it, and by the write-ahead log while it has records not yet
// in its file. Only an oplog nobody pins is evicted (least recently used
// first): its file then holds every record it has, so loading it again
// gives the same log. Locks: an entry's DiskLog lock may be held when
// taking the cache's (MergeJournaled marks the log dirty), never the
// reverse.
type oplogCache struct {
	budget int64 // <= 0: none
	limit  int64 // the process's soft memory limit; <= 0: none (memory.go)
	logf   func(format string, args ...any)
	flush  func() // asks the write-ahead log to flush soon (pinned oplogs over budget)

	mu     sync.Mutex
	m      map[cacheKey]*logEntry
	idle   list.List // of *logEntry with no pins, most recently used first
	bytes  int64     // estimated cost of the loaded entries
	closed bool
	// eased is closed (and replaced) at the end of each flush of the
	// write-ahead log, and when evictions bring the cache back within
	// its budget while pushes wait: pushes over the budget wait for it.
	eased   chan struct{}
	waiting int // pushes waiting for eased

	stamp   atomic.Uint64 // moves on every load and change: qid versions
	loads   atomic.Int64
	evicted atomic.Int64
	waits   atomic.Int64 // pushes that waited for a flush
	logged  atomic.Int64 // unix ms of the last log line about the budget
	wlogged atomic.Int64 // the same, for pushes that wait
	// squeeze is what the live heap took off the budget (memory.go).
	squeeze       atomic.Int64
	limitLogged   atomic.Int64 // unix ms of the last line about the soft limit
	squeezeLogged atomic.Int64 // the same, about the squeeze
	gcs           atomic.Int64 // collections seen (memory.go)
}

type cacheKey struct {
	u         *user
	typ, path string
}

// logEntry is an open oplog and a cache of its JSON lines, made on demand
// and kept while the log does not change.
type logEntry struct {
	d   *oplog.DiskLog
	key cacheKey

	// Under the cache's lock.
	ready chan struct{} // closed when loaded; nil once loaded
	pins  int
	elem  *list.Element // in idle when pins == 0
	cost  int64         // as counted in the cache's bytes

	mu      sync.Mutex
	ver     uint64 // DiskLog version that enc and stamp are of
	stamp   uint64 // qid version of ver
	enc     []byte // nil until read
	logCost int64  // Log.MemSize at costVer
	costVer uint64 // DiskLog version logCost was taken at
	costOK  bool
	sizes   oplog.SizeCache // what measuring the log walked already
}

// newCache makes a cache of budget bytes (<= 0: none) in a process whose
// soft memory limit is limit (<= 0: none; see memory.go).
func newCache(budget, limit int64, logf func(string, ...any)) *oplogCache {
	c := &oplogCache{budget: budget, limit: limit, logf: logf, m: make(map[cacheKey]*logEntry), eased: make(chan struct{})}
	if budget > 0 && limit > 0 {
		c.watchHeap()
	}
	return c
}

// room makes a push wait while the cache is over its budget (trim has
// evicted every oplog it could: the others have records only in the
// write-ahead log, or are in use) until the flush of the log has put
// records in their files and evictions have brought the cache back within
// its budget, or the flush ended. It bounds what pushes to many paths in
// a short time hold in memory; a push over a cache within budget does not
// wait.
func (c *oplogCache) room(ctx context.Context) {
	if c.budget <= 0 {
		return
	}
	c.mu.Lock()
	over, ch, bytes := c.bytes > c.target() && !c.closed, c.eased, c.bytes
	if over && c.flush != nil {
		c.waiting++
		defer func() {
			c.mu.Lock()
			c.waiting--
			c.mu.Unlock()
		}()
	}
	c.mu.Unlock()
	if !over || c.flush == nil {
		return
	}
	c.waits.Add(1)
	now := time.Now().UnixMilli()
	if last := c.wlogged.Load(); now-last >= time.Minute.Milliseconds() && c.wlogged.CompareAndSwap(last, now) {
		c.logf("store: memory budget (-mem %d) reached by oplogs with records not yet in their files (~%d bytes): pushes wait for the next flush", c.target(), bytes)
	}
	c.flush()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// flushDone tells waiting pushes that a flush ended.
func (c *oplogCache) flushDone() {
	c.mu.Lock()
	c.easeLocked()
	c.mu.Unlock()
}

// easeLocked wakes the pushes waiting in room.
func (c *oplogCache) easeLocked() {
	close(c.eased)
	c.eased = make(chan struct{})
}

// encoded returns the log as JSON lines and its version, which moves on
// every change and never repeats for the same oplog in a run of the store,
// even when it was evicted and loaded again.
func (e *logEntry) encoded(c *oplogCache) ([]byte, uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.d.View(func(l *oplog.Log, v uint64) {
		if e.enc == nil || e.ver != v {
			e.enc = l.AppendJSONLines(nil)
			if e.ver != v {
				e.stamp = c.stamp.Add(1)
			}
			e.ver = v
		}
	})
	return e.enc, e.stamp
}

// measure returns the entry's estimated cost in memory: its log (measured
// again only when it changed, and then only the ops appended since, as a
// rule), its JSON lines, the records not yet in its
// file, its structs and its key.
func (e *logEntry) measure() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.d.View(func(l *oplog.Log, v uint64) {
		if !e.costOK || e.costVer != v {
			e.logCost, e.costVer, e.costOK = l.MemSizeCached(&e.sizes), v, true
		}
	})
	return entryOverhead + e.logCost + int64(cap(e.enc)) + e.d.OwnSize() + oplog.AllocSize(len(e.key.typ)) + oplog.AllocSize(len(e.key.path))
}

// get returns the oplog (typ, path) of u, pinned (the caller unpins it),
// loading it from disk if needed; see user.open for create and the errors.
func (c *oplogCache) get(u *user, typ, path string, create bool) (*logEntry, error) {
	k := cacheKey{u, typ, path}
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			return nil, gig.Errorf(gig.ErrClosed, "store closed")
		}
		e, ok := c.m[k]
		if !ok {
			break
		}
		if e.ready != nil { // another request is loading it
			ch := e.ready
			c.mu.Unlock()
			<-ch
			c.mu.Lock()
			continue
		}
		c.pinLocked(e)
		c.mu.Unlock()
		return e, nil
	}
	e := &logEntry{key: k, ready: make(chan struct{}), pins: 1}
	c.m[k] = e
	c.mu.Unlock()

	d, err := u.open(typ, path, create)

	c.mu.Lock()
	close(e.ready)
	e.ready = nil
	if err != nil || c.closed {
		delete(c.m, k)
		c.mu.Unlock()
		if err == nil {
			d.Close()
			err = gig.Errorf(gig.ErrClosed, "store closed")
		}
		return nil, err
	}
	e.d = d
	e.stamp = c.stamp.Add(1)
	c.mu.Unlock()
	c.loads.Add(1)
	return e, nil
}

// pin pins an entry some pin already holds (the write-ahead log's).
func (c *oplogCache) pin(e *logEntry) {
	c.mu.Lock()
	c.pinLocked(e)
	c.mu.Unlock()
}

func (c *oplogCache) pinLocked(e *logEntry) {
	if e.pins == 0 && e.elem != nil {
		c.idle.Remove(e.elem)
		e.elem = nil
	}
	e.pins++
}

// unpin drops a pin; an oplog with none left may be evicted, least
// recently used first, while the cache is over its budget.
func (c *oplogCache) unpin(e *logEntry) {
	cost := e.measure()
	c.mu.Lock()
	if c.m[e.key] == e {
		c.bytes += cost - e.cost
		e.cost = cost
	}
	e.pins--
	if e.pins == 0 && c.m[e.key] == e && !c.closed {
		e.elem = c.idle.PushFront(e)
	}
	c.mu.Unlock()
	c.trim()
}

// trim evicts idle oplogs while the cache is over its budget, and logs it
// (at most once a minute). Pinned oplogs over the budget are those with
// records not yet in their file, or in use: it asks for a flush. While
// pushes wait for room it evicts a sixteenth of the budget further, and
// wakes them once that is done: woken one eviction at a time, every push
// would wait again at once (at 1M ops over 100k paths and a budget of 64
// MiB: 53,784 waits for 100,000 pushes, push p50 25.6 -> 41.2 ms).
func (c *oplogCache) trim() {
	if c.budget <= 0 {
		return
	}
	c.mu.Lock()
	target := c.target()
	if c.waiting > 0 {
		target -= target / 16
	}
	if c.bytes <= target {
		if c.waiting > 0 {
			c.easeLocked()
		}
		c.mu.Unlock()
		return
	}
	var victims []*logEntry
	for c.bytes > target && c.idle.Len() > 0 {
		e := c.idle.Remove(c.idle.Back()).(*logEntry)
		e.elem = nil
		delete(c.m, e.key)
		c.bytes -= e.cost
		victims = append(victims, e)
	}
	over, open, bytes := c.bytes > target, len(c.m), c.bytes
	if !over && c.waiting > 0 {
		c.easeLocked()
	}
	c.mu.Unlock()
	for _, e := range victims {
		// Nothing pins it: no request holds it and its file has every
		// record (Close writes nothing).
		if err := e.d.Close(); err != nil {
			c.logf("store: user %s: %s %s: close of an evicted oplog: %v", e.key.u.id, e.key.typ, e.key.path, err)
		}
	}
	c.evicted.Add(int64(len(victims)))
	if over && c.flush != nil {
		c.flush()
	}
	now := time.Now().UnixMilli()
	if last := c.logged.Load(); now-last >= time.Minute.Milliseconds() && c.logged.CompareAndSwap(last, now) {
		c.logf("store: memory budget (-mem %d) reached: %d cold oplogs dropped from memory, %d open, ~%d bytes (they load again on demand)", target, len(victims), open, bytes)
	}
}

// closeAll closes every oplog; later gets fail.
func (c *oplogCache) closeAll() error {
	c.mu.Lock()
	c.closed = true
	var all []*logEntry
	for _, e := range c.m {
		if e.ready == nil {
			all = append(all, e)
		}
	}
	c.m = make(map[cacheKey]*logEntry)
	c.idle.Init()
	c.bytes = 0
	c.easeLocked() // no flush comes any more
	c.mu.Unlock()
	var first error
	for _, e := range all {
		if err := e.d.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// open opens the oplog (typ, path) of u if it exists on disk, or creates
// it when create is set. A missing oplog is an error wrapping
// fs.ErrNotExist.
func (u *user) open(typ, path string, create bool) (*oplog.DiskLog, error) {
	name := u.file(typ, path)
	fi, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) && create {
		// Folders are made one creation at a time, so that two creations
		// never race for a name as a folder and as an oplog.
		u.createMu.Lock()
		defer u.createMu.Unlock()
		fi, err = os.Stat(name)
	}
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("%s %s is a folder of oplogs, not an oplog", typ, path)
	case errors.Is(err, fs.ErrNotExist) && !create:
		return nil, fmt.Errorf("%w: %s %s: %w", ErrNoOplog, typ, path, fs.ErrNotExist)
	case errors.Is(err, fs.ErrNotExist):
		if err := u.mkdirs(filepath.Dir(name)); err != nil {
			return nil, fmt.Errorf("%s %s: %w", typ, path, err)
		}
	case errors.Is(err, syscall.ENOTDIR):
		return nil, fmt.Errorf("%s %s: a parent is an oplog, not a folder", typ, path)
	case err != nil:
		return nil, fmt.Errorf("%s %s: %w", typ, path, err)
	}
	d, err := oplog.OpenDiskLog(name)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", typ, path, err)
	}
	d.Logf = u.logf
	return d, nil
}

// Peek gives the length and version Read would give of the oplog (typ,
// path) of a user, if the store holds it in memory; ok is false when it
// would have to load it (or it does not exist). Folder listings use it,
// so that they load no oplog.
func (s *Service) Peek(id, typ, path string) (length int64, version uint64, ok bool) {
	u, err := s.user(id)
	if err != nil {
		return 0, 0, false
	}
	if path, err = checkKey(typ, path); err != nil {
		return 0, 0, false
	}
	c := s.cache
	c.mu.Lock()
	e, ok := c.m[cacheKey{u, typ, path}]
	if !ok || e.ready != nil || c.closed {
		c.mu.Unlock()
		return 0, 0, false
	}
	c.pinLocked(e)
	c.mu.Unlock()
	defer c.unpin(e)
	data, ver := e.encoded(c)
	return int64(len(data)), uint64(s.verBase) + ver, true
}
