package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

// A Remote is the client side of a store: one 9P connection attached as a
// user with a store token, on which calls run concurrently (srv9p.Mux). It
// is safe for concurrent use: concurrent pushes go out together, each on a
// push fid of its own, so that the store acknowledges them with one
// durable write. A call whose context ends flushes its own request; only
// a broken connection ends the others, with an error of kind
// gig.ErrTransport.
type Remote struct {
	Addr string
	User string
	c    *srv9p.Mux

	cfg    Config
	pushes chan struct{} // one per push in flight, at most cfg.MaxPushes
	mu     sync.Mutex
	idle   []*srv9p.MuxFile // open push fids not in use
	bitAt  time.Time        // when MaxPushes was last logged; guarded by mu
	bitN   int              // times it bit since; guarded by mu
}

// DefaultMaxPushes is Config.MaxPushes when it is 0.
const DefaultMaxPushes = 64

// Config holds a Remote's bounds; the zero value is the defaults.
type Config struct {
	// MaxPushes bounds the pushes of one Remote in flight at once (and the
	// push fids it keeps open); more wait for one of them to end. 0 is
	// DefaultMaxPushes.
	MaxPushes int
	// MaxTags bounds the requests in flight on the connection
	// (srv9p.MuxConfig); 0 is srv9p.DefaultMaxTags.
	MaxTags int
	// Logf, if set, is told when a bound bites (at most once a minute).
	Logf func(format string, args ...any)
}

// Dial connects to the store at addr as user, with a store token.
func Dial(ctx context.Context, addr, user, token string) (*Remote, error) {
	return DialTrust(ctx, addr, srv9p.Trust{}, user, token)
}

// DialTrust is Dial, verifying a TLS store (tls!host!port) as trust says:
// with the fingerprint the table pinned for it, from the mount table.
func DialTrust(ctx context.Context, addr string, trust srv9p.Trust, user, token string) (*Remote, error) {
	return DialConfig(ctx, addr, trust, user, token, Config{})
}

// DialConfig is DialTrust with bounds of the caller's.
func DialConfig(ctx context.Context, addr string, trust srv9p.Trust, user, token string, cfg Config) (*Remote, error) {
	if cfg.MaxPushes == 0 {
		cfg.MaxPushes = DefaultMaxPushes
	}
	if cfg.MaxPushes < 1 {
		return nil, gig.Errorf(gig.ErrInvalid, "store %s: %d pushes in flight: want at least 1", addr, cfg.MaxPushes)
	}
	c, err := srv9p.DialMuxConfig(ctx, addr, trust, user, "token "+token, srv9p.MuxConfig{MaxTags: cfg.MaxTags, Logf: cfg.Logf})
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", addr, err)
	}
	return &Remote{Addr: addr, User: user, c: c, cfg: cfg, pushes: make(chan struct{}, cfg.MaxPushes)}, nil
}

// bit logs, at most once a minute, that a push waits for MaxPushes.
func (r *Remote) bit() {
	if r.cfg.Logf == nil {
		return
	}
	r.mu.Lock()
	r.bitN++
	now := time.Now()
	if !r.bitAt.IsZero() && now.Sub(r.bitAt) < time.Minute {
		r.mu.Unlock()
		return
	}
	n := r.bitN
	r.bitAt, r.bitN = now, 0
	r.mu.Unlock()
	r.cfg.Logf("store %s: %d pushes in flight (MaxPushes): pushes wait their turn (%d times since the last such line)", r.Addr, r.cfg.MaxPushes, n)
}

func (r *Remote) home() string { return "/user/" + r.User }

// oplogPath is the file of the oplog (typ, path) in the store's tree.
func (r *Remote) oplogPath(typ, path string) (string, error) {
	_, p, err := gig.ParseTypePath(typ, path)
	if err != nil {
		return "", err
	}
	return r.home() + "/oplog/" + typ + string(p), nil
}

// Read reads the oplog (typ, path) and checks every record. An oplog the
// store does not have reads as an empty log.
func (r *Remote) Read(ctx context.Context, typ, path string) (*oplog.Log, error) {
	p, err := r.oplogPath(typ, path)
	if err != nil {
		return nil, err
	}
	data, err := r.c.ReadFile(ctx, p)
	if err != nil {
		if isNotExist(err) {
			return oplog.NewLog(), nil
		}
		return nil, err
	}
	return ParseLog(data)
}

