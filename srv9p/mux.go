package srv9p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"9fans.net/go/plan9"

	"gigfs.io/gigfs/gig"
)

// A Mux is one 9P connection attached as one user on which calls run
// concurrently: every request has a tag of its own, one goroutine reads
// the replies and hands each to its caller, and writes of requests never
// wait for replies. Pushes of one client ride the same connection together
// (and so the store's group commit) instead of queueing behind each
// other's round trips, and a blocked stream read holds nothing but its own
// tag.
//
// A call whose context ends returns at once; the Mux flushes its tag
// (Tflush) and the connection stays up for the other calls. Only a broken
// connection (or a server that does not answer a flush within flushWait)
// ends every call, with an error of kind gig.ErrTransport. It is safe for
// concurrent use.
type Mux struct {
	nc    net.Conn
	br    *bufio.Reader // nc's replies: one read(2) takes every reply ready
	fp    string        // the TLS server's certificate fingerprint, or ""
	msize uint32
	root  uint32

	wmu     sync.Mutex
	writing bool          // a write is under way; guarded by wmu
	wout    batch         // requests waiting for it to end; guarded by wmu
	tagSem  chan struct{} // one per tag in use
	cfg     MuxConfig
	bitAt   time.Time // when the tag bound was last logged; guarded by mu
	bitN    int       // times it bit since; guarded by mu

	mu       sync.Mutex
	tags     map[uint16]chan *plan9.Fcall
	nextTag  uint16
	freeFids []uint32
	nextFid  uint32
	err      error         // why the connection ended, once it has
	done     chan struct{} // closed when it ends

	// plainWrites is set once the server has shown it does not know reads
	// that name their write (MuxFile.writeNamed).
	plainWrites atomic.Bool
}

const (
	// muxMsize is the message size a Mux asks for; the server may offer less.
	muxMsize = 1 << 20
	// DefaultMaxTags is MuxConfig.MaxTags when it is 0.
	DefaultMaxTags = 1 << 12
	// flushWait is how long a flushed request's server may take to answer
	// the flush before the Mux hangs up (a server that answers nothing).
	flushWait = 30 * time.Second
)

// MuxConfig holds a Mux's bounds; the zero value is the defaults.
type MuxConfig struct {
	// MaxTags bounds the requests in flight on the connection (tags in
	// use): past it a call waits for one to end. 0 is DefaultMaxTags; at
	// most 65535, the tags 9P has.
	MaxTags int
	// Logf, if set, is told when the bound bites (at most once a minute).
	Logf func(format string, args ...any)
}

// DialMux connects to the 9P server at addr (a dial string, see ParseAddr)
// and attaches as uname with the credential aname, verifying a TLS server
// as trust says. If ctx ends before the attach is answered, the connection
// is closed.
func DialMux(ctx context.Context, addr string, trust Trust, uname, aname string) (*Mux, error) {
	return DialMuxConfig(ctx, addr, trust, uname, aname, MuxConfig{})
}

// DialMuxConfig is DialMux with bounds of the caller's.
func DialMuxConfig(ctx context.Context, addr string, trust Trust, uname, aname string, cfg MuxConfig) (*Mux, error) {
	if cfg.MaxTags == 0 {
		cfg.MaxTags = DefaultMaxTags
	}
	if cfg.MaxTags < 1 || cfg.MaxTags > plan9.NOTAG {
		return nil, gig.Errorf(gig.ErrInvalid, "9P client: %d tags in flight: want 1 to %d", cfg.MaxTags, plan9.NOTAG)
	}
	nc, fp, err := dialConn(ctx, addr, trust)
	if err != nil {
		return nil, classify(err)
	}
	m := &Mux{nc: nc, br: bufio.NewReaderSize(nc, readBuffer), fp: fp, cfg: cfg, tagSem: make(chan struct{}, cfg.MaxTags), tags: make(map[uint16]chan *plan9.Fcall), nextFid: 1, done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	err = m.version()
	if err == nil {
		go m.readLoop()
		err = m.attach(ctx, uname, aname)
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		m.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("attach %s as %s: %w", addr, uname, classify(err))
	}
	return m, nil
}

// Fingerprint returns the fingerprint of the TLS server's certificate
// (see Fingerprint), or "" if the connection is not TLS.
func (m *Mux) Fingerprint() string { return m.fp }

// version negotiates the message size, before the reader runs.
func (m *Mux) version() error {
	tx := &plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: muxMsize, Version: "9P2000"}
	b, err := tx.Bytes()
	if err != nil {
		return err
	}
	if _, err := m.nc.Write(b); err != nil {
		return err
	}
	m.msize = muxMsize
	rx, err := m.readMsg()
	if err != nil {
		return err
	}
	if rx.Type != plan9.Rversion || rx.Version != "9P2000" || rx.Msize < 256 || rx.Msize > muxMsize {
		return fmt.Errorf("bad version reply %v", rx)
	}
	m.msize = rx.Msize
	return nil
}

