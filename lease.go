package gigfs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/google/uuid"

	"gigfs.io/gigfs/internal/atomicfile"
	"gigfs.io/gigfs/internal/filelock"
	"gigfs.io/gigfs/oplog"
)

// An origin lease gives a client an origin that outlives the process: the
// origin of a writer (a data folder, a configuration) rather than of one
// run. The lease folder (Config.OriginDir) holds numbered slots:
//
//	lock          held while a client picks a slot
//	slot-N.lock   flock'd by the client holding slot N, for its lifetime
//	slot-N.json   the slot's journal: its origin, per path the highest seq
//	              it used, and the ops it made that no durable store has
//	              acknowledged yet
//
// A client takes the first slot no live process holds; slot N+1 is used
// only while 0..N are all held, so the origins of a folder are as many as
// its writers ever ran at once. A lock dies with its process, however it
// ends, so a crashed run's slot is free for the next run, which continues
// its seqs and sends again the ops it left pending. Seqs thus continue
// without gaps (every op made was written to the journal, fsynced, before
// it left the process) and are never reused. The fsync is shared: an op's
// line is written when it is made, and its delivery waits for the next
// fsync (durable), which covers every line written before it, so pushes
// made together pay one fsync (group commit).
//
// The journal is JSON lines: the first {"origin":..}, then one line per op
// made ({"channel","type","path","seq","op"}) and per acknowledgement
// ({"channel","type","path","acked"}). It is rewritten compactly (one line
// per path) when a slot is taken and when it has grown to several times
// its compact size. A torn last line (a crash while appending) is ignored:
// its op never left the process.
type lease struct {
	dir    string
	slot   int
	origin string
	logf   func(string, ...any)

	mu      sync.Mutex
	lock    *os.File // slot-N.lock, flock'd
	journal *os.File // slot-N.json, O_APPEND
	size    int64    // bytes appended since the last compaction, and its size
	compact int64    // size of the journal when last compacted
	paths   map[pathKey]*leasePath
	closed  bool

	// Group commit: appended counts the bytes ever written to the
	// journals, recorded that count after the last op line, synced how
	// many of them are known durable. syncMu is held by the one goroutine
	// running an fsync; the others wait for it and find their lines in it.
	appended, recorded, synced int64
	syncMu                     sync.Mutex
	syncs                      int // fsyncs of the journal, for tests
}

// leasePath is what a slot knows of one path.
type leasePath struct {
	seq     uint64              // the highest seq the origin used on the path
	pending map[uint64]oplog.Op // ops made that no durable store acknowledged
}

// leaseLine is one line of a journal.
type leaseLine struct {
	Origin  string    `json:"origin,omitempty"`
	Channel string    `json:"channel,omitempty"`
	Type    string    `json:"type,omitempty"`
	Path    string    `json:"path,omitempty"`
	Seq     uint64    `json:"seq,omitempty"`
	Op      *oplog.Op `json:"op,omitempty"`
	Acked   uint64    `json:"acked,omitempty"`
	// Dropped: every store refused the op of this seq; the client took it
	// back, and the seq is free again if it was the last one used.
	Dropped uint64 `json:"dropped,omitempty"`
}

// maxLeaseSlots bounds the slots a folder may have: past it, a client
// waits for none and fails. It is far above any number of writers run at
// once on one machine.
const maxLeaseSlots = 1024

// acquireLease takes the first free slot of dir (making dir if needed).
func acquireLease(dir string, logf func(string, ...any)) (*lease, error) {
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("origin lease: %w", err)
	}
	// One client at a time scans the slots: a slot is taken only while
	// every lower one is held by a live process.
	pick, err := filelock.Lock(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, fmt.Errorf("origin lease: %w", err)
	}
	defer pick.Close()
	var skipped []*os.File // slots held by this process with a damaged journal
	defer func() {
		for _, f := range skipped {
			f.Close()
		}
	}()
	for i := 0; i < maxLeaseSlots; i++ {
		f, err := filelock.TryLock(filepath.Join(dir, fmt.Sprintf("slot-%d.lock", i)))
		if errors.Is(err, filelock.ErrLocked) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("origin lease: %w", err)
		}
		l := &lease{dir: dir, slot: i, logf: logf, lock: f, paths: make(map[pathKey]*leasePath)}
		if err := l.load(); err != nil {
			// Never guess a damaged slot's seqs: leave it, take another.
			logf("gigfs: origin lease %s: slot %d: %v; using another slot", dir, i, err)
			skipped = append(skipped, f)
			continue
		}
		if err := l.rewrite(); err != nil {
			f.Close()
			return nil, fmt.Errorf("origin lease: %w", err)
		}
		return l, nil
	}
	return nil, fmt.Errorf("origin lease %s: all %d slots are held", dir, maxLeaseSlots)
}

