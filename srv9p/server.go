package srv9p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"9fans.net/go/plan9"
	lib "9fans.net/go/plan9/srv9p"
	"gigfs.io/gigfs/gig"
)

// Defaults used for the zero values of Server's fields.
const (
	DefaultMsize           = 64 << 10         // bytes per 9P message
	DefaultMaxFids         = 4096             // fids per connection
	DefaultMaxBlockedReads = 1024             // stream reads in progress per connection
	DefaultIdleTimeout     = 10 * time.Minute // see Server.IdleTimeout

	DefaultMaxInFlight      = 256                    // requests in flight per connection
	DefaultMaxPending       = 4 << 20                // bytes of requests and replies pending per connection
	DefaultMaxUnauth        = 128                    // connections not attached yet
	DefaultMaxUnauthPerAddr = 16                     // the same, from one address
	DefaultAuthTimeout      = 10 * time.Second       // see Server.AuthTimeout
	DefaultAttachDelay      = 100 * time.Millisecond // see Server.AttachDelay
	DefaultAttachMaxDelay   = 5 * time.Second        // see Server.AttachDelay
)

// readBuffer is the size of a connection's read buffer, on both sides: a
// read(2) takes every message ready up to it (a push and a stream read are
// a few hundred bytes), and a larger message is read past it, straight
// into its own buffer.
const readBuffer = 8 << 10

// minMsize is the smallest message size a client may ask for; a smaller
// Tversion is answered with version "unknown", as in Plan 9's lib9p.
const minMsize = 256

// A Server serves a tree of Nodes over 9P2000, one per attach. Set Attach,
// and the limits if the defaults do not suit, then call Serve or ServeConn.
// The fields must not change once serving has started.
type Server struct {
	// Attach authenticates an attach and returns the root of the tree the
	// new fid sees, a Dir. uname is the user id, aname the credential,
	// remoteAddr the client's address. An error refuses the attach: the
	// client gets its message (see ErrorString) and one line is logged.
	Attach func(ctx context.Context, uname, aname, remoteAddr string) (root Node, err error)

	// Msize is the largest 9P message, in bytes; a client may ask for less.
	// Zero means DefaultMsize.
	Msize uint32
	// MaxFids is how many fids one connection may hold; zero means
	// DefaultMaxFids. A walk or attach beyond it fails with "too many fids".
	MaxFids int
	// MaxBlockedReads is how many reads of stream files (NewStream) one
	// connection may have in progress; zero means DefaultMaxBlockedReads.
	// One more fails with "too many blocked reads".
	MaxBlockedReads int
	// MaxWrite, if positive, is the largest write accepted; a larger one
	// fails with gig.ErrLimit, and opens report it as the iounit. Zero means
	// only the message size limits writes.
	MaxWrite int
	// IdleTimeout closes a connection that has sent nothing for that long
	// while no request of it is in progress (a blocked read keeps it
	// open), or that has not taken a reply for that long (less up to
	// 1/64 of it: deadlines move in steps, see moveDeadline). Zero means
	// DefaultIdleTimeout; negative means never.
	IdleTimeout time.Duration
	// MaxInFlight is how many requests of one connection may be in
	// flight (read and not yet answered; a stream read waiting for a
	// record does not count, see MaxBlockedReads); zero means
	// DefaultMaxInFlight. Past it the server reads nothing more from the
	// connection until a reply has been written (back-pressure). A
	// connection not attached yet may have 4 in flight.
	MaxInFlight int
	// MaxPending is how many bytes of requests in flight and of their
	// replies (reserved when the request is read: a read's count, or a
	// small reply) one connection may hold; zero means DefaultMaxPending.
	// Past it the server reads nothing more from the connection, so a
	// client that does not take its replies holds at most this much.
	MaxPending int64
	// MaxUnauth is how many connections may be open without a successful
	// attach yet, MaxUnauthPerAddr how many of them from one address (an
	// IPv4 address, an IPv6 /64; every unix socket peer is one address);
	// zero means DefaultMaxUnauth, DefaultMaxUnauthPerAddr. A connection
	// past either is closed at once.
	MaxUnauth, MaxUnauthPerAddr int
	// AuthTimeout closes a connection that has not attached within that
	// long of its start; zero means DefaultAuthTimeout, negative never.
	AuthTimeout time.Duration
	// AttachDelay and AttachMaxDelay slow failed attaches per source
	// address (as MaxUnauthPerAddr counts them): after 5 refused attaches
	// (bad credential, user or request), the attaches of that address take
	// turns, AttachDelay apart, doubling with each further failure up to
	// AttachMaxDelay, whatever connection they come on; one failure is
	// forgiven every 30 seconds. Other addresses are not delayed. Zero
	// means DefaultAttachDelay, DefaultAttachMaxDelay; negative turns the
	// delay off.
	AttachDelay, AttachMaxDelay time.Duration
	// Logf logs one line per refused attach, limit reached, failed Close
	// and broken connection (a *log.Logger's Printf fits). Nil means
	// log.Printf with prefix "srv9p: ".
	Logf func(format string, args ...any)
	// Trace, if not nil, receives the library's trace of every 9P message,
	// as the library sees it: a Tclunk shows as a Tremove (clunk.go).
	Trace io.Writer

	guardOnce sync.Once
	g         *guard
}