func (m *Mux) attach(ctx context.Context, uname, aname string) error {
	fid := m.newFid()
	if _, err := m.rpc(ctx, &plan9.Fcall{Type: plan9.Tattach, Fid: fid, Afid: plan9.NOFID, Uname: uname, Aname: aname}); err != nil {
		return err
	}
	m.root = fid
	return nil
}

// readMsg reads one message, no larger than the message size.
func (m *Mux) readMsg() (*plan9.Fcall, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(m.br, hdr[:]); err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	if size < 7 || size > m.msize {
		return nil, fmt.Errorf("reply of %d bytes (message size %d)", size, m.msize)
	}
	b := make([]byte, size)
	copy(b, hdr[:])
	if _, err := io.ReadFull(m.br, b[4:]); err != nil {
		return nil, err
	}
	return plan9.UnmarshalFcall(b)
}

// readLoop hands each reply to the call waiting on its tag.
func (m *Mux) readLoop() {
	for {
		rx, err := m.readMsg()
		if err != nil {
			m.fail(err)
			return
		}
		m.mu.Lock()
		ch := m.tags[rx.Tag]
		m.mu.Unlock()
		if ch != nil {
			select {
			case ch <- rx:
			default: // a second reply to one tag: the server's error, dropped
			}
		}
	}
}

// fail ends the connection with err (the first error wins).
func (m *Mux) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return
	}
	m.err = gig.Errorf(gig.ErrTransport, "%w", err)
	close(m.done)
	m.nc.Close()
}

// Close hangs up; calls in progress end with an error of kind
// gig.ErrTransport. It is safe to call more than once.
func (m *Mux) Close() error {
	m.fail(net.ErrClosed)
	return nil
}

