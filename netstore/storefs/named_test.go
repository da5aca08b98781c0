package storefs

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/srv9p"
)

// TestPushFile_NamedReadWaitsForItsWrite: a read that names its write
// (srv9p.NamedOffset), served before that write (9P lets a server run a
// fid's requests in any order), waits for it and reads its results, not
// the last write's; one whose write was followed by another is refused.
func TestPushFile_NamedReadWaitsForItsWrite(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	ts.user("bob")
	h := &pushHandle{t: &Tree{S: ts.svc}, s: ts.svc, user: "bob", auth: func(context.Context) error { return nil }}
	ctx := context.Background()
	line := func(seq uint64) []byte {
		return []byte(pushLines(netstore.Record{Type: "counter", Path: "/c/p", Op: op(t, "o", seq, `{"add":1}`)}))
	}
	// Write 1, plain: its results are what a read that comes too early
	// would find.
	first := line(1)
	if _, err := h.Write(ctx, first, 1); err != nil {
		t.Fatal(err)
	}
	type result struct {
		text string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, 512)
		n, err := h.Read(ctx, buf, srv9p.NamedOffset(2, 0))
		done <- result{string(buf[:n]), err}
	}()
	// Wait until the read waits (or is done: then it did not wait).
	for waiting := false; !waiting; runtime.Gosched() {
		h.mu.Lock()
		waiting = h.named.Waiting()
		h.mu.Unlock()
		select {
		case r := <-done:
			t.Fatalf("the read of write 2 was served before write 2: %q, %v", r.text, r.err)
		default:
		}
	}
	if _, err := h.Write(ctx, first, 2); err != nil { // a duplicate: its own result
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || !strings.HasPrefix(r.text, "duplicate") {
		t.Fatalf("read of write 2: %q, %v; want its own result, duplicate", r.text, r.err)
	}
	third := line(3)
	if _, err := h.Write(ctx, third, 3); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	if n, err := h.Read(ctx, buf, srv9p.NamedOffset(2, 0)); !errors.Is(err, gig.ErrConflict) {
		t.Fatalf("read of write 2 after write 3: %q, %v; want a conflict", buf[:n], err)
	}
	if n, err := h.Read(ctx, buf, srv9p.NamedOffset(3, 0)); err != nil || !strings.HasPrefix(string(buf[:n]), "accepted") {
		t.Fatalf("read of write 3: %q, %v", buf[:n], err)
	}
	// Write 2 again, late (a write its client gave up on, served after
	// write 3): write 3's results are gone, and a read of them says so
	// instead of giving write 2's.
	if _, err := h.Write(ctx, first, 2); err != nil {
		t.Fatal(err)
	}
	if n, err := h.Read(ctx, buf, srv9p.NamedOffset(3, 0)); !errors.Is(err, gig.ErrConflict) {
		t.Fatalf("read of write 3 after a late write 2: %q, %v; want a conflict", buf[:n], err)
	}
	if _, err := h.Write(ctx, line(4), 4); err != nil {
		t.Fatal(err)
	}
	// A plain read still reads the last write's results.
	if n, err := h.Read(ctx, buf, 0); err != nil || !strings.HasPrefix(string(buf[:n]), "accepted") {
		t.Fatalf("plain read: %q, %v", buf[:n], err)
	}
	// A read that names a write never made ends with its context.
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		for waiting := false; !waiting; runtime.Gosched() {
			h.mu.Lock()
			waiting = h.named.Waiting()
			h.mu.Unlock()
		}
		cancel()
	}()
	if _, err := h.Read(cctx, buf, srv9p.NamedOffset(9, 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("read of a write never made: %v, want canceled", err)
	}
}