// ParseLog parses and checks an oplog read as JSON lines: each record is
// decoded and its sha verified once (see oplog.ParseLog).
func ParseLog(data []byte) (*oplog.Log, error) {
	return oplog.ParseLog(data)
}

// Push sends records to the store and returns one result per record, once
// the store holds them durably. The records go in writes of whole lines on
// a push fid of this call's own, each write's results read back before the
// next; concurrent Pushes run at once, up to Config.MaxPushes.
func (r *Remote) Push(ctx context.Context, recs []netstore.Record) ([]oplog.Result, error) {
	select {
	case r.pushes <- struct{}{}:
	default:
		r.bit()
		select {
		case r.pushes <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("push: %w", ctx.Err())
		}
	}
	defer func() { <-r.pushes }()
	f, err := r.pushFile(ctx)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	// A write's results are all a read of the push file gives: a chunk
	// goes in one write, so within the fid's iounit (a store with a
	// small -msize), but for a record longer than it, which goes alone.
	chunk := min(pushChunkSize, f.Iounit())
	res := make([]oplog.Result, 0, len(recs))
	var buf []byte
	n := 0 // records in buf
	flush := func() error {
		if n == 0 {
			return nil
		}
		reply, err := f.ExchangeLines(ctx, buf, chunk, n)
		if err != nil {
			return err
		}
		got, err := parseResults(reply, n)
		res = append(res, got...)
		buf, n = buf[:0], 0
		return err
	}
	for i := range recs {
		line := netstore.AppendRecord(nil, &recs[i])
		if len(buf)+len(line)+1 > chunk {
			if err = flush(); err != nil {
				break
			}
		}
		buf = append(append(buf, line...), '\n')
		n++
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		// Results of this call may be cut short: clunk the fid rather
		// than reuse one in an unknown state.
		go f.Close()
		return res, fmt.Errorf("push: %w", err)
	}
	r.mu.Lock()
	r.idle = append(r.idle, f)
	r.mu.Unlock()
	return res, nil
}

// pushFile returns an open push fid: an idle one, or a new one.
func (r *Remote) pushFile(ctx context.Context) (*srv9p.MuxFile, error) {
	r.mu.Lock()
	if n := len(r.idle); n > 0 {
		f := r.idle[n-1]
		r.idle = r.idle[:n-1]
		r.mu.Unlock()
		return f, nil
	}
	r.mu.Unlock()
	return r.c.Open(ctx, r.home()+"/push")
}

// pushChunkSize is the size of one write to the push file; a record longer
// than it goes alone, in several writes.
const pushChunkSize = 32 << 10

// parseResults parses the result lines of n records.
func parseResults(reply []byte, n int) ([]oplog.Result, error) {
	res := make([]oplog.Result, 0, n)
	for len(reply) > 0 {
		line := reply
		if i := bytes.IndexByte(reply, '\n'); i >= 0 {
			line, reply = reply[:i], reply[i+1:]
		} else {
			reply = nil
		}
		r, err := oplog.ParseResult(string(bytes.TrimSuffix(line, []byte{'\r'})))
		if err != nil {
			return nil, err
		}
		res = append(res, r)
	}
	if len(res) != n {
		return nil, gig.Errorf(gig.ErrInternal, "%d results for %d records", len(res), n)
	}
	return res, nil
}

// Cursor returns the store's stream position: its epoch and the seq of its
// last event. Read the oplogs after asking, then resume the stream from it.
func (r *Remote) Cursor(ctx context.Context) (epoch string, seq uint64, err error) {
	reply, err := r.c.Ctl(ctx, r.home()+"/ctl", "cursor")
	if err != nil {
		return "", 0, err
	}
	f := strings.Fields(reply)
	if len(f) != 2 {
		return "", 0, fmt.Errorf("cursor: bad reply %q", reply)
	}
	seq, err = strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("cursor: bad reply %q", reply)
	}
	return f[0], seq, nil
}

// Close hangs up.
func (r *Remote) Close() error { return r.c.Close() }

// A StreamReader reads a store's stream on a connection of its own: a
// blocked read ends only when an event comes or the connection closes. A
// read returns every event that is ready (as many whole lines as fit);
// Next hands them out one at a time.
type StreamReader struct {
	c    *srv9p.Mux
	f    *srv9p.MuxFile
	buf  []byte
	rest []byte         // whole events read and not yet returned (a copy of a read, or part)
	part []byte         // the start of an event larger than a read
	prev netstore.Event // the strings of the last event returned

	filtered bool
}