// startTime stands for the modification time of files that report none.
var startTime = time.Now()

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
		return
	}
	log.Printf("srv9p: "+format, args...)
}

func (s *Server) msize() uint32 {
	switch {
	case s.Msize == 0:
		return DefaultMsize
	case s.Msize < minMsize:
		return minMsize
	}
	return s.Msize
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// Serve accepts connections on l and serves each until it hangs up. When
// ctx is cancelled Serve closes l and every connection, waits until each
// connection has released everything it held (every Handle closed), and
// returns nil. It returns another error if l fails.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !temporary(err) {
				return err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.logf("accept: %v; retrying in %v", err, delay)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		delay = 0
		wg.Go(func() { s.ServeConn(ctx, nc) })
	}
}

func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.ENOMEM)
}

// ServeConn serves one connection until the client hangs up, the
// connection fails or idles out, or ctx is cancelled. Before it returns,
// every request context of the connection is cancelled and every fid is
// released (Handle.Close called).
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	c := &conn{
		srv:         s,
		nc:          nc,
		br:          bufio.NewReaderSize(nc, readBuffer),
		remote:      nc.RemoteAddr().String(),
		maxFids:     orDefault(s.MaxFids, DefaultMaxFids),
		maxBlocked:  int64(orDefault(s.MaxBlockedReads, DefaultMaxBlockedReads)),
		maxWrite:    s.MaxWrite,
		maxInFlight: orDefault(s.MaxInFlight, DefaultMaxInFlight),
		maxPending:  s.MaxPending,
		idle:        s.IdleTimeout,
		fids:        make(map[*fidState]struct{}),
	}
	if c.idle == 0 {
		c.idle = DefaultIdleTimeout
	}
	if c.maxPending <= 0 {
		c.maxPending = DefaultMaxPending
	}
	c.key = addrKey(c.remote)
	if !s.admit(c.key) {
		nc.Close()
		return
	}
	s.guard().conns.Add(1)
	defer s.guard().conns.Add(-1)
	defer func() {
		if !c.attached.Swap(true) {
			s.leaveUnauth(c.key)
		}
	}()
	c.flow.init()
	if d := s.AuthTimeout; d >= 0 {
		if d == 0 {
			d = DefaultAuthTimeout
		}
		t := time.AfterFunc(d, func() {
			if !c.attached.Load() {
				s.limitLog("auth-timeout", "%s: not attached within %v; hanging up", c.remote, d)
				c.flow.close()
				nc.Close()
			}
		})
		defer t.Stop()
	}
	c.cond = sync.NewCond(&c.mu)
	c.srvMsize = s.msize()
	c.rmsize.Store(c.srvMsize)
	c.msize.Store(c.srvMsize)

	stop := context.AfterFunc(ctx, func() {
		c.flow.close()
		nc.Close()
	})
	defer stop()
	ps := &lib.Server{
		Msize:  c.srvMsize,
		Trace:  s.Trace,
		Attach: c.attach,
		Walk:   c.walk,
		Open:   c.open,
		Create: c.create,
		Remove: c.remove,
		Read:   c.read,
		Write:  c.write,
		Stat:   c.stat,
		Wstat:  c.wstat,
		Clunk:  c.clunkHook,
	}
	c.w = &writer{c: c}
	ps.Serve(&reader{c: c}, c.w)
	c.flow.close()
	nc.Close()
	c.shutdown()
}