// newTag reserves a tag for a reply channel, waiting while MaxTags are in
// use.
func (m *Mux) newTag(ctx context.Context, ch chan *plan9.Fcall) (uint16, error) {
	select {
	case m.tagSem <- struct{}{}:
	default:
		m.bit()
		select {
		case m.tagSem <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-m.done:
			return 0, m.err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.takeTag(ch), nil
}

// takeTag takes the next tag not in use for ch, with m.mu held and a place
// in tagSem reserved.
func (m *Mux) takeTag(ch chan *plan9.Fcall) uint16 {
	for {
		t := m.nextTag
		m.nextTag++
		if m.nextTag == plan9.NOTAG {
			m.nextTag = 0
		}
		if _, used := m.tags[t]; !used {
			m.tags[t] = ch
			return t
		}
	}
}

// errNoTag is rpc2's error when no second tag is free: nothing was sent.
var errNoTag = errors.New("no second tag free")

// tryTag reserves a tag for ch if one is free at once.
func (m *Mux) tryTag(ch chan *plan9.Fcall) (uint16, bool) {
	select {
	case m.tagSem <- struct{}{}:
	default:
		return 0, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.takeTag(ch), true
}

// bit logs, at most once a minute, that a call waits for a tag.
func (m *Mux) bit() {
	if m.cfg.Logf == nil {
		return
	}
	m.mu.Lock()
	m.bitN++
	now := time.Now()
	if !m.bitAt.IsZero() && now.Sub(m.bitAt) < time.Minute {
		m.mu.Unlock()
		return
	}
	n := m.bitN
	m.bitAt, m.bitN = now, 0
	m.mu.Unlock()
	m.cfg.Logf("9P client %s: %d requests in flight (MaxTags): calls wait for a tag (%d times since the last such line)", m.nc.RemoteAddr(), m.cfg.MaxTags, n)
}

func (m *Mux) freeTag(t uint16) {
	m.mu.Lock()
	delete(m.tags, t)
	m.mu.Unlock()
	<-m.tagSem
}

func (m *Mux) newFid() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.freeFids); n > 0 {
		f := m.freeFids[n-1]
		m.freeFids = m.freeFids[:n-1]
		return f
	}
	f := m.nextFid
	m.nextFid++
	return f
}

func (m *Mux) freeFid(f uint32) {
	m.mu.Lock()
	m.freeFids = append(m.freeFids, f)
	m.mu.Unlock()
}

// send writes one request. A write that a deadline cuts before any byte
// went leaves the connection up; one cut halfway ends it.
func (m *Mux) send(ctx context.Context, tx *plan9.Fcall) error {
	b, err := m.marshal(nil, tx)
	if err != nil {
		return err
	}
	return m.sendBytes(ctx, b)
}

// marshal appends the message tx to b, within the message size.
func (m *Mux) marshal(b []byte, tx *plan9.Fcall) ([]byte, error) {
	msg, err := tx.Bytes()
	if err != nil {
		return nil, gig.Errorf(gig.ErrInvalid, "%w", err)
	}
	if uint32(len(msg)) > m.msize {
		return nil, gig.Errorf(gig.ErrLimit, "request of %d bytes over the message size %d", len(msg), m.msize)
	}
	if b == nil {
		return msg, nil
	}
	return append(b, msg...), nil
}

// sendBytes writes whole requests in one write, as send does. Requests
// sent while another write is under way are queued and leave together in
// the next write, made by the goroutine that finds the queue not empty
// after its own (in the background, so that its call returns): a queued
// request counts as sent; if its write fails, the connection ends and
// every call returns with that error.
func (m *Mux) sendBytes(ctx context.Context, b []byte) error {
	m.wmu.Lock()
	if m.writing {
		m.wout.queue = append(m.wout.queue, b...)
		m.wmu.Unlock()
		return nil
	}
	m.writing = true
	m.wmu.Unlock()
	dl, _ := ctx.Deadline()
	m.nc.SetWriteDeadline(dl)
	n, err := m.nc.Write(b)
	m.wmu.Lock()
	more := len(m.wout.queue) > 0
	m.writing = more
	m.wmu.Unlock()
	if more {
		go m.writeQueue()
	}
	if err != nil {
		var ne net.Error
		if n == 0 && errors.As(err, &ne) && ne.Timeout() && ctx.Err() != nil {
			return ctx.Err()
		}
		m.fail(err)
		return m.err
	}
	return nil
}

// writeQueue writes the queued requests until there are none, with no
// deadline of the callers' (a request whose caller gives up is flushed,
// and a server that answers no flush ends the connection).
func (m *Mux) writeQueue() {
	for {
		m.wmu.Lock()
		if len(m.wout.queue) == 0 {
			m.writing = false
			m.wmu.Unlock()
			return
		}
		q := m.wout.take()
		m.wmu.Unlock()
		m.nc.SetWriteDeadline(time.Time{})
		if _, err := m.nc.Write(q); err != nil {
			m.fail(err)
			m.wmu.Lock()
			m.wout, m.writing = batch{}, false
			m.wmu.Unlock()
			return
		}
		m.wmu.Lock()
		m.wout.giveBack(q)
		m.wmu.Unlock()
	}
}

// rpc sends tx and waits for its reply; an Rerror is returned as its error,
// of the kind it names. If ctx ends first, the request is flushed and after
// (if not nil) runs once the server has answered the flush.
func (m *Mux) rpc(ctx context.Context, tx *plan9.Fcall) (*plan9.Fcall, error) {
	return m.rpcAfter(ctx, tx, nil)
}

func (m *Mux) rpcAfter(ctx context.Context, tx *plan9.Fcall, after func()) (*plan9.Fcall, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch := make(chan *plan9.Fcall, 1)
	tag, err := m.newTag(ctx, ch)
	if err != nil {
		return nil, err
	}
	tx.Tag = tag
	if err := m.send(ctx, tx); err != nil {
		m.freeTag(tag)
		return nil, err
	}
	select {
	case rx := <-ch:
		m.freeTag(tag)
		return m.check(tx, rx)
	case <-m.done:
		return nil, m.err
	case <-ctx.Done():
		m.flush(tag, ch, after)
		return nil, ctx.Err()
	}
}

// check returns the reply rx to tx, or the error it carries (an Rerror);
// a reply of the wrong type ends the connection.
func (m *Mux) check(tx, rx *plan9.Fcall) (*plan9.Fcall, error) {
	if rx.Type == plan9.Rerror {
		return nil, ParseError(rx.Ename)
	}
	if rx.Type != tx.Type+1 {
		m.fail(fmt.Errorf("reply of type %d to a request of type %d", rx.Type, tx.Type))
		return nil, m.err
	}
	return rx, nil
}

// rpc2 sends a and b together, in one write, and waits for both replies,
// as rpc does for one: each error is its own reply's (an Rerror, a reply
// of the wrong type) or the connection's; if ctx ends first, the requests
// not answered yet are flushed and both errors are ctx's. If a's reply is
// an error and b's has not come yet, b is flushed and its error is a's:
// b is a request that follows from a (a read of a write's reply).
func (m *Mux) rpc2(ctx context.Context, a, b *plan9.Fcall) (ra, rb *plan9.Fcall, erra, errb error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err, err
	}
	cha, chb := make(chan *plan9.Fcall, 1), make(chan *plan9.Fcall, 1)
	taga, err := m.newTag(ctx, cha)
	if err != nil {
		return nil, nil, err, err
	}
	// The second tag is taken only if one is free at once: callers that
	// each held one and waited for another could wait for each other.
	tagb, ok := m.tryTag(chb)
	if !ok {
		m.freeTag(taga)
		return nil, nil, errNoTag, errNoTag
	}
	a.Tag, b.Tag = taga, tagb
	msg, err := m.marshal(nil, a)
	if err == nil {
		msg, err = m.marshal(msg, b)
	}
	if err == nil {
		err = m.sendBytes(ctx, msg)
	}
	if err != nil {
		m.freeTag(taga)
		m.freeTag(tagb)
		return nil, nil, err, err
	}
	gota, gotb := false, false
	for !gota || !gotb {
		select {
		case rx := <-cha:
			m.freeTag(taga)
			gota = true
			ra, erra = m.check(a, rx)
			if erra != nil && !gotb {
				m.flush(tagb, chb, nil)
				return nil, nil, erra, erra
			}
		case rx := <-chb:
			m.freeTag(tagb)
			gotb = true
			rb, errb = m.check(b, rx)
		case <-m.done:
			return nil, nil, m.err, m.err
		case <-ctx.Done():
			if !gota {
				m.flush(taga, cha, nil)
			}
			if !gotb {
				m.flush(tagb, chb, nil)
			}
			return nil, nil, ctx.Err(), ctx.Err()
		}
	}
	return ra, rb, erra, errb
}

