package srv9p

import (
	"context"
	"strings"
	"sync"
)

// A WaitFunc answers the command last written to a wait file (see
// NewWait), blocking until it has something to say or ctx ends.
type WaitFunc func(ctx context.Context, cmd string) (reply []byte, err error)

// NewWait returns the handle of a blocking request/reply file: the client
// writes a command (or none), then reads; the first read calls fn, which
// may block until there is news (a Tflush or a hang-up cancels it), and
// its reply is what this and the following reads return, from offset 0
// to its end. A new write starts over. A read blocked in fn counts
// against Server.MaxBlockedReads. A table's client waits for a change of
// its mount table this way: write "since <version>", read.
func NewWait(fn WaitFunc) Handle { return &wait{fn: fn, turn: make(chan struct{}, 1)} }

type wait struct {
	fn   WaitFunc
	turn chan struct{} // one reader in fn at a time, cancellable

	mu    sync.Mutex
	cmd   string
	reply []byte
	done  bool
}

func (w *wait) Write(_ context.Context, p []byte, _ int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cmd = strings.TrimSuffix(strings.TrimSuffix(string(p), "\n"), "\r")
	w.reply, w.done = nil, false
	return len(p), nil
}

func (w *wait) Read(ctx context.Context, p []byte, off int64) (int, error) {
	select {
	case w.turn <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-w.turn }()
	w.mu.Lock()
	done, cmd := w.done, w.cmd
	w.mu.Unlock()
	if !done {
		end, err := beginBlock(ctx)
		if err != nil {
			return 0, err
		}
		reply, err := w.fn(ctx, cmd)
		end()
		if err != nil {
			return 0, err
		}
		w.mu.Lock()
		if w.cmd == cmd {
			w.reply, w.done = reply, true
		}
		w.mu.Unlock()
		return readAt(reply, p, off), nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return readAt(w.reply, p, off), nil
}

func (w *wait) Close() error { return nil }
