package storefs

import (
	"context"
	"sync"
	"testing"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
)

// Events read while pushes pour in, several to a read, come each once and
// in order: seqs 1..N without a gap.
func TestTree_StreamUnderConcurrentPushes(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("kit")
	ctx := context.Background()
	sr, err := remote.OpenStream(ctx, ts.addr, "kit", token, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	r, err := remote.Dial(ctx, ts.addr, "kit", token)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const writers, each = 8, 150
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 1; i <= each; i++ {
				o := op(t, string(rune('a'+w)), uint64(i), `1`)
				if _, err := r.Push(ctx, []netstore.Record{{Type: "counter", Path: "/s", Op: o}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for want := uint64(1); want <= writers*each; want++ {
		ev, err := sr.Next(ctx)
		if err != nil || ev.Seq != want {
			t.Fatalf("event %+v %v, want seq %d", ev, err, want)
		}
	}
	wg.Wait()
}
