package gigfs

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
)

// A channel watcher with WatchOptions.Positions is told its cursor when
// a store's stream moves past other channels' events with none of its own
// (a mark): its cursor keeps up with the stream, where the cursor of its
// last op would fall behind what the store keeps, and a resume from it
// would read the whole channel again. A watcher without Positions gets
// ops only.
func TestWatch_PositionsFollowMarks(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	if err := w.cl.AddStore(ctx, testUser, testMaster, "d", w.cl.Stores[0], w.proxies[0].Addr); err != nil {
		t.Fatal(err)
	}
	a := w.client(w.config())
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	withPos, err := a.WatchOpsFrom(wctx, "c", WatchOptions{Positions: true})
	if err != nil {
		t.Fatal(err)
	}
	opsOnly, err := a.WatchOpsFrom(wctx, "c", WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustPush(t, a, "c", "counter", "/quiet", "1")
	first := <-withPos
	if first.Type == "" {
		t.Fatalf("first event %+v, want the op", first)
	}
	if ev := <-opsOnly; ev.Type == "" {
		t.Fatalf("a watcher without positions got %+v", ev)
	}
	start, _, err := ParseCursor(first.Cursor)
	if err != nil {
		t.Fatal(err)
	}

	// Another client floods channel d of the same store, past a mark.
	b := w.client(w.config())
	const n = 4200 // the store's default stream keeps 8,192: a mark every 4,096 spared
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := g; i < n; i += 16 {
				if _, err := b.Push(ctx, "d", "counter", fmt.Sprintf("/p%d", g), json.RawMessage("1")); err != nil {
					errs <- err // t.Fatal belongs to the test's goroutine
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	pos := <-withPos // none would come without marks followed
	if pos.Type != "" || pos.Channel != "c" {
		t.Fatalf("after the flood: %+v, want a position of channel c", pos)
	}
	moved, _, err := ParseCursor(pos.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	for id, p := range moved {
		if p.Seq < start[id].Seq+4096 {
			t.Errorf("store %s: position at seq %d, the op's cursor at %d: want it past a mark", id, p.Seq, start[id].Seq)
		}
	}
	select {
	case ev := <-opsOnly:
		t.Fatalf("a watcher without positions got %+v", ev)
	default:
	}
}