// A conn is our state for one connection.
type conn struct {
	srv        *Server
	nc         net.Conn
	br         *bufio.Reader // nc's requests: one read(2) takes every request ready
	msgBuf     []byte        // the reader's buffer for small messages (readMsg)
	readDL     time.Time     // the read deadline set last (readFull)
	remote     string
	maxFids    int
	maxBlocked int64
	maxWrite   int
	idle       time.Duration
	srvMsize   uint32

	key         string // the address key of remote (see addrKey)
	maxInFlight int
	maxPending  int64
	flow        flow
	w           *writer
	attached    atomic.Bool // an attach has succeeded (or the connection ended)

	msize   atomic.Uint32 // negotiated message size
	rmsize  atomic.Uint32 // largest request accepted after Tversion (0: only Tversion)
	blocked atomic.Int64  // stream reads in progress
	hungUp  atomic.Bool   // the read side has failed
	wfailed atomic.Bool   // a reply could not be written

	mu     sync.Mutex
	cond   *sync.Cond // signalled when active drops to 0
	closed bool       // no more requests are served
	active int        // callbacks in progress
	fids   map[*fidState]struct{}
}

func (c *conn) logf(format string, args ...any) {
	c.srv.logf("%s: "+format, append([]any{c.remote}, args...)...)
}

// do runs f as the body of a request whose library context is ctx: with
// a recovered panic, and the error turned into its 9P string. ctx ends
// when the request is flushed, and when the connection ends: the reader
// then hands the library a Tflush of every request in flight (hangupFlushes).
func (c *conn) do(ctx context.Context, f func(ctx context.Context) error) (err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nineErr(gig.ErrInterrupted.Error())
	}
	c.active++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.active--
		if c.active == 0 {
			c.cond.Broadcast()
		}
		c.mu.Unlock()
	}()
	defer func() {
		if p := recover(); p != nil {
			c.logf("panic: %v\n%s", p, debug.Stack())
			err = nineErr("internal server error")
		}
	}()
	return wire(f(ctx))
}

func (c *conn) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active > 0
}

