package storefs

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
	"gigfs.io/gigfs/srv9p"
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent trace.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRemote_StreamReadsGrowWithABacklog: a stream reader asks for small
// reads (the server allocates a read's whole count), and for larger ones
// while they come back more than half full: a replay of 2,000 events is
// not read 4 KiB at a time. Every event comes, in order.
func TestRemote_StreamReadsGrowWithABacklog(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("jo")
	// A second server on the same store, tracing its 9P messages.
	var trace syncBuffer
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &srv9p.Server{Attach: (&Tree{S: ts.svc}).Attach, Logf: t.Logf, Trace: &trace}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	defer func() { cancel(); <-done }()

	var recs []netstore.Record
	for i := 1; i <= 2000; i++ {
		recs = append(recs, netstore.Record{Type: "counter", Path: "/n", Op: op(t, "r", uint64(i), `1`)})
	}
	if _, err := ts.svc.Push(ctx, "jo", recs); err != nil {
		t.Fatal(err)
	}
	sr, err := remote.OpenStream(ctx, l.Addr().String(), "jo", token, ts.svc.Epoch(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	for want := uint64(1); want <= 2000; want++ {
		ev, err := sr.Next(ctx)
		if err != nil || ev.Seq != want {
			t.Fatalf("event %d: %+v, %v", want, ev, err)
		}
	}
	// Reads shrink with single events and grow again with a backlog, in
	// the memory they had: every event still comes whole, in order.
	seq := uint64(2000)
	for i := 0; i < 8; i++ {
		seq++
		if _, err := ts.svc.Push(ctx, "jo", []netstore.Record{{Type: "counter", Path: "/n", Op: op(t, "r", seq, `1`)}}); err != nil {
			t.Fatal(err)
		}
		if ev, err := sr.Next(ctx); err != nil || ev.Seq != seq {
			t.Fatalf("event %d: %+v, %v", seq, ev, err)
		}
	}
	recs = recs[:0]
	for i := seq + 1; i <= seq+2000; i++ {
		recs = append(recs, netstore.Record{Type: "counter", Path: "/n", Op: op(t, "r", i, `1`)})
	}
	if _, err := ts.svc.Push(ctx, "jo", recs); err != nil {
		t.Fatal(err)
	}
	for want := seq + 1; want <= seq+2000; want++ {
		ev, err := sr.Next(ctx)
		if err != nil || ev.Seq != want || !bytes.Contains(ev.Op, []byte(`"seq":`+strconv.FormatUint(want, 10)+",")) {
			t.Fatalf("event %d: %+v, %v", want, ev, err)
		}
	}
	counts := map[int]int{}
	for _, m := range regexp.MustCompile(`Tread tag \d+ fid \d+ offset \d+ count (\d+)`).FindAllStringSubmatch(trace.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		counts[n]++
	}
	if counts[4096] == 0 {
		t.Errorf("no read of 4 KiB: %v", counts)
	}
	big := 0
	for n, k := range counts {
		if n > 4096 {
			big += k
		}
	}
	if big == 0 {
		t.Errorf("the replay was read 4 KiB at a time: reads by count %v", counts)
	}
}
