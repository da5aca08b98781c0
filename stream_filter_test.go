package gigfs

import (
	"context"
	"testing"
	"time"
)

// A client's streams are filtered: it still sees the pushes of others on
// the paths it watches, loaded after its stream opened, and every op of a
// channel it watches whole, its own included, each once (the channel is
// c, a remote store's only one).
func TestRemote_FilteredStreamMissesNothingWatched(t *testing.T) {
	w := newWorld(t, 1)
	a, b := w.client(w.config()), w.client(w.config())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mustPush(t, a, "c", "lww", "/w", `"start"`)
	ops, err := b.WatchOps(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := b.Watch(ctx, "c", "lww", "/w")
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range b.remotes {
		rs.mu.Lock()
		sr := rs.sr
		rs.mu.Unlock()
		if sr == nil || !sr.Filtered() {
			t.Errorf("%s: stream not filtered", rs.Name())
		}
	}
	mustPush(t, a, "c", "lww", "/other", `"x"`)
	mustPush(t, a, "c", "lww", "/w", `"a"`)
	select {
	case chg := <-ch:
		if string(chg.Value) != `"a"` {
			t.Errorf("change %s, want \"a\"", chg.Value)
		}
	case <-time.After(time.Minute):
		t.Fatal("a's push on /w never seen")
	}
	mustPush(t, a, "c", "lww", "/x", `"from a"`)
	mustPush(t, b, "c", "lww", "/y", `"from b"`)
	seen := map[string]int{}
	for seen["/x"] == 0 || seen["/y"] == 0 {
		select {
		case ev := <-ops:
			seen[ev.Path]++
		case <-time.After(time.Minute):
			t.Fatalf("channel watch saw %v, want /x and /y", seen)
		}
	}
	if seen["/x"] != 1 || seen["/y"] != 1 {
		t.Errorf("channel watch saw %v, want /x and /y once each", seen)
	}
}