// shutdown ends the connection's requests and releases its fids.
func (c *conn) shutdown() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var f *fidState
		for f = range c.fids {
			break
		}
		c.mu.Unlock()
		if f == nil {
			break
		}
		f.release() // waits for the fid's reads and writes to end
	}
	c.mu.Lock()
	for c.active > 0 {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// reader hands the library one whole 9P message at a time, after checking
// its size, watching for idleness and vetting Tversion. When the
// connection ends, it hands the library a Tflush of every request still in
// flight, then the error: the library's flush cancels each request's
// context, so that a request context ends with the connection.
//
// A numbered Twrite followed, in what one read(2) brought, by the Tread
// that names it (one sequential push: see NamedOffset) is handed over
// second, after that Tread: the library starts a goroutine per request,
// and Go runs the one started last first, so the write, which the read
// waits for, starts at once, instead of after the read has run and
// blocked; the read waits during the write's fsync. 9P lets a server
// serve requests in any order, and a named read waits for its write
// whatever the order.
type reader struct {
	c     *conn
	buf   []byte
	err   error  // why the connection ended, once it has
	after []byte // a Twrite to hand over once buf is (its named Tread)
	spare []byte // after's buffer, kept for the next
}

func (r *reader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if len(r.after) > 0 {
			r.buf, r.after = r.after, nil
			break
		}
		if r.err != nil {
			return 0, r.err
		}
		if !r.c.waitRoom() {
			r.end(io.EOF)
			continue
		}
		msg, err := r.c.readMsg()
		if err != nil {
			r.end(err)
			continue
		}
		r.c.reserve(msg)
		if r.c.refuse(msg) {
			continue
		}
		if !r.c.endsFid(msg) {
			r.end(io.EOF)
			continue
		}
		r.buf = msg
		if r.c.namedReadFollows(msg) {
			if err := r.swap(); err != nil {
				r.end(err)
			}
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// end records that the connection has ended with err, and queues for the
// library the Tflushes of the requests in flight.
func (r *reader) end(err error) {
	r.c.hungUp.Store(true)
	r.err = err
	r.after = nil
	r.buf = r.c.hangupFlushes()
}

// swap reads the Tread that follows the Twrite in r.buf (namedReadFollows
// said it is buffered whole) and hands it over first: the Twrite waits in
// r.after, in a buffer of its own (readMsg reuses the one it is in).
func (r *reader) swap() error {
	r.after = append(r.spare[:0], r.buf...)
	r.spare = r.after
	if cap(r.spare) > readBuffer {
		r.spare = nil
	}
	msg, err := r.c.readMsg()
	if err != nil {
		return err
	}
	r.c.reserve(msg) // a Tread: neither refused nor ending a fid
	r.buf = msg
	return nil
}

// namedReadFollows reports whether msg is a numbered Twrite whose named
// Tread (same fid, naming its number) is next in the read buffer, whole,
// and may be read now without waiting for room (see reader).
func (c *conn) namedReadFollows(msg []byte) bool {
	if len(msg) < 23 || msg[4] != plan9.Twrite {
		return false
	}
	k := int64(binary.LittleEndian.Uint64(msg[11:19]))
	if k <= 0 || c.br.Buffered() < 23 {
		return false
	}
	next, err := c.br.Peek(23)
	if err != nil || next[4] != plan9.Tread || !bytes.Equal(next[7:11], msg[7:11]) {
		return false
	}
	size := int(binary.LittleEndian.Uint32(next))
	if size < 23 || size > c.br.Buffered() || uint32(size) > c.rmsize.Load() {
		return false
	}
	if nk, _, named := ParseNamedOffset(int64(binary.LittleEndian.Uint64(next[11:19]))); !named || nk != k {
		return false
	}
	return c.roomNow()
}

func (r *reader) Close() error { return r.c.nc.Close() }

var errBadMessage = errors.New("bad message size")

func (c *conn) readMsg() ([]byte, error) {
	var hdr [4]byte
	if err := c.readFull(hdr[:]); err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	if size < 7 || size > c.srvMsize {
		c.srv.limitLog("msgsize", "%s: message of %d bytes; hanging up", c.remote, size)
		return nil, errBadMessage
	}
	// The library copies each message out of the reader before it asks
	// for the next: a small one reuses the buffer of the last.
	var msg []byte
	if int(size) <= cap(c.msgBuf) {
		msg = c.msgBuf[:size]
	} else {
		msg = make([]byte, size)
		if size <= readBuffer {
			c.msgBuf = msg
		}
	}
	copy(msg, hdr[:])
	if err := c.readFull(msg[4:]); err != nil {
		return nil, err
	}
	if msg[4] == plan9.Tversion {
		c.version(msg)
	} else if size > c.rmsize.Load() {
		c.srv.limitLog("msgsize", "%s: message of %d bytes over msize; hanging up", c.remote, size)
		return nil, errBadMessage
	}
	return msg, nil
}

// version looks at a Tversion before the library answers it. The library
// would accept any msize, and below IOHDRSZ its read count check wraps
// around: a tiny msize gets version "unknown" instead (see doc.go).
func (c *conn) version(msg []byte) {
	if len(msg) < 13 {
		return
	}
	m := binary.LittleEndian.Uint32(msg[7:11])
	vlen := binary.LittleEndian.Uint16(msg[11:13])
	if m < minMsize {
		if vlen > 0 && len(msg) > 13 {
			msg[13] = 'x' // not "9P...": the library answers "unknown"
		}
		// The library would also take m as its message size, and drop
		// its own reply if that is too small for it (below 20 bytes):
		// it sees ours instead, and answers with it.
		binary.LittleEndian.PutUint32(msg[7:11], c.srvMsize)
		c.rmsize.Store(0)
		return
	}
	m = min(m, c.srvMsize)
	c.msize.Store(m)
	c.rmsize.Store(m)
}

// moveDeadline sets, with set, a deadline idle from now, unless the one
// set last, dl, is within idle/64 of it: a deadline costs a timer update
// in the runtime, and a connection's reads and writes came to several per
// request. The idle timeout a connection gets is then between
// idle - idle/64 and idle. It returns the deadline now set.
func moveDeadline(set func(time.Time) error, dl time.Time, idle time.Duration) time.Time {
	next := time.Now().Add(idle)
	if next.Sub(dl) <= idle/64 {
		return dl
	}
	set(next)
	return next
}

// readFull reads p whole; the read deadline moves only before a read that
// may wait for the network (nothing buffered).
func (c *conn) readFull(p []byte) error {
	for len(p) > 0 {
		if c.idle > 0 && c.br.Buffered() == 0 {
			c.readDL = moveDeadline(c.nc.SetReadDeadline, c.readDL, c.idle)
		}
		n, err := c.br.Read(p)
		p = p[n:]
		if err == nil || n > 0 {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if c.busy() {
				continue
			}
			c.logf("idle for %v; hanging up", c.idle)
		}
		return err
	}
	return nil
}

// writer writes the library's replies. A reply made while no write is
// under way and at most one other request of the connection is in flight
// (the pair of one sequential push: its write and its named read) is
// written at once by the goroutine that made it: no hand-off to another
// goroutine on the reply's way out. Otherwise a reply is queued, and one
// goroutine at a time writes out what is queued, so replies that come
// while a write(2) is under way leave together in the next one (the
// Rwrites of pushes that shared a group commit). The library holds its
// own lock while it hands over a reply, so one written at once keeps the
// connection's other replies waiting for its write(2): hence only when
// few are in flight.
//
// The Rwrite of a numbered write whose named read is in flight is held
// until the next reply is made, which is that read's as a rule (the
// write's end has just made it ready): the pair leaves in one write(2)
// and the client takes it in one read(2). Replies leave in the order they
// were made. A named read counts as in flight here only until its reply is
// made: one answered before the Rwrite (it woke when the write was done,
// before the library replied to the write) whose reply is queued, not yet
// written, holds nothing back, since no reply of it is to come. (A client that names, in a read that never ends, a write it
// sent beside it delays only its own Rwrite, until another reply.)
//
// A reply counts as in flight (flow control) until it is written. A reply
// that cannot be written ends the connection; the library is told all
// went well, so that it does not log to the standard logger.
type writer struct {
	c       *conn
	mu      sync.Mutex // one message at a time: the library's and refuse's
	out     batch      // replies not written yet
	held    []byte     // Rwrites held for their named reads' replies, after out's
	writing bool       // a goroutine is writing (the queue, or its own reply)
	writeDL time.Time  // the write deadline set last; used by the goroutine writing
}

// inlineInFlight is how many requests of a connection may be in flight,
// the one answered included, for its reply to be written at once.
const inlineInFlight = 2

// Write is the library's: it holds the reply p, writes it at once with
// what is queued, or queues it (see writer).
func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	hold, inline := w.c.answer(p)
	if hold {
		w.held = append(w.held, p...)
		w.mu.Unlock()
		return len(p), nil
	}
	w.release()
	if w.writing || !inline {
		w.enqueue(p)
		return len(p), nil
	}
	b, queued := p, len(w.out.queue) > 0
	if queued {
		b = append(w.out.take(), p...)
	}
	w.writing = true
	w.mu.Unlock()
	w.send(b)
	w.mu.Lock()
	if queued {
		w.out.giveBack(b)
	}
	more := len(w.out.queue) > 0
	w.writing = more
	w.mu.Unlock()
	if more { // queued meanwhile
		go w.writeOut()
	}
	return len(p), nil
}

// release moves the held replies to the queue, with w.mu held: a reply
// made after them leaves after them.
func (w *writer) release() {
	if len(w.held) > 0 {
		w.out.queue = append(w.out.queue, w.held...)
		w.held = w.held[:0]
		if cap(w.held) > maxSpare {
			w.held = nil
		}
	}
}

// queueReply queues the reply p to be written in the background: the
// reader's own replies (refuse), which must never wait for a write(2).
func (w *writer) queueReply(p []byte) {
	w.mu.Lock()
	w.c.answering(p)
	w.release()
	w.enqueue(p)
}

// enqueue queues p, with w.mu held, which it releases, and starts the
// background write if none is under way.
func (w *writer) enqueue(p []byte) {
	w.out.queue = append(w.out.queue, p...)
	start := !w.writing
	w.writing = true
	w.mu.Unlock()
	if start {
		go w.writeOut()
	}
}

// writeOut writes the queue until it is empty.
func (w *writer) writeOut() {
	for {
		w.mu.Lock()
		if len(w.out.queue) == 0 {
			w.writing = false
			w.mu.Unlock()
			return
		}
		b := w.out.take()
		w.mu.Unlock()
		w.send(b)
		w.mu.Lock()
		w.out.giveBack(b)
		w.mu.Unlock()
	}
}

// send writes b, whole messages, to the connection (unless a write has
// failed) and counts each as replied.
func (w *writer) send(b []byte) {
	c := w.c
	if !c.wfailed.Load() {
		if c.idle > 0 {
			w.writeDL = moveDeadline(c.nc.SetWriteDeadline, w.writeDL, c.idle)
		}
		if _, err := c.nc.Write(b); err != nil {
			if !c.wfailed.Swap(true) && !c.hungUp.Load() {
				c.logf("write: %v; hanging up", err)
			}
			c.nc.Close()
			c.flow.close()
		}
	}
	for m := b; len(m) >= 4; {
		n := int(binary.LittleEndian.Uint32(m))
		if n < 7 || n > len(m) {
			break // not ours to write: the library's messages are whole
		}
		c.replied(m[:n])
		m = m[n:]
	}
}

func (w *writer) Close() error { return w.c.nc.Close() }

// fidLimit is the error of a walk or attach past MaxFids.
func (c *conn) fidLimit() error {
	c.logf("too many fids (limit %d)", c.maxFids)
	return nineErr(fmt.Sprintf("too many fids: limit %d", c.maxFids))
}
