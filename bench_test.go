package gigfs

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// BenchmarkGetWarm reads a loaded path: from memory.
func BenchmarkGetWarm(b *testing.B) {
	cfg := testConfig(b)
	cfg.LocalTable = map[string][]LocalStore{"a": {{InMemory: true}}}
	c := mustClient(b, cfg)
	for i := 0; i < 100; i++ {
		mustPush(b, c, "a", "counter", "/warm", "1")
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get(ctx, "a", "counter", "/warm"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPushLocalAndTwoRemote pushes to a channel of one on-disk local
// store and two remote stores: a push returns when the first has it durably.
func BenchmarkPushLocalAndTwoRemote(b *testing.B) {
	w := newWorld(b, 2)
	cfg := w.config()
	cfg.Logf = func(string, ...any) {}
	cfg.LocalTable = map[string][]LocalStore{"c": {{StoragePath: filepath.Join(b.TempDir(), "local")}}}
	c := w.client(cfg)
	mustPush(b, c, "c", "counter", "/bench", "1") // load the path, connect
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Push(ctx, "c", "counter", "/bench", json.RawMessage("1")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConverge10k measures a sync of two stores 10,000 ops apart: one
// store holds 10,000 ops the other lacks.
func BenchmarkConverge10k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := newWorld(b, 2)
		var recs []netstore.Record
		var clk oplog.Clock
		for s := 1; s <= 10_000; s++ {
			o, _ := oplog.NewOp(clk.Date(), "writer", uint64(s), json.RawMessage("1"))
			recs = append(recs, netstore.Record{Type: "counter", Path: storePath("c", "/conv"), Op: o})
		}
		if _, err := w.cl.Stores[0].Service().Push(context.Background(), testUser, recs); err != nil {
			b.Fatal(err)
		}
		cfg := w.config()
		cfg.PruneOps = -1
		cfg.PruneAge = -1
		cfg.Logf = func(string, ...any) {}
		c := w.client(cfg)
		b.StartTimer()
		rep, err := c.Sync(context.Background(), "c", "counter", "/conv", false)
		if err != nil || !rep.Agreed || rep.Stores[1].Copied != 10_000 {
			b.Fatalf("sync: %+v %v", rep, err)
		}
		b.StopTimer()
		if n := len(w.storeLog(1, "counter", "/conv").Ops()); n != 10_000 {
			b.Fatal(fmt.Sprint("second store holds ", n))
		}
		c.Close()
		w.cl.Close()
		b.StartTimer()
	}
}

// BenchmarkRemote_ChangeSeen measures how soon a watch sees a push made
// by another client through a remote store on loopback: one op is one
// push acknowledged and seen.
func BenchmarkRemote_ChangeSeen(b *testing.B) {
	w := newWorld(b, 1)
	a, c := w.client(w.config()), w.client(w.config())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mustPush(b, a, "c", "counter", "/seen", "0")
	ch, err := c.Watch(ctx, "c", "counter", "/seen")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		mustPush(b, a, "c", "counter", "/seen", "1")
		<-ch
	}
}