// OpenStream connects to the store's stream. With a non-empty epoch it
// resumes after seq; a cursor the store cannot serve is an error of kind
// gig.ErrNotExist (netstore.ErrStreamEpoch, ErrStreamTooOld), and the
// caller re-reads.
func OpenStream(ctx context.Context, addr, user, token, epoch string, seq uint64) (*StreamReader, error) {
	return OpenStreamTrust(ctx, addr, srv9p.Trust{}, user, token, epoch, seq)
}

// OpenStreamTrust is OpenStream, verifying a TLS store as trust says.
func OpenStreamTrust(ctx context.Context, addr string, trust srv9p.Trust, user, token, epoch string, seq uint64) (*StreamReader, error) {
	return OpenStreamFiltered(ctx, addr, trust, user, token, epoch, seq, nil)
}

// OpenStreamFiltered is OpenStreamTrust for a reader that says what it
// wants: with filter (the "want <path>" and "skip <origin>" lines of
// PROTOCOL.md, without newlines) the store is asked for those events
// only, before the stream resumes; Want adds to them later. A store that
// does not know filters (an older one) sends every event: Filtered says
// which it is.
func OpenStreamFiltered(ctx context.Context, addr string, trust srv9p.Trust, user, token, epoch string, seq uint64, filter []string) (*StreamReader, error) {
	c, err := srv9p.DialMux(ctx, addr, trust, user, "token "+token)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", addr, err)
	}
	f, err := c.Open(ctx, "/user/"+user+"/stream")
	filtered := false
	if err == nil && filter != nil {
		s := &StreamReader{f: f}
		err = s.write(ctx, append([]string{"only"}, filter...))
		filtered = err == nil
		if err != nil && !errors.Is(err, gig.ErrTransport) {
			err = nil // an older store: every event
		}
	}
	if err == nil && epoch != "" {
		err = f.Write(ctx, []byte(fmt.Sprintf("since %s %d\n", epoch, seq)))
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("stream: %w", err)
	}
	return &StreamReader{c: c, f: f, buf: make([]byte, streamRead), filtered: filtered}, nil
}

// Filtered reports whether the store took the reader's filter: it sends
// only the events wanted, and marks of the position (netstore.Event.Mark).
func (s *StreamReader) Filtered() bool { return s.filtered }

// Want asks the store for more events ("want <path>", "skip <origin>"
// lines), while a Next may wait: once it returns, every event the store
// publishes from then on that the lines want is sent.
func (s *StreamReader) Want(ctx context.Context, lines ...string) error {
	return s.write(ctx, lines)
}

// write sends control lines, as many whole lines per write as a message
// holds.
func (s *StreamReader) write(ctx context.Context, lines []string) error {
	var b []byte
	flush := func() error {
		if len(b) == 0 {
			return nil
		}
		err := s.f.WriteAside(ctx, b)
		b = b[:0]
		return err
	}
	for _, l := range lines {
		if len(b) > 0 && len(b)+len(l)+1 > s.f.Iounit() {
			if err := flush(); err != nil {
				return err
			}
		}
		b = append(append(b, l...), '\n')
	}
	return flush()
}

// streamRead is the size of one read of the stream, at first and while
// reads come back less than half full: an event is most often a few
// hundred bytes, and the server allocates and clears a read's full count
// before it is served, so a large one costs every read (16 KiB cost 9–16%
// more CPU per push than 4 KiB with 16 clients of one user, each getting
// every event; gig-bench). A read that comes back more than half full
// doubles the next, up to maxStreamRead (a backlog, a replay); one that
// comes back less than an eighth full halves it. A larger event comes in
// several reads.
const (
	streamRead    = 4 << 10
	maxStreamRead = 64 << 10
)

// maxEvent bounds a stream event: the largest record and its type and path.
const maxEvent = oplog.MaxLineSize + 2*gig.MaxPathLen + 256

