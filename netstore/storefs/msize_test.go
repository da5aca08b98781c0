package storefs

import (
	"context"
	"fmt"
	"testing"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

// TestRemote_PushUnderASmallMsize: a store run with a message size under
// the client's push chunk (gig-store -msize 8192; the chunk is 32 KiB)
// answers a push of many records with a result for each. The push file
// keeps the results of its last write only, and a chunk goes out in
// several writes of one message each: the results of all but the last
// are lost unless the client reads each write's results.
func TestRemote_PushUnderASmallMsize(t *testing.T) {
	ts := startStoreServer(t, netstore.Config{}, func(s *srv9p.Server) { s.Msize = 8192 })
	token := ts.user("bob")
	ctx := context.Background()
	r, err := remote.Dial(ctx, ts.addr, "bob", token)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var recs []netstore.Record
	for seq := uint64(1); seq <= 200; seq++ { // about 30 KB of lines: one chunk
		recs = append(recs, netstore.Record{Type: "counter", Path: "/c", Op: op(t, "o", seq, fmt.Sprintf(`{"add":%d}`, seq))})
	}
	res, err := r.Push(ctx, recs)
	if err != nil {
		t.Fatalf("push of %d records: %v (%d results)", len(recs), err, len(res))
	}
	if len(res) != len(recs) {
		t.Fatalf("%d results for %d records", len(res), len(recs))
	}
	for i, x := range res {
		if x.Outcome() != oplog.Accepted {
			t.Fatalf("record %d: %v", i+1, x)
		}
	}
}