// flush sends a Tflush for tag and, in the background, frees the tag once
// the server has answered it (a reply to the request itself may come
// first; it is dropped), then runs after.
func (m *Mux) flush(tag uint16, ch chan *plan9.Fcall, after func()) {
	fch := make(chan *plan9.Fcall, 1)
	bg, cancel := context.WithTimeout(context.Background(), flushWait)
	ftag, err := m.newTag(bg, fch)
	if err == nil {
		err = m.send(bg, &plan9.Fcall{Type: plan9.Tflush, Tag: ftag, Oldtag: tag})
	}
	if err != nil {
		cancel()
		m.fail(fmt.Errorf("flush: %w", err))
		return
	}
	go func() {
		defer cancel()
		select {
		case <-fch:
		case <-m.done:
			return
		case <-bg.Done():
			m.fail(fmt.Errorf("no answer to a flush within %v", flushWait))
			return
		}
		m.freeTag(ftag)
		m.freeTag(tag)
		if after != nil {
			after()
		}
	}()
}

// walk returns a new fid for path (absolute or relative to the root): a
// walk from the root to a new fid, then on from it in place, at most
// MAXWELEM names at a time.
func (m *Mux) walk(ctx context.Context, path string) (uint32, error) {
	var names []string
	for _, n := range strings.Split(path, "/") {
		if n != "" && n != "." {
			names = append(names, n)
		}
	}
	fid := m.newFid()
	from := m.root
	for {
		step := names[:min(len(names), plan9.MAXWELEM)]
		names = names[len(step):]
		rx, err := m.rpcAfter(ctx, &plan9.Fcall{Type: plan9.Twalk, Fid: from, Newfid: fid, Wname: step}, func() { m.clunkFid(fid) })
		if err == nil && len(rx.Wqid) != len(step) {
			err = gig.Errorf(gig.ErrNotExist, "file '%s' not found", path)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return 0, err // the flush clunks fid
		case err != nil && from == m.root:
			m.freeFid(fid) // a failed walk makes no new fid
			return 0, err
		case err != nil:
			m.clunkFid(fid) // it stays where the earlier steps left it
			return 0, err
		}
		if len(names) == 0 {
			return fid, nil
		}
		from = fid
	}
}

