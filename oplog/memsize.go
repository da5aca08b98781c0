package oplog

import "unsafe"

// What the in-memory parts of a log cost, for MemSize. The figures are
// those of the Go runtime on 64-bit machines: an allocation takes its
// size class (AllocSize), a map entry its slot in a group of eight plus a
// share of the free slots a map keeps to grow (a load of 7/8 at most, half
// that just after it doubled). netstore's TestCache_EstimateCoversTheHeap
// checks the total against the heap a collector measures.
const (
	opSize      = int64(unsafe.Sizeof(Op{}))
	seqEntry    = int64(unsafe.Sizeof(originSeq{})+unsafe.Sizeof("")) * 3 / 2 // bySeq: key, value, free slots
	coverEntry  = int64(unsafe.Sizeof("")+8) * 3 / 2                          // Coverage: key, value, free slots
	mapHeader   = 48 + 8*8                                                    // a map and its first group's control word
	logSize     = int64(unsafe.Sizeof(Log{}))
	diskLogSize = int64(unsafe.Sizeof(DiskLog{})) + int64(unsafe.Sizeof(File{}))
)

// AllocSize is what an allocation of n bytes takes: n rounded up about as
// the Go allocator's size classes do (they are at most 1/8 apart), so that
// many small strings are not undercounted.
func AllocSize(n int) int64 {
	if n == 0 {
		return 0
	}
	if n <= 16 {
		return 16
	}
	step := 16 // the largest power of two at most n/8
	for s := n >> 3; step*2 <= s; {
		step <<= 1
	}
	return int64((n + step - 1) / step * step)
}

// memSize is what op o holds apart from its own struct: its strings and
// bodies (each op decoded has its own; a body by its capacity; an origin
// shared with the op before it, prev, counts there), and its coverage.
func (o *Op) memSize(prev *Op) int64 {
	n := AllocSize(len(o.Sha)) + AllocSize(cap(o.Payload)) + AllocSize(cap(o.Value))
	if prev == nil || unsafe.StringData(prev.Origin) != unsafe.StringData(o.Origin) {
		n += AllocSize(len(o.Origin))
	}
	if o.Covers != nil {
		n += mapHeader
		for k := range o.Covers {
			n += coverEntry + AllocSize(len(k))
		}
	}
	return n
}

// MemSize estimates the bytes of memory the log takes: its checkpoint, the
// slice of its ops (by capacity), every op's strings and bodies, and the
// index of (origin, seq) if it has one. The initial checkpoint, shared by
// every log, costs nothing. It walks every op; MemSizeCached walks only
// those appended since it last measured.
func (l *Log) MemSize() int64 {
	var c SizeCache
	return l.MemSizeCached(&c)
}

// SizeCache remembers what MemSizeCached measured of a log's ops: the
// first n, their cost, the log's shape then, and the shas of the first
// and the last of them. Its zero value has measured nothing.
type SizeCache struct {
	n           int
	sum         int64
	shape       uint64
	first, last string
}

// MemSizeCached is MemSize for a caller that measures the same log again
// and again (a store, on every push to an oplog): if the ops it measured
// are still the log's first ones (the same first and last op, by the
// memory of their shas) and nothing but appends changed the log since, it
// walks only the ops after them, so measuring after a push costs one op,
// not the whole log. After an op inserted before others, a prune or a
// drop, it walks them all again.
func (l *Log) MemSizeCached(c *SizeCache) int64 {
	n := logSize + AllocSize(int(opSize)*cap(l.ops))
	if l.bySeq != nil {
		n += mapHeader + seqEntry*int64(len(l.bySeq))
	}
	if l.base.Sha != initial.Sha {
		n += l.base.memSize(nil)
	}
	if c.n == 0 || c.shape != l.shape || c.n > len(l.ops) || !sameString(l.ops[0].Sha, c.first) || !sameString(l.ops[c.n-1].Sha, c.last) {
		*c = SizeCache{}
	}
	var prev *Op
	if c.n > 0 {
		prev = &l.ops[c.n-1]
	}
	for i := c.n; i < len(l.ops); i++ {
		c.sum += l.ops[i].memSize(prev)
		prev = &l.ops[i]
	}
	c.n, c.shape = len(l.ops), l.shape
	if c.n > 0 {
		c.first, c.last = l.ops[0].Sha, l.ops[c.n-1].Sha
	}
	return n + c.sum
}

// sameString reports whether a and b are the same string in memory, not
// only equal: the same op's sha, not a copy of it.
func sameString(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

// OwnSize estimates the bytes of memory the DiskLog takes apart from its
// log (Log.MemSize, which View gives): its structs, its file's name, and
// the records merged and not yet in its file. It is cheap: a store
// measures it on every use of an oplog.
func (d *DiskLog) OwnSize() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return diskLogSize + AllocSize(len(d.file.path)) + int64(cap(d.unflushed))
}
