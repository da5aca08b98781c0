package srv9p

import (
	"encoding/binary"
	"sync"

	"9fans.net/go/plan9"
)

// Flow control of one connection.
//
// The reader counts every request it hands the library, and the writer
// every reply: a request is in flight from the moment it is read until
// its reply is written. Each request also reserves bytes: its own size and
// the reply it may get (a read: its count; anything else: smallReply).
// Before reading the next message from the network, the reader waits until
// the connection has fewer than MaxInFlight requests in flight and holds
// fewer than MaxPendingBytes: past either, the server reads nothing more
// from the connection (back-pressure; the client's writes then block in
// its kernel buffers), and a client that does not take its replies holds at
// most those bounds. A read that blocks in a stream (beginBlock) leaves
// the count while it waits, since it is bounded by MaxBlockedReads, so
// that blocked reads never keep a connection from sending the Tflush that
// ends them.
//
// Every request gets exactly one reply from the library (a flushed one
// too, before its Rflush), except a reply too large for msize, which the
// library drops: none of ours is (errors are cut to maxErrorLen, stats
// checked in conn.stat), so the counts cannot drift.
type flow struct {
	mu       sync.Mutex
	cond     *sync.Cond
	inflight int
	bytes    int64
	res      map[uint16][]reservation // by tag, in order
	spare    [][]reservation          // emptied slices of res, for the next tags
	named    map[writeKey]int         // named reads not answered yet, by the write they name
	closed   bool
	bitten   bool // the limit has been logged for this connection

	// The tags of the Tclunks handed to the library as Tremoves, and of
	// the real Tremoves, in flight (clunk.go): one of the two is empty.
	clunks, removes map[uint16]struct{}
}

// A reservation is what one request in flight holds: n bytes, and for a
// numbered write or a read that names one (named.go), which write.
type reservation struct {
	n     int64
	write writeKey // the write numbered or named, if any
	kind  uint8    // 0, numberedWrite or namedRead
	// answered: its reply has been made (it may wait to be written); a
	// named read then leaves flow.named (see unnamed).
	answered bool
}

const (
	numberedWrite = 1 + iota
	namedRead
)

// writeKey names a numbered write: its fid and number.
type writeKey struct {
	fid uint32
	k   int64
}

// maxSpareRes is how many emptied reservation slices a connection keeps
// (one is made per request otherwise).
const maxSpareRes = 64

// smallReply is what a request other than a read reserves for its reply:
// an Rerror of maxErrorLen bytes fits, so does a stat of short names.
const smallReply = 9 + maxErrorLen + 56

// unauthInFlight bounds the requests in flight of a connection that has
// not attached yet, whatever MaxInFlight says: before an attach nothing
// but Tversion, Tauth, Tattach and Tflush is of use.
const unauthInFlight = 4

func (f *flow) init() {
	f.cond = sync.NewCond(&f.mu)
	f.res = make(map[uint16][]reservation)
	f.named = make(map[writeKey]int)
	f.clunks = make(map[uint16]struct{})
	f.removes = make(map[uint16]struct{})
}

// close wakes a reader waiting for room, for good.
func (f *flow) close() {
	f.mu.Lock()
	f.closed = true
	f.cond.Broadcast()
	f.mu.Unlock()
}

// waitRoom blocks until the connection may read one more request, and
// logs once per connection when it has to wait. It returns false once the
// flow is closed.
func (c *conn) waitRoom() bool {
	f := &c.flow
	f.mu.Lock()
	defer f.mu.Unlock()
	for !f.closed {
		max := c.maxInFlight
		if !c.attached.Load() {
			max = min(max, unauthInFlight)
		}
		full := f.inflight >= max
		if !full && (f.bytes == 0 || f.bytes < c.maxPending) {
			return true
		}
		if !f.bitten {
			f.bitten = true
			c.srv.guard().paused.Add(1)
			what := "requests in flight"
			if !full {
				what = "bytes of requests and replies pending"
			}
			c.srv.limitLog("flow", "%s: %d requests in flight (limit %d), %d bytes pending (limit %d): %s; not reading from it until it takes its replies",
				c.remote, f.inflight, max, f.bytes, c.maxPending, what)
		}
		f.cond.Wait()
	}
	return false
}

// roomNow reports whether the connection may read one more request now,
// as waitRoom would let it, without waiting.
func (c *conn) roomNow() bool {
	f := &c.flow
	f.mu.Lock()
	defer f.mu.Unlock()
	max := c.maxInFlight
	if !c.attached.Load() {
		max = min(max, unauthInFlight)
	}
	return !f.closed && f.inflight < max && (f.bytes == 0 || f.bytes < c.maxPending)
}

