package gigfs

import (
	"context"
	"errors"
	"testing"

	"gigfs.io/gigfs/gig"
)

// GetAt gives the value as of a date since the last checkpoint, and says
// so, with a kind, when the date is before it.
func TestClient_GetAt(t *testing.T) {
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"h": {{InMemory: true}}}
	c := mustClient(t, cfg)
	ctx := context.Background()
	for _, p := range []string{"1", "10", "100"} {
		mustPush(t, c, "h", "counter", "/n", p)
	}
	l, err := c.Log(ctx, "h", "counter", "/n")
	if err != nil {
		t.Fatal(err)
	}
	ops := l.Ops()
	if len(ops) != 3 {
		t.Fatalf("%d ops", len(ops))
	}
	for _, tc := range []struct {
		at   int64
		want string
	}{
		{ops[0].Date - 1, "0"},
		{ops[0].Date, "1"},
		{ops[1].Date, "11"},
		{ops[2].Date - 1, "11"},
		{ops[2].Date, "111"},
	} {
		v, err := c.GetAt(ctx, "h", "counter", "/n", tc.at)
		if err != nil || string(v) != tc.want {
			t.Errorf("at %d: %s %v, want %s", tc.at, v, err, tc.want)
		}
	}

	// A checkpoint: before it, history is pruned.
	rep, err := c.Sync(ctx, "h", "counter", "/n", true)
	if err != nil || rep.Pruned == "" {
		t.Fatalf("sync: %+v %v", rep, err)
	}
	mustPush(t, c, "h", "counter", "/n", "1000")
	l, _ = c.Log(ctx, "h", "counter", "/n")
	cp := l.Base().Date
	_, err = c.GetAt(ctx, "h", "counter", "/n", cp-1)
	if !errors.Is(err, ErrPruned) || !errors.Is(err, gig.ErrNotExist) {
		t.Fatalf("before the checkpoint: %v, want ErrPruned", err)
	}
	if v, err := c.GetAt(ctx, "h", "counter", "/n", cp); err != nil || string(v) != "111" {
		t.Fatalf("at the checkpoint: %s %v, want 111", v, err)
	}
	if v, err := c.GetAt(ctx, "h", "counter", "/n", l.Ops()[0].Date); err != nil || string(v) != "1111" {
		t.Fatalf("after: %s %v, want 1111", v, err)
	}
}