// clunkFid clunks fid in the background of any caller's context.
func (m *Mux) clunkFid(fid uint32) {
	ctx, cancel := context.WithTimeout(context.Background(), flushWait)
	defer cancel()
	m.rpc(ctx, &plan9.Fcall{Type: plan9.Tclunk, Fid: fid})
	m.freeFid(fid) // a clunk frees the fid even when it fails
}

// A MuxFile is a file a Mux keeps open. Its calls may run concurrently with
// the Mux's others; calls on one MuxFile run one at a time.
type MuxFile struct {
	m      *Mux
	path   string
	fid    uint32
	iounit int

	mu    sync.Mutex
	off   int64 // of Read and Write
	wrote int64 // the number of the last numbered write (writeNamed)
}

// OpenFile opens the file at path with mode (plan9.OREAD, OWRITE, ORDWR).
func (m *Mux) OpenFile(ctx context.Context, path string, mode uint8) (*MuxFile, error) {
	fid, err := m.walk(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	rx, err := m.rpcAfter(ctx, &plan9.Fcall{Type: plan9.Topen, Fid: fid, Mode: mode}, func() { m.clunkFid(fid) })
	if err != nil {
		if ctx.Err() == nil {
			m.clunkFid(fid)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	io := int(m.msize) - plan9.IOHDRSIZE
	if rx.Iounit > 0 && int(rx.Iounit) < io {
		io = int(rx.Iounit)
	}
	return &MuxFile{m: m, path: path, fid: fid, iounit: io}, nil
}

// Open opens the file at path for reading and writing.
func (m *Mux) Open(ctx context.Context, path string) (*MuxFile, error) {
	return m.OpenFile(ctx, path, plan9.ORDWR)
}

// readAt reads once at off, at most one message's worth.
func (f *MuxFile) readAt(ctx context.Context, p []byte, off int64) (int, error) {
	n := min(len(p), f.iounit)
	rx, err := f.m.rpc(ctx, &plan9.Fcall{Type: plan9.Tread, Fid: f.fid, Offset: uint64(off), Count: uint32(n)})
	if err != nil {
		return 0, err
	}
	if len(rx.Data) > n {
		f.m.fail(fmt.Errorf("read reply of %d bytes for %d asked", len(rx.Data), n))
		return 0, f.m.err
	}
	return copy(p, rx.Data), nil
}

// writeAt writes all of p at off, in writes of at most one message's worth.
func (f *MuxFile) writeAt(ctx context.Context, p []byte, off int64) error {
	for len(p) > 0 {
		n := min(len(p), f.iounit)
		rx, err := f.m.rpc(ctx, &plan9.Fcall{Type: plan9.Twrite, Fid: f.fid, Offset: uint64(off), Data: p[:n]})
		if err != nil {
			return err
		}
		if rx.Count == 0 || int(rx.Count) > n {
			return gig.Errorf(gig.ErrInternal, "write of %d bytes: server wrote %d", n, rx.Count)
		}
		p, off = p[rx.Count:], off+int64(rx.Count)
	}
	return nil
}

// readAll reads from offset 0 to the end of the file.
func (f *MuxFile) readAll(ctx context.Context, sizeHint int) ([]byte, error) {
	out := make([]byte, 0, max(sizeHint+1, 8192))
	for {
		if len(out) == cap(out) {
			out = slices.Grow(out, min(cap(out), 1<<20))
		}
		n, err := f.readAt(ctx, out[len(out):cap(out)], int64(len(out)))
		out = out[:len(out)+n]
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
	}
}

// Exchange writes data at offset 0 in writes of at most chunk bytes, then
// reads the reply from offset 0 to its end: the request/reply habit of ctl
// and push files.
func (f *MuxFile) Exchange(ctx context.Context, data []byte, chunk int) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(data) > 0 {
		n := min(len(data), chunk)
		if err := f.writeAt(ctx, data[:n], 0); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		data = data[n:]
	}
	reply, err := f.readAll(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	return reply, nil
}

// ExchangeLines is Exchange for a reply of a known number of lines (a push
// file's one result line per record): it stops reading once the reply
// holds that many, instead of reading once more to find its end, which
// saves a round trip per exchange. Its last write is numbered and goes out
// together with the first read of its reply, which names it (see
// NamedOffset): one round trip for a small exchange, not two; with a
// server that does not know named reads, the reply is read once the write
// is answered. A reply that ends before (a read of 0 bytes) is returned
// as it is, for the caller to judge.
func (f *MuxFile) ExchangeLines(ctx context.Context, data []byte, chunk, lines int) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(data) > min(chunk, f.iounit) {
		// One message per write, at offset 0: a push file takes a
		// Twrite's offset as its number (NamedOffset), and writeAt's
		// growing offsets would number a write above the next named one.
		n := min(len(data), chunk, f.iounit)
		if err := f.writeAt(ctx, data[:n], 0); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		data = data[n:]
	}
	out := make([]byte, 0, 512)
	seen := 0
	if len(data) > 0 {
		var named bool
		var err error
		out, named, err = f.writeNamed(ctx, data, out)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		seen = bytes.Count(out, []byte{'\n'})
		if named {
			for seen < lines && len(out) < MaxNamedOffset {
				if len(out) == cap(out) {
					out = slices.Grow(out, min(max(cap(out), 8192), MaxNamedOffset-len(out)))
				}
				n, err := f.readAt(ctx, out[len(out):cap(out)], NamedOffset(f.wrote, int64(len(out))))
				if err != nil {
					return nil, fmt.Errorf("%s: %w", f.path, err)
				}
				if n == 0 {
					return out, nil
				}
				seen += bytes.Count(out[len(out):len(out)+n], []byte{'\n'})
				out = out[:len(out)+n]
			}
			if seen >= lines {
				return out, nil
			}
		}
	}
	for seen < lines {
		if len(out) == cap(out) {
			out = slices.Grow(out, min(max(cap(out), 8192), 1<<20))
		}
		n, err := f.readAt(ctx, out[len(out):cap(out)], int64(len(out)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		if n == 0 {
			break
		}
		seen += bytes.Count(out[len(out):len(out)+n], []byte{'\n'})
		out = out[:len(out)+n]
	}
	return out, nil
}

// writeNamed writes data, one message's worth, as the fid's next numbered
// write, and sends with it a read that names it (NamedOffset), for up to
// cap(out)-len(out) bytes of its reply, appended to out. named is false
// when the server does not know named reads (their first read gives 0
// bytes): the Mux then writes plainly from then on, and out has none of
// the reply yet.
func (f *MuxFile) writeNamed(ctx context.Context, data, out []byte) (_ []byte, named bool, err error) {
	if f.m.plainWrites.Load() || f.wrote >= MaxNamedWrite {
		return out, false, f.writeAt(ctx, data, 0)
	}
	f.wrote++
	count := cap(out) - len(out)
	rw, rr, errw, errr := f.m.rpc2(ctx,
		&plan9.Fcall{Type: plan9.Twrite, Fid: f.fid, Offset: uint64(f.wrote), Data: data},
		&plan9.Fcall{Type: plan9.Tread, Fid: f.fid, Offset: uint64(NamedOffset(f.wrote, 0)), Count: uint32(count)})
	switch {
	case errors.Is(errw, errNoTag): // every tag but one in use: one at a time
		f.wrote--
		return out, false, f.writeAt(ctx, data, 0)
	case errw != nil:
		return out, false, errw
	case int(rw.Count) != len(data):
		return out, false, gig.Errorf(gig.ErrInternal, "write of %d bytes: server wrote %d", len(data), rw.Count)
	case errr != nil:
		return out, false, errr
	case len(rr.Data) > count:
		f.m.fail(fmt.Errorf("read reply of %d bytes for %d asked", len(rr.Data), count))
		return out, false, f.m.err
	case len(rr.Data) == 0:
		f.m.plainWrites.Store(true)
		return out, false, nil
	}
	return append(out, rr.Data...), true, nil
}

// Iounit is the most data one read or write of the file carries: the
// server's iounit, or the message size less the header.
func (f *MuxFile) Iounit() int { return f.iounit }

// Write writes p at the file's offset.
func (f *MuxFile) Write(ctx context.Context, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writeAt(ctx, p, f.off); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	f.off += int64(len(p))
	return nil
}

// WriteAside writes p at offset 0 without waiting for the file's other
// calls: a control line on a stream whose read is blocked (the server
// takes a write on a fid while a read waits on it).
func (f *MuxFile) WriteAside(ctx context.Context, p []byte) error {
	if err := f.writeAt(ctx, p, 0); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Read reads once at the file's offset: one event of a stream.
func (f *MuxFile) Read(ctx context.Context, p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.readAt(ctx, p, f.off)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", f.path, err)
	}
	f.off += int64(n)
	return n, nil
}

// Close clunks the file and returns the server's answer, of its kind: a
// store refuses the clunk of a file whose last write left a partial line,
// which it dropped (gig.ErrInvalid). The fid is freed either way.
func (f *MuxFile) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), flushWait)
	defer cancel()
	_, err := f.m.rpc(ctx, &plan9.Fcall{Type: plan9.Tclunk, Fid: f.fid})
	f.m.freeFid(f.fid)
	if err != nil {
		return fmt.Errorf("close %s: %w", f.path, err)
	}
	return nil
}

// Ctl opens the ctl file at path, writes the one-line command cmd, and
// returns the reply read on the same fid, without a trailing newline.
func (m *Mux) Ctl(ctx context.Context, path, cmd string) (string, error) {
	f, err := m.OpenFile(ctx, path, plan9.ORDWR)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", path, firstWord(cmd), err)
	}
	defer f.Close()
	if err := f.writeAt(ctx, []byte(cmd), 0); err != nil {
		return "", fmt.Errorf("%s: %s: %w", path, firstWord(cmd), err)
	}
	reply, err := f.readAll(ctx, 0)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", path, firstWord(cmd), err)
	}
	return strings.TrimSuffix(string(reply), "\n"), nil
}