// Next blocks until the next event. Close the reader (from another
// goroutine, or by cancelling ctx) to end a blocked Next.
func (s *StreamReader) Next(ctx context.Context) (netstore.Event, error) {
	for {
		if len(s.rest) > 0 {
			line := s.rest
			if i := bytes.IndexByte(s.rest, '\n'); i >= 0 {
				line, s.rest = s.rest[:i+1], s.rest[i+1:]
			} else {
				s.rest = nil
			}
			return s.parse(line)
		}
		// An event ends with a newline; one larger than a read (a
		// checkpoint of many origins) comes in several, and a read ends
		// with a whole event.
		n, err := s.f.Read(ctx, s.buf)
		if err != nil {
			return netstore.Event{}, fmt.Errorf("stream: %w", err)
		}
		buf := s.buf[:n]
		switch { // the next read's size; what was read stays in buf
		case n > len(s.buf)/2 && len(s.buf) < maxStreamRead:
			s.buf = resize(s.buf, 2*len(s.buf))
		case n < len(s.buf)/8 && len(s.buf) > streamRead:
			s.buf = resize(s.buf, len(s.buf)/2)
		}
		if n == 0 {
			if len(s.part) == 0 {
				return netstore.Event{}, io.EOF
			}
			ev := s.part
			s.part = nil
			return s.parse(ev)
		}
		if len(s.part) == 0 && buf[n-1] == '\n' {
			// The common case: whole events, copied once for them all
			// (they alias the copy, which is theirs).
			s.rest = bytes.Clone(buf)
			continue
		}
		if bytes.IndexByte(buf, '\n') < 0 && len(s.part)+n > maxEvent {
			return netstore.Event{}, fmt.Errorf("stream: event longer than %d bytes", maxEvent)
		}
		s.part = append(s.part, buf...)
		if s.part[len(s.part)-1] == '\n' {
			s.rest, s.part = s.part, nil
		}
	}
}

// parse parses an event of the reader's own memory: its op aliases line,
// its strings are those of the event before where they are the same
// (netstore.ParseEventAfter).
func (s *StreamReader) parse(line []byte) (netstore.Event, error) {
	ev, err := netstore.ParseEventAfter(line, &s.prev)
	if err == nil {
		s.prev = netstore.Event{Epoch: ev.Epoch, Type: ev.Type, Path: ev.Path}
	}
	return ev, err
}

// resize returns a read buffer of n bytes: buf's own memory when it has
// the room, else a new one, so that a reader whose reads swing between
// two sizes allocates once, not at every swing (it keeps at most
// maxStreamRead). What buf holds is left as it is, for Next to hand out
// before the next read.
func resize(buf []byte, n int) []byte {
	if n <= cap(buf) {
		return buf[:n]
	}
	return make([]byte, n)
}

// NextEvent is Next (netstore.EventStream).
func (s *StreamReader) NextEvent(ctx context.Context) (netstore.Event, error) { return s.Next(ctx) }

var _ netstore.EventStream = (*StreamReader)(nil)

// Close hangs up.
func (s *StreamReader) Close() error { return s.c.Close() }

// isNotExist reports whether err says a file is missing, as the server
// says it or as the 9P client reports a failed walk.
func isNotExist(err error) bool {
	return errors.Is(err, gig.ErrNotExist)
}

// List lists the oplogs below a folder of the user's tree: segs are the
// type and the first elements of the path ("counter", "chan"). It returns
// the paths of the oplogs below it, relative to it, each starting with "/".
// A folder the store does not have lists as empty. It reads the store's
// names/ tree, so the store opens none of the oplogs it lists.
func (r *Remote) List(ctx context.Context, segs []string) ([]string, error) {
	var out []string
	var walk func(dir, rel string) error
	walk = func(dir, rel string) error {
		ents, err := r.c.ReadDir(ctx, dir)
		if err != nil {
			if isNotExist(err) {
				return nil
			}
			return err
		}
		for _, e := range ents {
			if e.Dir {
				if err := walk(dir+"/"+e.Name, rel+"/"+e.Name); err != nil {
					return err
				}
				continue
			}
			out = append(out, rel+"/"+e.Name)
		}
		return nil
	}
	if err := walk(r.home()+"/names/"+strings.Join(segs, "/"), ""); err != nil {
		return nil, err
	}
	return out, nil
}

// Types lists the types the user's oplogs have on the store.
func (r *Remote) Types(ctx context.Context) ([]string, error) {
	ents, err := r.c.ReadDir(ctx, r.home()+"/oplog")
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = e.Name
	}
	return out, nil
}

// Calls reads the user's call log on the store (netstore.Call lines).
func (r *Remote) Calls(ctx context.Context) ([]byte, error) {
	return r.c.ReadFile(ctx, r.home()+"/calls")
}

// Ping makes a round trip to the store: an open of the user's folder
// (a walk and an open; the clunk is not waited for).
func (r *Remote) Ping(ctx context.Context) error {
	f, err := r.c.OpenFile(ctx, r.home(), 0) // 0: OREAD
	if err != nil {
		return err
	}
	return f.Close()
}
