package storefs

import (
	"context"
	"testing"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
)

// The stream of a store, read in process (netstore.Cursor, as an on-disk
// local store is) and over 9P (remote.OpenStream): cut after every event
// and resumed from the cursor of the last event read, it yields every
// event once, in order, whatever the position of the cut.
func TestStream_ResumeAtEveryPosition(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("ann")
	const n = 6
	var recs []netstore.Record
	for i := 1; i <= n; i++ {
		recs = append(recs, netstore.Record{Type: "counter", Path: "/c/s", Op: op(t, "o", uint64(i), "1")})
	}
	if _, err := ts.svc.Push(context.Background(), "ann", recs); err != nil {
		t.Fatal(err)
	}
	epoch, head, err := ts.svc.Cursor("ann")
	if err != nil || head != n {
		t.Fatalf("cursor: %s %d, %v; want seq %d", epoch, head, err, n)
	}
	kinds := map[string]func(since uint64) netstore.EventStream{
		"in process": func(since uint64) netstore.EventStream {
			cur, err := ts.svc.Stream("ann", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := cur.Since(epoch, since); err != nil {
				t.Fatalf("since %d: %v", since, err)
			}
			return cur
		},
		"over 9P": func(since uint64) netstore.EventStream {
			sr, err := remote.OpenStream(context.Background(), ts.addr, "ann", token, epoch, since)
			if err != nil {
				t.Fatalf("open stream since %d: %v", since, err)
			}
			return sr
		},
	}
	for name, open := range kinds {
		t.Run(name, func(t *testing.T) {
			for cut := 0; cut <= n; cut++ {
				// Read up to the cut, stop, and resume from the cursor.
				var got []uint64
				since := uint64(0)
				st := open(since)
				for len(got) < cut {
					ev, err := st.NextEvent(context.Background())
					if err != nil {
						t.Fatalf("cut %d: %v", cut, err)
					}
					got, since = append(got, ev.Seq), ev.Seq
				}
				st.Close()
				st = open(since)
				for len(got) < n {
					ev, err := st.NextEvent(context.Background())
					if err != nil {
						t.Fatalf("cut %d, resumed at %d: %v", cut, since, err)
					}
					if ev.Epoch != epoch {
						t.Fatalf("event of epoch %s, want %s", ev.Epoch, epoch)
					}
					got = append(got, ev.Seq)
				}
				st.Close()
				for i, seq := range got {
					if seq != uint64(i+1) {
						t.Fatalf("cut %d: events %v, want 1..%d once each", cut, got, n)
					}
				}
			}
		})
	}
}