// ReadFile reads the whole file at path. Past the first message, the
// reads of the length its stat tells go out together (readAhead of them
// in flight), so a large file costs about one round trip per readAhead
// messages; the reads after that length find its end.
func (m *Mux) ReadFile(ctx context.Context, path string) ([]byte, error) {
	f, err := m.OpenFile(ctx, path, plan9.OREAD)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	size := 0
	if d, err := f.stat(ctx); err == nil && d.Length < 256<<20 {
		size = int(d.Length)
	}
	data, err := f.readAhead(ctx, size)
	if err == nil {
		data, err = f.readRest(ctx, data)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// readAhead is how many reads of one ReadFile are in flight at once.
const readAhead = 8

// readAhead reads the file from offset 0 towards size: the first message
// alone (a server may take its snapshot of the file there), then the rest
// of size in messages, readAhead of them in flight at any moment (as one
// read is answered, the next goes out). It stops at the first short read:
// the file's end.
func (f *MuxFile) readAhead(ctx context.Context, size int) ([]byte, error) {
	out := make([]byte, size+1) // +1: room for the read that finds the end
	first, err := f.readAt(ctx, out[:min(len(out), f.iounit)], 0)
	if err != nil || first < min(len(out), f.iounit) {
		return out[:first], err
	}
	type chunk struct {
		n   int
		err error
	}
	chunks := make([]chunk, (size-first+f.iounit-1)/f.iounit)
	var next atomic.Int64 // the next chunk to read
	var stop atomic.Bool  // a read was short or failed: read no further
	var wg sync.WaitGroup
	for range min(readAhead, len(chunks)) {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(chunks) {
					return
				}
				off := first + i*f.iounit
				end := min(off+f.iounit, size)
				c := &chunks[i]
				c.n, c.err = f.readAt(ctx, out[off:end], int64(off))
				if c.err != nil || c.n < end-off {
					stop.Store(true)
				}
			}
		})
	}
	wg.Wait()
	// Every chunk before the first short or failed one was read whole:
	// chunks are taken in order, and every chunk taken is read.
	got := first
	for i, c := range chunks {
		if c.err != nil {
			return nil, c.err
		}
		got += c.n
		if c.n < min(f.iounit, size-(first+i*f.iounit)) {
			return out[:got], nil // the file ended early: the later reads found nothing
		}
	}
	return out[:got], nil
}

