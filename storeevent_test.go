package gigfs

import (
	"encoding/json"
	"fmt"
	"testing"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// An event of a path the client neither holds nor watches is not decoded,
// but its date still moves the client's clock; opDate reads only the
// store's form.
func TestClient_UnheldEventMovesTheClock(t *testing.T) {
	c := mustClient(t, testConfig(t))
	far := c.clock.Date() + 3_600_000 // an hour ahead: within the horizon
	o, err := oplog.NewOp(far, "other", 1, json.RawMessage(`1`))
	if err != nil {
		t.Fatal(err)
	}
	c.storeEvent(nil, netstore.Event{Type: "counter", Path: "/c/unheld", Op: o.AppendJSON(nil)})
	if d := c.clock.Date(); d <= far {
		t.Fatalf("next date %d, want past the event's %d", d, far)
	}
	for in, want := range map[string]int64{
		`{"date":1732550000123,"origin":"o"}`: 1732550000123,
		`{"date":7}`:                          7,
		`{"date":"7"}`:                        -1,
		`{"date":}`:                           -1,
		`{"date":12345678901234567890,"o":1}`: -1,
		`{"origin":"o","date":7}`:             -1,
	} {
		d, ok := opDate([]byte(in))
		if (want < 0 && ok) || (want >= 0 && (!ok || d != want)) {
			t.Errorf("opDate(%s) = %d, %v; want %d", in, d, ok, want)
		}
	}
}

// A path's value after stream events, in date order (the value follows
// from the last one) and out of it (the tail is reduced again), is the
// value of its whole log.
func TestPathState_MergeKeepsTheValueOfTheLog(t *testing.T) {
	c := mustClient(t, Config{Logf: t.Logf, LocalTable: map[string][]LocalStore{"c": {{InMemory: true}}}})
	mustPush(t, c, "c", "list", "/m", "0")
	p := c.pathState(pathKey{"c", "list", "/m"})
	base := c.clock.Date() + 10
	for i, d := range []int64{5, 6, 2, 9, 1, 10, 11} {
		o, err := oplog.NewOp(base+d, "other", uint64(i+1), json.RawMessage(fmt.Sprint(d)))
		if err != nil {
			t.Fatal(err)
		}
		p.merge([]oplog.Op{o}, &o)
		p.mu.Lock()
		want, _ := c.reg.Reduce("list", "/m", p.log)
		got := p.value
		n := p.log.Len()
		p.mu.Unlock()
		if string(got) != string(want) || n != i+3 {
			t.Fatalf("after op %d: value %s, the log's %s (%d records)", i+1, got, want, n)
		}
	}
}

// BenchmarkClient_StoreEvent: one stream event of a held path, an op
// of another client (16 clients on one path: each gets the ops of 15),
// decoded, verified and merged.
func BenchmarkClient_StoreEvent(b *testing.B) {
	cfg := Config{Logf: b.Logf, PruneOps: -1, PruneAge: -1, LocalTable: map[string][]LocalStore{"c": {{InMemory: true}}}}
	c := mustClient(b, cfg)
	const n = 256
	ops := make([][]byte, n)
	date := c.clock.Date() + 1000
	for i := range ops {
		o, err := oplog.NewOp(date+int64(i), fmt.Sprintf("0f1c2a3b-1111-2222-3333-4444555566%02d", i%15), uint64(i/15+1), json.RawMessage(`{"add":1}`))
		if err != nil {
			b.Fatal(err)
		}
		ops[i] = o.AppendJSON(nil)
	}
	b.ReportAllocs()
	i, paths, spath := n, 0, ""
	for b.Loop() {
		if i == n {
			b.StopTimer()
			paths++
			mustPush(b, c, "c", "counter", fmt.Sprintf("/p%d", paths), "0")
			spath, i = fmt.Sprintf("/c/p%d", paths), 0
			b.StartTimer()
		}
		c.storeEvent(nil, netstore.Event{Seq: uint64(i + 1), Epoch: "9f2c00aa11bb22cc", Type: "counter", Path: spath, Op: ops[i]})
		i++
	}
}
