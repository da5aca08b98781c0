package srv9p_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// lastWriteFile answers each write with one line per line written, as a
// push file does, and keeps the number of the write its reply holds: a
// read that names another write is refused with a conflict (as
// storefs's push file does). Write number 1 ends only once a read has
// come, so a read of it that does not wait for it finds another write's
// reply.
type lastWriteFile struct {
	mu      sync.Mutex
	reply   []byte
	replyOf int64
	writes  srv9p.NamedWrites
	read    chan struct{}
}

func (h *lastWriteFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	select {
	case h.read <- struct{}{}:
	default:
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if k, o, ok := srv9p.ParseNamedOffset(off); ok {
		if _, err := h.writes.Wait(ctx, &h.mu, k); err != nil {
			return 0, err
		}
		if h.replyOf != k {
			return 0, gig.Errorf(gig.ErrConflict, "read names write %d, the reply is write %d's", k, h.replyOf)
		}
		off = o
	}
	if off >= int64(len(h.reply)) {
		return 0, nil
	}
	return copy(p, h.reply[off:]), nil
}

func (h *lastWriteFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if off == 1 {
		select {
		case <-h.read:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reply = h.reply[:0]
	for range bytes.Count(p, []byte{'\n'}) {
		h.reply = append(h.reply, "ok\n"...)
	}
	h.replyOf = off
	h.writes.Done(off)
	return len(p), nil
}

func (h *lastWriteFile) Close() error { return nil }

// TestMux_ExchangeLinesNumbersAboveItsOwnOffsets: with a message size
// under the exchange's chunk (a store run with -msize 16384 and the
// client's 32 KiB push chunks), the writes before the last one must not
// go at growing byte offsets: the server takes a Twrite's offset as its
// number, so a write at offset 8168 is "write 8168", and the named read
// of the next numbered write (number 1) would not wait for it and would
// find another write's reply (a conflict from a store's push file).
func TestMux_ExchangeLinesNumbersAboveItsOwnOffsets(t *testing.T) {
	root := srv9p.NewDir(srv9p.Info{Name: "/"}, srv9p.NewFile(srv9p.Info{Name: "push", Mode: 0o600}, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
		return &lastWriteFile{read: make(chan struct{}, 1)}, nil
	}))
	ts := startServer(t, func(s *srv9p.Server) {
		s.Msize = 8192
		s.Attach = func(context.Context, string, string, string) (srv9p.Node, error) { return root, nil }
	})
	f := openPush(t, ts.addr, srv9p.MuxConfig{})
	// One record of 40,000 bytes: a 32 KiB chunk (four messages), then the
	// rest in one numbered write with its read.
	data := append(bytes.Repeat([]byte("x"), 40000), '\n')
	reply, err := f.ExchangeLines(context.Background(), data, 32<<10, 1)
	if err != nil {
		t.Fatalf("ExchangeLines: %v", err)
	}
	if string(reply) != "ok\n" {
		t.Fatalf("reply %q, want %q", reply, "ok\n")
	}
}
