package srv9p_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gigfs.io/gigfs/srv9p"
)

// echoLines is a file that answers each write with one line per line
// written (as a push file does), read from offset 0; it counts the reads.
type echoLines struct {
	mu    sync.Mutex
	reply []byte
	reads *atomic.Int64
}

func (h *echoLines) Read(_ context.Context, p []byte, off int64) (int, error) {
	h.reads.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if off >= int64(len(h.reply)) {
		return 0, nil
	}
	return copy(p, h.reply[off:]), nil
}

func (h *echoLines) Write(_ context.Context, p []byte, _ int64) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reply = h.reply[:0]
	for range bytes.Count(p, []byte{'\n'}) {
		h.reply = append(h.reply, strings.Repeat("r", 99)+"\n"...)
	}
	return len(p), nil
}

func (h *echoLines) Close() error { return nil }

// TestMux_ExchangeLinesReadsNoMoreThanTheLines: a reply of a known number
// of lines takes the reads that carry it and no read more to find its end
// (which cost a round trip per push); a long reply still comes whole.
func TestMux_ExchangeLinesReadsNoMoreThanTheLines(t *testing.T) {
	var reads atomic.Int64
	root := srv9p.NewDir(srv9p.Info{Name: "/"}, srv9p.NewFile(srv9p.Info{Name: "push", Mode: 0o600}, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
		return &echoLines{reads: &reads}, nil
	}))
	ts := startServer(t, func(s *srv9p.Server) {
		s.Attach = func(context.Context, string, string, string) (srv9p.Node, error) { return root, nil }
	})
	m := dialMux(t, ts)
	ctx := context.Background()
	f, err := m.Open(ctx, "/push")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, n := range []int{1, 3, 2000} { // 2000 lines of 100 bytes: several reads
		reads.Store(0)
		reply, err := f.ExchangeLines(ctx, bytes.Repeat([]byte("x\n"), n), 32<<10, n)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Count(reply, []byte{'\n'}); got != n || len(reply) != 100*n {
			t.Fatalf("%d lines: reply of %d lines, %d bytes", n, got, len(reply))
		}
		if n < 5 && reads.Load() != 1 { // the reply fits one read
			t.Errorf("%d lines: %d reads, want 1", n, reads.Load())
		}
	}
}
