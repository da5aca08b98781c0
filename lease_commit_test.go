package gigfs

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// Ops made one after another, before any of them left, are made durable
// in the lease's journal by one fsync, not one each (group commit); a
// second wait with nothing new costs none; and what one fsync covered is
// what a later run finds.
func TestLease_OpsMadeTogetherShareOneFsync(t *testing.T) {
	leases := filepath.Join(t.TempDir(), "leases")
	l, err := acquireLease(leases, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	k := pathKey{"c", "counter", "/g"}
	before := l.syncs
	for seq := uint64(1); seq <= 3; seq++ {
		o, _ := oplog.NewOp(1000+int64(seq), l.origin, seq, json.RawMessage(`1`))
		if err := l.record(k, o); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.syncs - before; got != 0 {
		t.Fatalf("recording 3 ops ran %d fsyncs, want 0 (their deliveries share one)", got)
	}
	if err := l.durable(); err != nil {
		t.Fatal(err)
	}
	if err := l.durable(); err != nil {
		t.Fatal(err)
	}
	if got := l.syncs - before; got != 1 {
		t.Fatalf("3 ops made durable with %d fsyncs, want 1", got)
	}
	l.close()
	l, err = acquireLease(leases, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if got := len(l.pending(k)); got != 3 || l.nextSeq(k) != 4 {
		t.Fatalf("next run: %d pending, next seq %d; want 3 and 4", got, l.nextSeq(k))
	}
}

// A client's op leaves the process only once its line in the lease's
// journal is durable: when that fsync fails, no store receives the op
// (a later run could otherwise use its seq again for another op).
func TestClient_OpLeavesOnlyOnceJournaled(t *testing.T) {
	leases := filepath.Join(t.TempDir(), "leases")
	disk := t.TempDir()
	c := mustClient(t, leaseConfig(t, leases, disk))
	mustPush(t, c, "c", "counter", "/j", "1")

	// A pipe takes writes but cannot be fsynced.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() { // drain it
		buf := make([]byte, 4096)
		for {
			if _, err := r.Read(buf); err != nil {
				return
			}
		}
	}()
	c.lease.mu.Lock()
	c.lease.journal.Close()
	c.lease.journal = w
	c.lease.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := c.PushAck(ctx, "c", "counter", "/j", json.RawMessage(`10`))
	if err == nil || a.Stored {
		t.Fatalf("push with a journal that cannot be fsynced: stored %v, err %v; want an error", a.Stored, err)
	}
	if errors.Is(err, ErrRefused) {
		t.Fatalf("push: %v; want a failure, not a refusal", err)
	}
	c.Close()
	svc, err := netstore.Open(netstore.Config{Dir: disk, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sl, _ := svc.Log(localUser, "counter", "/c/j")
	for _, o := range sl.Ops() {
		if o.Sha == a.Op.Sha || o.Seq == 2 {
			t.Fatalf("the store holds the op (seq %d) whose journal line was never durable", o.Seq)
		}
	}
}
