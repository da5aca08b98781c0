package gigfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/oplog"
)

// A store that already holds an op dated MaxInt64 (it took it before it had
// a horizon) does not move the client's clock: later pushes are dated now,
// not after the year 9999 nor negative, and the clock says so once.
func TestClient_ClockIgnoresFarFutureDates(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"c": {{InMemory: true}}}
	cfg.Logf = func(f string, a ...any) { mu.Lock(); logs = append(logs, fmt.Sprintf(f, a...)); mu.Unlock() }
	c := mustClient(t, cfg)
	ctx := context.Background()
	far, err := oplog.NewOp(math.MaxInt64, "elsewhere", 1, json.RawMessage(`5`))
	if err != nil {
		t.Fatal(err)
	}
	far2, _ := oplog.NewOp(math.MaxInt64-1, "elsewhere", 2, json.RawMessage(`5`))
	s := c.local["c"][0]
	// Put the ops straight into the memory store, which would refuse them
	// now: as a store that took them before it had a horizon holds them.
	m := s.(*memStore)
	held := oplog.NewLog()
	held.Merge(far)
	held.Merge(far2)
	m.mu.Lock()
	m.logs[[2]string{"counter", "/c/n"}] = held
	m.mu.Unlock()
	if got := mustGet(t, c, "c", "counter", "/n"); got != "10" {
		t.Fatalf("value %s, want 10", got)
	}
	before := time.Now().UnixMilli()
	mustPush(t, c, "c", "counter", "/n", "1")
	l, _ := s.Read(ctx, "counter", "/c/n")
	for _, o := range l.Ops() {
		if o.Origin == c.Origin() && (o.Date < before || o.Date > time.Now().UnixMilli()+1000) {
			t.Fatalf("the client's op is dated %d, want about %d", o.Date, before)
		}
	}
	mu.Lock()
	n := 0
	for _, l := range logs {
		if strings.Contains(l, "horizon of 24h0m0s") {
			n++
		}
	}
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d log lines about the horizon, want 1", n)
	}

	// Mirroring such an op into a channel is refused, naming the bound.
	_, err = c.PushOp(ctx, "c", "counter", "/m", far)
	if !errors.Is(err, oplog.ErrFuture) || !strings.Contains(err.Error(), "horizon of 24h0m0s") {
		t.Fatalf("PushOp of an op dated MaxInt64: %v, want ErrFuture naming the horizon", err)
	}
}
