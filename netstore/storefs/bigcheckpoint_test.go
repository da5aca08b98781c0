package storefs

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
	"gigfs.io/gigfs/oplog"
)

// A checkpoint larger than an op (50,000 origins, from before origins were
// leased) goes through the 9P push file, is read back, and streams whole.
func TestRemote_CheckpointLargerThanAnOp(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("lee")
	cov := make(oplog.Coverage)
	for i := 0; i < 50_000; i++ {
		cov[fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)] = 1
	}
	cp, err := oplog.NewCheckpoint(1000, "seed", json.RawMessage(`50000`), cov)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sr, err := remote.OpenStream(ctx, ts.addr, "lee", token, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	r, err := remote.Dial(ctx, ts.addr, "lee", token)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	res, err := r.Push(ctx, []netstore.Record{{Type: "counter", Path: "/c/many", Op: cp}})
	if err != nil || res[0].Outcome() != oplog.Accepted {
		t.Fatalf("push of a %d-byte checkpoint: %v %v", len(cp.AppendJSON(nil)), res, err)
	}
	t.Logf("push %v", time.Since(start))
	start = time.Now()
	l, err := r.Read(ctx, "counter", "/c/many")
	if err != nil || l.Base().Sha != cp.Sha {
		t.Fatalf("read back: %v", err)
	}
	t.Logf("read %v", time.Since(start))
	ev, err := sr.Next(ctx)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	o, err := oplog.Decode(ev.Op)
	if err != nil || o.Sha != cp.Sha {
		t.Fatalf("stream event: %v", err)
	}
}