// reserve counts the request msg as in flight.
func (c *conn) reserve(msg []byte) {
	typ := msg[4]
	tag := binary.LittleEndian.Uint16(msg[5:7])
	r := reservation{n: int64(len(msg)) + smallReply}
	if (typ == plan9.Tread || typ == plan9.Twrite) && len(msg) >= 23 {
		fid := binary.LittleEndian.Uint32(msg[7:11])
		off := int64(binary.LittleEndian.Uint64(msg[11:19]))
		if typ == plan9.Tread {
			count := int64(binary.LittleEndian.Uint32(msg[19:23]))
			r.n = int64(len(msg)) + plan9.IOHDRSZ + min(count, int64(c.msize.Load())-plan9.IOHDRSZ)
			if k, _, ok := ParseNamedOffset(off); ok {
				r.kind, r.write = namedRead, writeKey{fid, k}
			}
		} else if off > 0 {
			r.kind, r.write = numberedWrite, writeKey{fid, off}
		}
	}
	f := &c.flow
	f.mu.Lock()
	f.inflight++
	f.bytes += r.n
	rs, ok := f.res[tag]
	if !ok && len(f.spare) > 0 {
		rs, f.spare = f.spare[len(f.spare)-1], f.spare[:len(f.spare)-1]
	}
	f.res[tag] = append(rs, r)
	if r.kind == namedRead {
		f.named[r.write]++
	}
	f.mu.Unlock()
}

// answer looks at the reply msg before the writer takes it, under one
// lock: answering's work, then whether msg is to be held, the Rwrite of a
// numbered write whose named read is in flight (kept for that read's
// reply, which follows it at once, to leave together), and whether few
// enough requests are in flight for it to be written by the goroutine
// that made it (see writer).
func (c *conn) answer(msg []byte) (hold, inline bool) {
	if len(msg) < 7 {
		return false, false
	}
	f := &c.flow
	f.mu.Lock()
	defer f.mu.Unlock()
	c.answeringLocked(msg)
	if msg[4] == plan9.Rwrite {
		r := f.res[binary.LittleEndian.Uint16(msg[5:7])]
		if len(r) > 0 && r[0].kind == numberedWrite && f.named[r[0].write] > 0 {
			return true, false
		}
	}
	return false, f.inflight <= inlineInFlight
}

// replied counts the reply msg as written: its request leaves the flight.
func (c *conn) replied(msg []byte) {
	if len(msg) < 7 {
		return
	}
	tag := binary.LittleEndian.Uint16(msg[5:7])
	f := &c.flow
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.res[tag]
	if len(r) == 0 {
		return
	}
	n := r[0].n
	if !r[0].answered {
		f.unnamed(&r[0])
	}
	if len(r) == 1 {
		delete(f.res, tag)
		if len(f.spare) < maxSpareRes {
			f.spare = append(f.spare, r[:0])
		}
	} else {
		f.res[tag] = r[1:]
	}
	f.inflight--
	f.bytes -= n
	f.cond.Broadcast()
}

// unnamed marks the reservation r as answered, with f.mu held: a named
// read's reply has been made, and a Rwrite made after it must not be held
// for it (the writer holds a Rwrite only for a reply still to be made).
func (f *flow) unnamed(r *reservation) {
	r.answered = true
	if r.kind == namedRead {
		if f.named[r.write]--; f.named[r.write] <= 0 {
			delete(f.named, r.write)
		}
	}
}

// answeredLocked marks the first reservation of tag not answered yet as
// answered, with f.mu held.
func (f *flow) answeredLocked(tag uint16) {
	for i, r := range f.res[tag] {
		if !r.answered {
			f.unnamed(&f.res[tag][i])
			return
		}
	}
}

// park takes a read that is about to block, and reserved n bytes, out of
// the flight; unpark puts it back before its reply.
func (c *conn) park(n int64) {
	f := &c.flow
	f.mu.Lock()
	f.inflight--
	f.bytes -= n
	f.cond.Broadcast()
	f.mu.Unlock()
}

func (c *conn) unpark(n int64) {
	f := &c.flow
	f.mu.Lock()
	f.inflight++
	f.bytes += n
	f.mu.Unlock()
}

// pending returns the requests in flight and the bytes they reserve.
func (c *conn) pending() (int, int64) {
	f := &c.flow
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inflight, f.bytes
}

// hangupFlushes returns, for a connection that has ended, a Tflush of
// every request in flight (read from the network and not answered yet),
// each on a tag of its own that no request in flight holds: handed to the
// library, they cancel the requests' contexts (see reader). Their replies
// go nowhere.
func (c *conn) hangupFlushes() []byte {
	f := &c.flow
	f.mu.Lock()
	defer f.mu.Unlock()
	var b []byte
	free := uint16(0)
	for old := range f.res {
		for _, used := f.res[free]; used; _, used = f.res[free] {
			free++
		}
		if free == plan9.NOTAG {
			break // 65535 requests in flight: cannot be (MaxInFlight)
		}
		b = binary.LittleEndian.AppendUint32(b, 9)
		b = append(b, plan9.Tflush)
		b = binary.LittleEndian.AppendUint16(b, free)
		b = binary.LittleEndian.AppendUint16(b, old)
		free++
	}
	return b
}