func (l *lease) journalPath() string {
	return filepath.Join(l.dir, fmt.Sprintf("slot-%d.json", l.slot))
}

// load reads the slot's journal; a slot never used gets a new origin.
func (l *lease) load() error {
	b, err := os.ReadFile(l.journalPath())
	if errors.Is(err, fs.ErrNotExist) {
		l.origin = uuid.NewString()
		return nil
	}
	if err != nil {
		return err
	}
	// What follows the last newline is a torn append (a crash while
	// writing): its op never left the process, so it is dropped.
	lines := bytes.Split(b, []byte("\n"))
	for i, raw := range lines[:len(lines)-1] {
		n := i + 1
		var ln leaseLine
		if err := json.Unmarshal(raw, &ln); err != nil || (n == 1) != (ln.Origin != "") {
			return fmt.Errorf("%s line %d: damaged", l.journalPath(), n)
		}
		if n == 1 {
			l.origin = ln.Origin
			continue
		}
		k := pathKey{ln.Channel, ln.Type, ln.Path}
		lp := l.path(k)
		lp.seq = max(lp.seq, ln.Seq)
		if ln.Op != nil {
			if ln.Op.Origin != l.origin || ln.Op.Seq == 0 {
				return fmt.Errorf("%s line %d: an op of another origin", l.journalPath(), n)
			}
			lp.pending[ln.Op.Seq] = *ln.Op
			lp.seq = max(lp.seq, ln.Op.Seq)
		}
		if ln.Acked != 0 {
			delete(lp.pending, ln.Acked)
		}
		if ln.Dropped != 0 {
			lp.release(ln.Dropped)
		}
	}
	if l.origin == "" {
		l.origin = uuid.NewString()
	}
	return nil
}

func (l *lease) path(k pathKey) *leasePath {
	lp, ok := l.paths[k]
	if !ok {
		lp = &leasePath{pending: make(map[uint64]oplog.Op)}
		l.paths[k] = lp
	}
	return lp
}

