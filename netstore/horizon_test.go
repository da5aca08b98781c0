package netstore

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/oplog"
)

// An op dated further ahead than the horizon is refused, naming the
// bound, and leaves nothing behind; the refusal is logged once a minute.
func TestPush_RefusesFarFutureDates(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	var mu sync.Mutex
	var logs []string
	s, err := Open(Config{Dir: t.TempDir(), DateHorizon: time.Hour, Now: func() time.Time { return now },
		Logf: func(f string, a ...any) { mu.Lock(); logs = append(logs, fmt.Sprintf(f, a...)); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddUser("lee"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	year9999 := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i, d := range []int64{math.MaxInt64, year9999} {
		o, err := oplog.NewOp(d, "o", uint64(i+1), []byte(`1`))
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Push(ctx, "lee", []Record{{Type: "counter", Path: "/c/far", Op: o}})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Outcome() != oplog.Refused || !strings.Contains(res[0].Reason, "horizon of 1h0m0s") || !strings.Contains(res[0].Reason, "-date-horizon") {
			t.Fatalf("op dated %d: %v, want refused naming the 1h horizon and its flag", d, res[0])
		}
	}
	if l, _ := s.Log("lee", "counter", "/c/far"); l.Len() != 1 {
		t.Fatalf("refused ops left %d records", l.Len())
	}
	if list, _ := s.List("lee", []string{"counter"}); len(list) != 0 {
		t.Fatalf("refused ops made oplogs: %v", list)
	}
	mu.Lock()
	n := 0
	for _, l := range logs {
		if strings.Contains(l, "horizon") {
			n++
		}
	}
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d log lines for two refusals within a minute, want 1: %q", n, logs)
	}
	// Within the horizon is fine.
	o, _ := oplog.NewOp(now.Add(time.Hour).UnixMilli(), "o", 1, []byte(`1`))
	res, err := s.Push(ctx, "lee", []Record{{Type: "counter", Path: "/c/near", Op: o}})
	if err != nil || res[0].Outcome() != oplog.Accepted {
		t.Fatalf("op within the horizon: %v, %v", res, err)
	}
}
