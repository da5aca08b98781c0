package srv9p_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// echoLines is a file that answers each write with one line per line
// written (as a push file does), read from offset 0; it counts the reads.
// With named, it knows reads that name their write (srv9p.NamedOffset) as
// a push file does; with readFirst, a numbered write waits until a read
// has come before it ends (only a client that sends both together gets
// through).
type echoLines struct {
	mu        sync.Mutex
	reply     []byte
	reads     *atomic.Int64
	named     bool
	writes    srv9p.NamedWrites
	readFirst chan struct{}
}

func (h *echoLines) Read(ctx context.Context, p []byte, off int64) (int, error) {
	h.reads.Add(1)
	if h.readFirst != nil {
		select {
		case h.readFirst <- struct{}{}:
		default:
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if k, o, ok := srv9p.ParseNamedOffset(off); ok && h.named {
		if _, err := h.writes.Wait(ctx, &h.mu, k); err != nil {
			return 0, err
		}
		off = o
	}
	if off >= int64(len(h.reply)) {
		return 0, nil
	}
	return copy(p, h.reply[off:]), nil
}

func (h *echoLines) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if h.readFirst != nil {
		select {
		case <-h.readFirst:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reply = h.reply[:0]
	for range bytes.Count(p, []byte{'\n'}) {
		h.reply = append(h.reply, strings.Repeat("r", 99)+"\n"...)
	}
	if h.named {
		h.writes.Done(off)
	}
	return len(p), nil
}

func (h *echoLines) Close() error { return nil }

// pushServer serves one echoLines file, /push, made by mk.
func pushServer(t testing.TB, mk func() *echoLines) *srv9p.MuxFile {
	return pushServerConfig(t, mk, srv9p.MuxConfig{})
}

// pushServerConfig is pushServer with a Mux of cfg.
func pushServerConfig(t testing.TB, mk func() *echoLines, cfg srv9p.MuxConfig) *srv9p.MuxFile {
	root := srv9p.NewDir(srv9p.Info{Name: "/"}, srv9p.NewFile(srv9p.Info{Name: "push", Mode: 0o600}, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
		return mk(), nil
	}))
	ts := startServer(t, func(s *srv9p.Server) {
		s.Attach = func(context.Context, string, string, string) (srv9p.Node, error) { return root, nil }
	})
	return openPush(t, ts.addr, cfg)
}

// openPush dials a Mux of cfg to the server at addr (host:port) and opens
// its /push; both are closed when the test ends.
func openPush(t testing.TB, addr string, cfg srv9p.MuxConfig) *srv9p.MuxFile {
	t.Helper()
	m, err := srv9p.DialMuxConfig(context.Background(), "tcp!"+strings.Replace(addr, ":", "!", 1), srv9p.Trust{}, testUser, testKey, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f, err := m.Open(context.Background(), "/push")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// exchange runs ExchangeLines of n lines and checks the reply.
func exchange(t *testing.T, f *srv9p.MuxFile, n int) {
	t.Helper()
	reply, err := f.ExchangeLines(context.Background(), bytes.Repeat([]byte("x\n"), n), 32<<10, n)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(reply, []byte{'\n'}); got != n || len(reply) != 100*n {
		t.Fatalf("%d lines: reply of %d lines, %d bytes", n, got, len(reply))
	}
}

// TestMux_ExchangeLinesReadsNoMoreThanTheLines: a reply of a known number
// of lines takes the reads that carry it and no read more to find its end
// (which cost a round trip per push); a long reply still comes whole.
func TestMux_ExchangeLinesReadsNoMoreThanTheLines(t *testing.T) {
	var reads atomic.Int64
	f := pushServer(t, func() *echoLines { return &echoLines{reads: &reads, named: true} })
	for _, n := range []int{1, 3, 2000} { // 2000 lines of 100 bytes: several reads
		reads.Store(0)
		exchange(t, f, n)
		if n < 5 && reads.Load() != 1 { // the reply fits one read
			t.Errorf("%d lines: %d reads, want 1", n, reads.Load())
		}
	}
}

// TestMux_ExchangeLinesSendsTheReadWithTheWrite: the read of a write's
// reply goes out with the write, not after its Rwrite: the file's write
// ends only once a read has come (without it, the exchange never ends).
func TestMux_ExchangeLinesSendsTheReadWithTheWrite(t *testing.T) {
	var reads atomic.Int64
	f := pushServer(t, func() *echoLines {
		return &echoLines{reads: &reads, named: true, readFirst: make(chan struct{}, 1)}
	})
	for _, n := range []int{1, 3, 1, 2000} {
		exchange(t, f, n)
	}
}

// TestMux_ExchangeLinesWithAServerThatDoesNotNameReads: a server that does
// not know named reads answers the first with 0 bytes; the reply is read
// at plain offsets, whole, and from then on the Mux writes plainly (one
// read per small reply again).
func TestMux_ExchangeLinesWithAServerThatDoesNotNameReads(t *testing.T) {
	var reads atomic.Int64
	f := pushServer(t, func() *echoLines { return &echoLines{reads: &reads} })
	exchange(t, f, 1)
	for _, n := range []int{1, 3, 2000, 1} {
		reads.Store(0)
		exchange(t, f, n)
		if n < 5 && reads.Load() != 1 {
			t.Errorf("%d lines: %d reads, want 1", n, reads.Load())
		}
	}
}

// TestDir_WalkDoesNotStatFixedNames: a walk past a snapshot file (a
// store's status, made on demand) does not make its content: every walk of
// a store's tree from the root went by it.
func TestDir_WalkDoesNotStatFixedNames(t *testing.T) {
	var made atomic.Int64
	status := srv9p.NewSnapshotFile(srv9p.Info{Name: "status", Mode: 0o400}, func(context.Context) ([]byte, error) {
		made.Add(1)
		return []byte("up\n"), nil
	})
	leaf := srv9p.NewFile(srv9p.Info{Name: "leaf", Mode: 0o600}, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
		return srv9p.NewStatic(nil), nil
	})
	root := srv9p.NewDir(srv9p.Info{Name: "/"}, status, srv9p.NewDir(srv9p.Info{Name: "sub"}, leaf))
	ctx := context.Background()
	sub, err := root.Walk(ctx, "sub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.(srv9p.Dir).Walk(ctx, "leaf"); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Walk(ctx, "nothing"); !errors.Is(err, gig.ErrNotExist) {
		t.Fatalf("walk to a name not there: %v", err)
	}
	if n := made.Load(); n != 0 {
		t.Errorf("the status was made %d times by walks past it", n)
	}
	if n, err := root.Walk(ctx, "status"); err != nil || n != status {
		t.Fatalf("walk to status: %v, %v", n, err)
	}
}

// TestMux_ExchangeLinesWithOneTag: with a single tag, a write and its
// read cannot be in flight together: they go one after the other (waiting
// for a second tag while holding the first could wait for ever).
func TestMux_ExchangeLinesWithOneTag(t *testing.T) {
	var reads atomic.Int64
	f := pushServerConfig(t, func() *echoLines { return &echoLines{reads: &reads, named: true} }, srv9p.MuxConfig{MaxTags: 1})
	for _, n := range []int{1, 3, 2000} {
		exchange(t, f, n)
	}
}
