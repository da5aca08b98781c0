package netstore

import (
	"bytes"
	"context"
	"testing"

	"gigfs.io/gigfs/oplog"
)

// The pushes of one group commit publish their events as one: they go
// into the stream, and wake a reader waiting on it, once the last of them
// has published, not one push's events at a time, and the reader's read
// then carries them all; a group whose pushes accepted nothing wakes
// nobody.
func TestHub_GroupCommitWakesReadersOnce(t *testing.T) {
	j, _, err := oplog.OpenJournal(t.TempDir(), func(_, _ []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	group, err := j.Enqueue([]byte("k"), []byte("records"))
	if err != nil {
		t.Fatal(err)
	}
	woken := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	h := newHub("e", 100)
	c := &Cursor{h: h}
	_, wait, err := h.next(c.after)
	if wait == nil || err != nil {
		t.Fatalf("an empty stream: wait %v, err %v", wait, err)
	}
	h.expect(group)
	h.expect(group)
	h.publish(group, []published{{"counter", "/c/x", []oplog.Op{op(t, "a", 1, "1")}}})
	if woken(wait) {
		t.Fatal("a reader was woken before the last push of the group commit published")
	}
	if ev, _, _ := h.next(c.after); ev.line != nil {
		t.Fatalf("a reader can read %s before the last push of its group commit published", ev.line)
	}
	h.publish(group, []published{{"counter", "/c/x", []oplog.Op{op(t, "b", 1, "1"), op(t, "b", 2, "1")}}})
	if !woken(wait) {
		t.Fatal("the group commit is published and its reader is not woken")
	}
	line, err := c.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Ready(context.Background(), buf)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ParseEvents(append(line, buf[:n]...))
	if err != nil || len(evs) != 3 || evs[0].Seq != 1 || evs[2].Seq != 3 {
		t.Fatalf("one read after the wake: %d events %+v, %v; want seqs 1-3", len(evs), evs, err)
	}
	if !bytes.Contains(evs[2].Op, []byte(`"origin":"b"`)) {
		t.Fatalf("last event %s, want the second push's", evs[2].Op)
	}

	_, wait, _ = h.next(c.after)
	h.expect(group)
	h.publish(group, nil)
	if woken(wait) {
		t.Fatal("a group commit that published nothing woke a reader")
	}
	if len(h.groups) != 0 {
		t.Fatalf("%d group commits left in the hub, want none", len(h.groups))
	}
}