// rewrite writes the journal compactly, atomically, and reopens it for
// appends. Called with l.mu held (or before l is shared).
func (l *lease) rewrite() error {
	b, _ := json.Marshal(leaseLine{Origin: l.origin})
	b = append(b, '\n')
	keys := make([]pathKey, 0, len(l.paths))
	for k := range l.paths {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		lp := l.paths[k]
		line, _ := json.Marshal(leaseLine{Channel: k.channel, Type: k.typ, Path: k.path, Seq: lp.seq})
		b = append(append(b, line...), '\n')
		for _, o := range lp.sortedPending() {
			line, _ := json.Marshal(leaseLine{Channel: k.channel, Type: k.typ, Path: k.path, Op: &o})
			b = append(append(b, line...), '\n')
		}
	}
	if err := atomicfile.WriteFile(l.journalPath(), b, 0o600); err != nil {
		return err
	}
	if l.journal != nil {
		l.journal.Close()
	}
	f, err := os.OpenFile(l.journalPath(), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	l.journal, l.size, l.compact = f, int64(len(b)), int64(len(b))
	l.synced = l.appended // the whole state is in the new file, fsynced
	return nil
}

func (lp *leasePath) sortedPending() []oplog.Op {
	out := make([]oplog.Op, 0, len(lp.pending))
	for _, o := range lp.pending {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// nextSeq is the lowest seq the origin has not used on k.
func (l *lease) nextSeq(k pathKey) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lp, ok := l.paths[k]; ok {
		return lp.seq + 1
	}
	return 1
}

// record writes an op the client made to the journal: its seq is used,
// and it is pending until acked. The line is not yet durable: the op must
// not leave the process before durable returns.
func (l *lease) record(k pathKey, o oplog.Op) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	line, err := json.Marshal(leaseLine{Channel: k.channel, Type: k.typ, Path: k.path, Op: &o})
	if err != nil {
		return err
	}
	if err := l.append(append(line, '\n'), false); err != nil {
		return fmt.Errorf("origin lease %s: %w", l.journalPath(), err)
	}
	l.recorded = l.appended
	lp := l.path(k)
	lp.seq = max(lp.seq, o.Seq)
	lp.pending[o.Seq] = o
	return nil
}

// durable returns once every op recorded before the call is on disk. One
// fsync serves every caller that waits for it: while it runs, the ops
// recorded meanwhile gather for the next one.
func (l *lease) durable() error {
	l.mu.Lock()
	target := l.recorded
	l.mu.Unlock()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if l.synced >= target {
		l.mu.Unlock()
		return nil
	}
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	f, upto := l.journal, l.appended
	l.mu.Unlock()
	err := f.Sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncs++
	if l.synced >= target {
		return nil // a compaction (rewrite) made it durable meanwhile, and closed f
	}
	if err != nil {
		return fmt.Errorf("origin lease %s: %w", l.journalPath(), err)
	}
	l.synced = max(l.synced, upto)
	return nil
}

// ack notes that a durable store holds the op (k, seq): it need not be
// sent again. Not fsynced: a lost ack only means a send that is a no-op.
func (l *lease) ack(k pathKey, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lp, ok := l.paths[k]
	if l.closed || !ok {
		return
	}
	if _, ok := lp.pending[seq]; !ok {
		return
	}
	delete(lp.pending, seq)
	line, _ := json.Marshal(leaseLine{Channel: k.channel, Type: k.typ, Path: k.path, Acked: seq})
	if err := l.append(append(line, '\n'), false); err != nil {
		l.logf("gigfs: origin lease %s: %v", l.journalPath(), err)
	}
}

// drop notes that every store refused the op (k, seq) and the client took
// it back: it is no longer pending, and its seq is used again by the next
// op unless a later one was made meanwhile (then the origin's seqs on k
// keep a gap, and checkpoints cover its ops only up to it). Fsynced like
// record: a lost drop would send the refused op again.
func (l *lease) drop(k pathKey, seq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	lp, ok := l.paths[k]
	if l.closed || !ok {
		return nil
	}
	line, _ := json.Marshal(leaseLine{Channel: k.channel, Type: k.typ, Path: k.path, Dropped: seq})
	if err := l.append(append(line, '\n'), true); err != nil {
		return fmt.Errorf("origin lease %s: %w", l.journalPath(), err)
	}
	lp.release(seq)
	return nil
}

// release forgets the op of seq and frees the seq if it was the last.
func (lp *leasePath) release(seq uint64) {
	delete(lp.pending, seq)
	if lp.seq == seq {
		lp.seq--
	}
}

// append writes to the journal, compacting it first when it has grown to
// several times its compact size. Called with l.mu held.
func (l *lease) append(b []byte, sync bool) error {
	if l.size > 4*l.compact+64<<10 {
		if err := l.rewrite(); err != nil {
			return err
		}
	}
	if _, err := l.journal.Write(b); err != nil {
		return err
	}
	l.size += int64(len(b))
	l.appended += int64(len(b))
	if sync {
		l.syncs++
		if err := l.journal.Sync(); err != nil {
			return err
		}
		l.synced = l.appended
	}
	return nil
}

// pending returns the ops of k not yet acknowledged, by seq.
func (l *lease) pending(k pathKey) []oplog.Op {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lp, ok := l.paths[k]; ok {
		return lp.sortedPending()
	}
	return nil
}

// pendingPaths returns the paths with ops not yet acknowledged.
func (l *lease) pendingPaths() []pathKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []pathKey
	for k, lp := range l.paths {
		if len(lp.pending) > 0 {
			out = append(out, k)
		}
	}
	return out
}

// close releases the slot: the journal stays for the next holder.
func (l *lease) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	err := l.journal.Close()
	if cerr := l.lock.Close(); err == nil {
		err = cerr
	}
	return err
}
