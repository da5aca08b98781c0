package storefs

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"9fans.net/go/plan9"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
)

// One read of the stream returns every event that is ready, as whole
// lines, as many as the read's count holds; the rest come with the next
// reads. The client's reader hands them out one by one, in order, and a
// cursor taken from any of them resumes after it.
func TestTree_StreamReadReturnsEveryReadyEvent(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("ivy")
	writer := ts.mustMount("ivy", "token "+token)
	var recs []netstore.Record
	for i := 1; i <= 5; i++ {
		recs = append(recs, netstore.Record{Type: "counter", Path: "/b", Op: op(t, "w", uint64(i), `1`)})
	}
	if reply, err := ctl(writer, "/user/ivy/push", pushLines(recs...)); err != nil || strings.Count(reply, "accepted") != 5 {
		t.Fatalf("push: %q %v", reply, err)
	}
	epoch := ts.svc.Epoch()

	// since 0 with a large read: the five events at once.
	reader := ts.mustMount("ivy", "token "+token)
	read := func(size int) func() ([]netstore.Event, string) {
		f, err := reader.Open("/user/ivy/stream", plan9.ORDWR)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if _, err := f.Write([]byte(fmt.Sprintf("since %s 0\n", epoch))); err != nil {
			t.Fatal(err)
		}
		return func() ([]netstore.Event, string) {
			b := make([]byte, size)
			n, err := f.Read(b)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := netstore.ParseEvents(b[:n])
			if err != nil {
				t.Fatalf("read of %d bytes: %q: %v", size, b[:n], err)
			}
			return evs, string(b[:n])
		}
	}
	evs, text := read(64 << 10)()
	if len(evs) != 5 {
		t.Fatalf("one read returned %d events, want the 5 ready: %q", len(evs), text)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.Epoch != epoch || ev.Path != "/b" {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	// A read that holds two events and a half: two, two, then one.
	lines := strings.SplitAfter(text, "\n")
	size := len(lines[0]) + len(lines[1]) + len(lines[2])/2
	next := read(size)
	var seqs []uint64
	for _, want := range []int{2, 2, 1} {
		evs, text := next()
		if len(evs) != want {
			t.Fatalf("read of %d bytes returned %d events, want %d: %q", size, len(evs), want, text)
		}
		for _, ev := range evs {
			seqs = append(seqs, ev.Seq)
		}
	}
	if fmt.Sprint(seqs) != "[1 2 3 4 5]" {
		t.Fatalf("seqs %v, want [1 2 3 4 5]", seqs)
	}

	// The client's reader: one event per Next, in order; resume after 3.
	ctx := context.Background()
	sr, err := remote.OpenStream(ctx, ts.addr, "ivy", token, epoch, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	for want := uint64(1); want <= 5; want++ {
		ev, err := sr.Next(ctx)
		if err != nil || ev.Seq != want {
			t.Fatalf("Next: %+v %v, want seq %d", ev, err, want)
		}
	}
	if _, err := ctl(writer, "/user/ivy/push", pushLines(netstore.Record{Type: "counter", Path: "/b", Op: op(t, "w", 6, `1`)})); err != nil {
		t.Fatal(err)
	}
	if ev, err := sr.Next(ctx); err != nil || ev.Seq != 6 {
		t.Fatalf("Next after a push: %+v %v, want seq 6", ev, err)
	}
	sr2, err := remote.OpenStream(ctx, ts.addr, "ivy", token, epoch, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer sr2.Close()
	for want := uint64(4); want <= 6; want++ {
		if ev, err := sr2.Next(ctx); err != nil || ev.Seq != want {
			t.Fatalf("resumed after 3: %+v %v, want seq %d", ev, err, want)
		}
	}
}
