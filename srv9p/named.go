package srv9p

import (
	"context"
	"sync"
)

// Reads that name their write.
//
// A file that answers each write with a reply read from offset 0 of the
// same fid (a push file) may also number its writes: a Twrite at offset k
// > 0 is write number k of its fid, and a Tread at NamedOffset(k, off)
// reads its reply from off, once write k is done, even if the Tread was
// read from the connection first (9P lets a server run a fid's requests in
// any order). A client may then send the Twrite and the Tread together,
// without waiting for the Rwrite in between: a round trip less. A server
// that does not know the convention answers such a read with 0 bytes (the
// offset is past any reply), which tells the client to read at plain
// offsets once it has the Rwrite.

const (
	namedBase  = 1 << 62
	namedShift = 24 // bits of the offset within a reply: up to 16 MiB
	// MaxNamedWrite is the largest write number a named read can carry.
	MaxNamedWrite = 1<<(62-namedShift) - 1
	// MaxNamedOffset is the largest offset within a reply it can carry.
	MaxNamedOffset = 1<<namedShift - 1
)

// NamedOffset is the Tread offset that reads the reply of write k of the
// fid (its Twrite's offset, 1 to MaxNamedWrite) from off (0 to
// MaxNamedOffset).
func NamedOffset(k, off int64) int64 { return namedBase | k<<namedShift | off }

// ParseNamedOffset splits a Tread offset made by NamedOffset into the
// write it names and the offset within that write's reply; ok is false
// for a plain offset.
func ParseNamedOffset(o int64) (k, off int64, ok bool) {
	if o < namedBase {
		return 0, o, false
	}
	return (o &^ namedBase) >> namedShift, o & MaxNamedOffset, true
}

// NamedWrites keeps, for a file handle, the number of its last numbered
// write done, for the reads that name a write (see NamedOffset). Its
// methods are called with the handle's lock held, the one that guards the
// reply.
type NamedWrites struct {
	wrote int64
	moved chan struct{} // closed and replaced when wrote moves
}

// Done records that write k (a write's offset) is done; a write at offset
// 0 is not numbered, and one numbered below a write already done (a write
// the client gave up on, served late) does not move the count back: each
// changes nothing. The caller keeps, with its reply, the number of the
// write it answers, for a read to check.
func (n *NamedWrites) Done(k int64) {
	if k <= n.wrote {
		return
	}
	n.wrote = k
	if n.moved != nil {
		close(n.moved)
		n.moved = nil
	}
}

// Wait waits, with mu (held) unlocked meanwhile, until write k (or a later
// one) is done or ctx ends, and returns with mu held. It returns the
// number of the last write done.
func (n *NamedWrites) Wait(ctx context.Context, mu *sync.Mutex, k int64) (int64, error) {
	for n.wrote < k {
		if n.moved == nil {
			n.moved = make(chan struct{})
		}
		moved := n.moved
		mu.Unlock()
		select {
		case <-moved:
		case <-ctx.Done():
			mu.Lock()
			return n.wrote, ctx.Err()
		}
		mu.Lock()
	}
	return n.wrote, nil
}

// Waiting reports whether a read waits (or gave up waiting) for a write
// not done yet.
func (n *NamedWrites) Waiting() bool { return n.moved != nil }
