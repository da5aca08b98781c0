package srv9p

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"

	"gigfs.io/gigfs/gig"
)

// NewStatic returns a read-only handle over data, for small contents such
// as JSON computed at open. Reads honour the offset; writes are refused
// with gig.ErrPermission. data must not change afterwards.
func NewStatic(data []byte) Handle { return static(data) }

type static []byte

func (s static) Read(_ context.Context, p []byte, off int64) (int, error) {
	return readAt(s, p, off), nil
}

// readAt copies data from offset off into p.
func readAt(data, p []byte, off int64) int {
	if off < 0 || off >= int64(len(data)) {
		return 0
	}
	return copy(p, data[off:])
}

func (static) Write(context.Context, []byte, int64) (int, error) { return 0, gig.ErrPermission }
func (static) Close() error                                      { return nil }

// A CtlFunc runs one command written to a ctl file and returns the reply
// the client then reads. An error fails the client's write with the error's
// message (see ErrorString).
type CtlFunc func(ctx context.Context, cmd string) (reply string, err error)

// NewCtl returns the handle of a request/reply file, in the Plan 9 style:
// the client writes one command, then reads the reply on the same fid.
//
// Each write is one command: its bytes less one trailing newline (or
// "\r\n") are passed to fn. Reads return the reply to the most recent
// successful command, before any command, and after a failed one, the
// reply is empty. A client may read the reply from offset 0 (9P clients
// do), or from where its write ended: a FUSE client reading on the file
// descriptor it wrote with reads at the descriptor's offset, so the reply
// starts there (exec 3<>ctl; echo cursor >&3; cat <&3).
func NewCtl(fn CtlFunc) Handle { return &ctl{fn: fn} }

type ctl struct {
	fn    CtlFunc
	mu    sync.Mutex
	reply []byte
	// The reply is read from 0, or from base, where the command's write
	// ended: the first read after a command decides (rel), the next
	// reads follow it.
	base    int64
	decided bool
	rel     bool
}

func (c *ctl) Write(ctx context.Context, p []byte, off int64) (int, error) {
	cmd := strings.TrimSuffix(strings.TrimSuffix(string(p), "\n"), "\r")
	c.mu.Lock()
	c.reply, c.decided = nil, false
	c.mu.Unlock()
	reply, err := c.fn(ctx, cmd)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.reply, c.base, c.decided = []byte(reply), off+int64(len(p)), false
	c.mu.Unlock()
	return len(p), nil
}

func (c *ctl) Read(_ context.Context, p []byte, off int64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.decided {
		c.decided, c.rel = true, off != 0 && off == c.base
	}
	if c.rel {
		off -= c.base
	}
	return readAt(c.reply, p, off), nil
}

func (c *ctl) Close() error { return nil }

// A Source feeds a stream file (see NewStream).
//
// A Source may also implement
//
//	Write(ctx context.Context, p []byte) (int, error)
//
// to take the client's writes on the stream fid (the store's "since N"),
//
//	Ready(ctx context.Context, p []byte) (int, error)
//
// to copy into p, without blocking, the records that are ready now, whole,
// as many as fit, so that one read returns every record that is ready
// (see NewStream), and io.Closer, called when the fid goes away. Without
// Write, writes are refused with gig.ErrPermission.
type Source interface {
	// Next blocks until the next record is ready and returns it, or
	// returns ctx's error once ctx is done (a Tflush or a hang-up).
	// io.EOF ends the stream: the read returns end of file.
	// Next is never called concurrently for one handle.
	Next(ctx context.Context) ([]byte, error)
}

// NewStream returns the handle of a blocking read file. Each read returns
// the next record from src, or as much of it as fits, the rest coming with
// the following reads. When src has Ready, a read that got a whole record
// adds every other whole record that is ready and fits in its count, so a
// reader that falls behind catches up in few reads; without Ready, a read
// never joins two records. Records should end with a delimiter (the store's
// are lines). Offsets are ignored.
//
// A read waiting in Next counts against Server.MaxBlockedReads, however
// the handle is wrapped. A Tflush of
// the read cancels Next's context and the read ends at once; a record that
// Next returns as its context is cancelled is kept for the next read, not
// lost.
func NewStream(src Source) Handle {
	return &stream{src: src, turn: make(chan struct{}, 1)}
}

type stream struct {
	src     Source
	turn    chan struct{} // one reader at a time, cancellable
	pending []byte        // the rest of the current record; guarded by turn
}

func (s *stream) Read(ctx context.Context, p []byte, _ int64) (int, error) {
	select { // one reader at a time; a flushed read stops waiting its turn
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-s.turn }()
	for len(s.pending) == 0 {
		end, err := beginBlock(ctx)
		if err != nil {
			return 0, err
		}
		rec, err := s.src.Next(ctx)
		end()
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		s.pending = rec
		if ctx.Err() != nil {
			return 0, ctx.Err() // the client has given up on this read: keep rec
		}
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	if r, ok := s.src.(readySource); ok && len(s.pending) == 0 && n < len(p) && ctx.Err() == nil {
		// Whatever Ready copied is the read's: an error ends the stream at
		// the next Next, not here.
		m, _ := r.Ready(ctx, p[n:])
		n += m
	}
	return n, nil
}

// readySource is a Source with Ready (see Source).
type readySource interface {
	Ready(ctx context.Context, p []byte) (int, error)
}

type sourceWriter interface {
	Write(ctx context.Context, p []byte) (int, error)
}

func (s *stream) Write(ctx context.Context, p []byte, _ int64) (int, error) {
	if w, ok := s.src.(sourceWriter); ok {
		return w.Write(ctx, p)
	}
	return 0, gig.ErrPermission
}

func (s *stream) Close() error {
	if c, ok := s.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