// readRest reads on from the end of data until a read returns nothing.
func (f *MuxFile) readRest(ctx context.Context, data []byte) ([]byte, error) {
	for {
		if len(data) == cap(data) {
			data = slices.Grow(data, max(8192, min(cap(data), 1<<20)))
		}
		n, err := f.readAt(ctx, data[len(data):cap(data)], int64(len(data)))
		data = data[:len(data)+n]
		if err != nil || n == 0 {
			return data, err
		}
	}
}

func (f *MuxFile) stat(ctx context.Context) (*plan9.Dir, error) {
	rx, err := f.m.rpc(ctx, &plan9.Fcall{Type: plan9.Tstat, Fid: f.fid})
	if err != nil {
		return nil, err
	}
	return plan9.UnmarshalDir(rx.Stat)
}

// ReadDir lists the directory at path.
func (m *Mux) ReadDir(ctx context.Context, path string) ([]DirEntry, error) {
	f, err := m.OpenFile(ctx, path, plan9.OREAD)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", path, err)
	}
	defer f.Close()
	var out []DirEntry
	buf := make([]byte, f.iounit)
	for off := int64(0); ; {
		n, err := f.readAt(ctx, buf, off)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", path, err)
		}
		if n == 0 {
			return out, nil
		}
		off += int64(n)
		for b := buf[:n]; len(b) > 0; {
			if len(b) < 2 {
				return nil, gig.Errorf(gig.ErrTransport, "list %s: a torn directory entry", path)
			}
			size := int(binary.LittleEndian.Uint16(b)) + 2
			if size > len(b) {
				return nil, gig.Errorf(gig.ErrTransport, "list %s: a torn directory entry", path)
			}
			d, err := plan9.UnmarshalDir(b[:size])
			if err != nil {
				return nil, gig.Errorf(gig.ErrTransport, "list %s: %w", path, err)
			}
			out = append(out, DirEntry{Name: d.Name, Dir: d.Mode&plan9.DMDIR != 0})
			b = b[size:]
		}
	}
}
