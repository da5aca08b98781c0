package table

import (
	"context"
	"testing"
	"time"
)

// A wait on tablewait answers at once without a version, blocks while the
// version is the one given, and returns the new table once a change moves
// it.
func TestClient_WaitTable(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	ctx := context.Background()
	mc, err := DialMaster(ctx, tt.addr, "alice", testMaster)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	token, err := mc.SessionNew(ctx, time.Hour, "w")
	if err != nil {
		t.Fatal(err)
	}
	wc, err := DialSession(ctx, tt.addr, "alice", token)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	mt, v, err := wc.WaitTable(ctx, -1)
	if err != nil || len(mt) != 0 {
		t.Fatalf("first wait: %v, %v", mt, err)
	}
	type answer struct {
		mt  MountTable
		v   uint64
		err error
	}
	got := make(chan answer, 1)
	go func() {
		mt, v2, err := wc.WaitTable(ctx, int64(v))
		got <- answer{mt, v2, err}
	}()
	select {
	case a := <-got:
		t.Fatalf("the wait returned with no change: %+v", a)
	default:
	}
	tt.stores.setCode(storeA, "c")
	if _, err := mc.StoreAdd(ctx, "docs", storeA, "c"); err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a.err != nil || a.v <= v || len(a.mt["docs"]) != 1 {
		t.Fatalf("after store add: %+v (was version %d)", a, v)
	}
	// A version already passed answers at once.
	if _, v3, err := wc.WaitTable(ctx, int64(v)); err != nil || v3 != a.v {
		t.Fatalf("wait since an old version: %d, %v", v3, err)
	}
}
