package gigfs

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/oplog"
)

func testConfig(t testing.TB) Config {
	return Config{Logf: t.Logf, ReadWait: 200 * time.Millisecond, CallTimeout: 2 * time.Second, SyncDelay: 5 * time.Millisecond}
}

func mustClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustPush(t testing.TB, c *Client, ch, typ, path, payload string) json.RawMessage {
	t.Helper()
	v, err := c.Push(context.Background(), ch, typ, path, json.RawMessage(payload))
	if err != nil {
		t.Fatalf("push %s %s %s %s: %v", ch, typ, path, payload, err)
	}
	return v
}

func mustGet(t testing.TB, c *Client, ch, typ, path string) string {
	t.Helper()
	v, err := c.Get(context.Background(), ch, typ, path)
	if err != nil {
		t.Fatalf("get %s %s %s: %v", ch, typ, path, err)
	}
	return string(v)
}

// The seed's fully local mode: a channel of one on-disk and one in-memory
// store, no server anywhere.
func TestClient_FullyLocal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "core")
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"core": {{StoragePath: dir}, {InMemory: true}}}
	c := mustClient(t, cfg)
	for i := 0; i < 5; i++ {
		mustPush(t, c, "core", "counter", "/hits", "2")
	}
	if got := mustGet(t, c, "core", "counter", "/hits"); got != "10" {
		t.Fatalf("value %s, want 10", got)
	}
	mustPush(t, c, "core", "set", "/tags", `{"add":"go"}`)
	if got := mustGet(t, c, "core", "set", "/tags"); got != `["go"]` {
		t.Fatalf("set %s", got)
	}
	c.Close()

	// A restart: the in-memory store starts empty, the disk has it all, and
	// the empty store does not win.
	c2 := mustClient(t, cfg)
	if got := mustGet(t, c2, "core", "counter", "/hits"); got != "10" {
		t.Fatalf("after restart: %s, want 10", got)
	}
	// Sync copies to the in-memory store what it lacks, and both agree.
	rep, err := c2.Sync(context.Background(), "core", "counter", "/hits", false)
	if err != nil || !rep.Agreed {
		t.Fatalf("sync: %+v %v", rep, err)
	}
	if rep.Stores[1].Copied != 5 {
		t.Fatalf("copied %d to memory, want the 5 ops", rep.Stores[1].Copied)
	}
	// Pruning on demand: one checkpoint, the value unchanged.
	rep, err = c2.Sync(context.Background(), "core", "counter", "/hits", true)
	if err != nil || rep.Pruned == "" {
		t.Fatalf("prune: %+v %v", rep, err)
	}
	l, _ := c2.Log(context.Background(), "core", "counter", "/hits")
	if l.Len() != 1 || mustGet(t, c2, "core", "counter", "/hits") != "10" {
		t.Fatalf("after prune: %d records, value %s", l.Len(), mustGet(t, c2, "core", "counter", "/hits"))
	}
}

func TestClient_UnknownChannelAndBadNames(t *testing.T) {
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"a": {{InMemory: true}}}
	c := mustClient(t, cfg)
	ctx := context.Background()
	if _, err := c.Get(ctx, "nope", "lww", "/x"); err == nil {
		t.Fatal("get on an unknown channel")
	}
	for _, p := range []string{"", "/", "/a/../b", "/a//b"} {
		if _, err := c.Push(ctx, "a", "lww", p, json.RawMessage(`1`)); err == nil {
			t.Errorf("push to path %q", p)
		}
	}
	if _, err := c.Push(ctx, "a", "lww", "/x", json.RawMessage(`{bad`)); err == nil {
		t.Error("push of bad JSON")
	}
	if _, err := c.Get(ctx, "a", "no-reducer", "/x"); err == nil {
		t.Error("get of a type with no reducer")
	}
}

// Notifications: once per change of value, never for a no-op.
func TestClient_WatchLocal(t *testing.T) {
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"a": {{InMemory: true}}}
	c := mustClient(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := c.Watch(ctx, "a", "lww", "/x")
	if err != nil {
		t.Fatal(err)
	}
	mustPush(t, c, "a", "lww", "/x", `"one"`)
	mustPush(t, c, "a", "lww", "/x", `"one"`) // same value: no change
	mustPush(t, c, "a", "lww", "/x", `"two"`)
	for _, want := range []string{`"one"`, `"two"`} {
		select {
		case chg := <-w:
			if string(chg.Value) != want || chg.Op == nil {
				t.Fatalf("change %s (op %v), want %s", chg.Value, chg.Op, want)
			}
		case <-time.After(time.Minute):
			t.Fatalf("no change to %s", want)
		}
	}
	select {
	case chg := <-w:
		t.Fatalf("extra change %s", chg.Value)
	case <-time.After(100 * time.Millisecond):
	}
}

// PushOp mirrors an op from one channel to another unchanged, once.
func TestClient_PushOpMirrors(t *testing.T) {
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"a": {{InMemory: true}}, "b": {{InMemory: true}}}
	c := mustClient(t, cfg)
	ctx := context.Background()
	ops, err := c.WatchOps(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	mustPush(t, c, "a", "counter", "/m", "5")
	var ev OpEvent
	select {
	case ev = <-ops:
	case <-time.After(time.Minute):
		t.Fatal("no op event")
	}
	if ev.Type != "counter" || ev.Path != "/m" {
		t.Fatalf("event %+v", ev)
	}
	for i := 0; i < 2; i++ {
		fresh, err := c.PushOp(ctx, "b", ev.Type, ev.Path, ev.Op)
		if err != nil || fresh != (i == 0) {
			t.Fatalf("PushOp %d: fresh %v, %v", i, fresh, err)
		}
	}
	if got := mustGet(t, c, "b", "counter", "/m"); got != "5" {
		t.Fatalf("mirror reads %s", got)
	}
	forged := ev.Op
	forged.Payload = json.RawMessage("6")
	if _, err := c.PushOp(ctx, "b", "counter", "/m", forged); err == nil {
		t.Fatal("a forged op was pushed")
	}
	// A checkpoint of channel a would replace b's value: refused.
	cp, err := oplog.NewCheckpoint(ev.Op.Date+1, "x", json.RawMessage("100"), oplog.Coverage{ev.Op.Origin: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PushOp(ctx, "b", "counter", "/m", cp); err == nil {
		t.Fatal("a checkpoint was mirrored")
	}
	if got := mustGet(t, c, "b", "counter", "/m"); got != "5" {
		t.Fatalf("mirror reads %s after a refused checkpoint", got)
	}
}

// An op after a gap in its origin's numbers can never be covered: it does
// not make the path due for pruning, however old.
func TestClient_GapDoesNotKeepPruneDue(t *testing.T) {
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"a": {{InMemory: true}}}
	cfg.PruneAge = time.Minute
	c := mustClient(t, cfg)
	old, err := oplog.NewOp(time.Now().Add(-time.Hour).UnixMilli(), "mirrored", 7, json.RawMessage("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PushOp(context.Background(), "a", "counter", "/g", old); err != nil {
		t.Fatal(err)
	}
	p := c.pathState(pathKey{"a", "counter", "/g"})
	if c.pruneDue(p) {
		t.Fatal("an uncoverable op keeps the path due")
	}
}

// TestClient_PruneDueAsksCoverableOnlyAsTheTailGrows: a long tail that
// cannot be covered (a gap in an origin's numbers) is found not due, and
// Coverable is not asked again for every op that comes (it costs the
// tail: 72% of the CPU with 16 clients on one path); once the gap is
// filled, the path is due again within an eighth of the tail's ops. With
// pruning off, no tail is due.
func TestClient_PruneDueAsksCoverableOnlyAsTheTailGrows(t *testing.T) {
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"a": {{InMemory: true}}}
	cfg.SyncDelay = time.Hour // no background sync prunes meanwhile
	c := mustClient(t, cfg)
	p := c.pathState(pathKey{"a", "counter", "/g"})
	date := time.Now().UnixMilli()
	add := func(seq uint64) {
		t.Helper()
		date++
		o, err := oplog.NewOp(date, "m", seq, json.RawMessage("1"))
		if err != nil {
			t.Fatal(err)
		}
		p.merge([]oplog.Op{o}, &o)
	}
	for seq := uint64(2); seq <= 200; seq++ { // seq 1 missing
		add(seq)
		if c.pruneDue(p) {
			t.Fatalf("due at seq %d, with seq 1 missing", seq)
		}
	}
	p.mu.Lock()
	asked := p.coverableAsked
	p.mu.Unlock()
	// From 64 ops (PruneOps) to 199, once per eighth more: 10 times.
	if asked > 12 {
		t.Fatalf("Coverable asked %d times for 136 ops that could make the path due", asked)
	}
	add(1)
	due := false
	for seq := uint64(201); seq <= 201+200/8 && !due; seq++ {
		add(seq)
		due = c.pruneDue(p)
	}
	if !due {
		t.Fatal("not due an eighth of the tail after the gap was filled")
	}
	// Due stays due for this checkpoint: the ops that come while its
	// prune waits do not walk the tail again.
	p.mu.Lock()
	asked = p.coverableAsked
	p.mu.Unlock()
	for seq := uint64(250); seq < 300; seq++ {
		add(seq)
		if !c.pruneDue(p) {
			t.Fatalf("not due at seq %d", seq)
		}
	}
	p.mu.Lock()
	again := p.coverableAsked - asked
	p.mu.Unlock()
	if again != 0 {
		t.Fatalf("Coverable asked %d times for a tail already due", again)
	}

	cfg.PruneOps, cfg.PruneAge = -1, -1
	off := mustClient(t, cfg)
	q := off.pathState(pathKey{"a", "counter", "/g"})
	q.mergeLog(p.log.Clone(), false)
	if off.pruneDue(q) {
		t.Fatal("due with pruning off")
	}
}

// TestClient_PruneSyncOnlyIfStillDue: a sync that pruneDue asked for
// starts only if the path is still due then (another client's checkpoint
// may have come meanwhile: with 16 clients on one path, each read the
// stores and made a checkpoint of its own); one asked for by anything
// else still runs.
func TestClient_PruneSyncOnlyIfStillDue(t *testing.T) {
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"a": {{InMemory: true}}}
	cfg.SyncDelay = time.Hour // timers fire when the test says
	cfg.PruneOps, cfg.PruneAge = 8, -1
	c := mustClient(t, cfg)
	p := c.pathState(pathKey{"a", "counter", "/g"})
	date := time.Now().UnixMilli()
	for seq := uint64(1); seq <= 20; seq++ {
		date++
		o, err := oplog.NewOp(date, "m", seq, json.RawMessage("1"))
		if err != nil {
			t.Fatal(err)
		}
		p.merge([]oplog.Op{o}, &o)
	}
	if !c.pruneDue(p) {
		t.Fatal("20 coverable ops not due")
	}
	synced := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.syncsDone
	}
	fire := func() {
		p.syncMu.Lock()
		p.syncTimer.Reset(0)
		p.syncMu.Unlock()
	}
	idle := func() bool {
		p.syncMu.Lock()
		defer p.syncMu.Unlock()
		return p.syncTimer == nil && !p.syncRunning
	}
	before := synced()
	c.schedulePrune(p)
	// Another client's checkpoint of the 20 ops comes before the timer.
	cp, err := oplog.NewCheckpoint(date+1, "other", json.RawMessage("20"), oplog.Coverage{"m": 20})
	if err != nil {
		t.Fatal(err)
	}
	p.merge([]oplog.Op{cp}, &cp)
	fire()
	for !idle() {
		runtime.Gosched()
	}
	if n := synced() - before; n != 0 {
		t.Fatalf("%d syncs ran for a path no longer due", n)
	}
	// Asked for another reason too, it runs.
	c.schedulePrune(p)
	c.scheduleSync(p, time.Hour)
	fire()
	for synced() == before {
		runtime.Gosched()
	}
}

// TestClient_PruneWaitsAgainAfterAnotherClientsCheckpoint: a prune set to
// start when another client's checkpoint came meanwhile does not run then,
// even if the new tail is due already: it waits a delay of its own, so
// that the clients of a busy path do not each prune in turn.
func TestClient_PruneWaitsAgainAfterAnotherClientsCheckpoint(t *testing.T) {
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"a": {{InMemory: true}}}
	cfg.SyncDelay = time.Hour // timers fire when the test says
	cfg.PruneOps, cfg.PruneAge = 8, -1
	c := mustClient(t, cfg)
	p := c.pathState(pathKey{"a", "counter", "/g"})
	date := time.Now().UnixMilli()
	add := func(from, to uint64) {
		t.Helper()
		for seq := from; seq <= to; seq++ {
			date++
			o, err := oplog.NewOp(date, "m", seq, json.RawMessage("1"))
			if err != nil {
				t.Fatal(err)
			}
			p.merge([]oplog.Op{o}, &o)
		}
	}
	add(1, 10)
	if !c.pruneDue(p) {
		t.Fatal("10 coverable ops not due")
	}
	synced := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.syncsDone
	}
	timer := func() *time.Timer {
		p.syncMu.Lock()
		defer p.syncMu.Unlock()
		return p.syncTimer
	}
	before := synced()
	c.schedulePrune(p)
	first := timer()
	// Another client prunes the 10 ops, and 10 more come: due again.
	cp, err := oplog.NewCheckpoint(date+1, "other", json.RawMessage("10"), oplog.Coverage{"m": 10})
	if err != nil {
		t.Fatal(err)
	}
	date++
	p.merge([]oplog.Op{cp}, &cp)
	add(11, 20)
	first.Reset(0)
	for synced() == before && (timer() == first || timer() == nil) {
		runtime.Gosched() // until the timer ran a sync or set another timer
	}
	if n := synced() - before; n != 0 {
		t.Fatalf("%d syncs ran at once after another client's checkpoint", n)
	}
	// The new timer's prune runs: its checkpoint has not moved.
	p.syncMu.Lock()
	p.syncTimer.Reset(0)
	p.syncMu.Unlock()
	for synced() == before {
		runtime.Gosched()
	}
}

// Close while pushes are on their way neither races nor panics.
func TestClient_CloseDuringPushes(t *testing.T) {
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"a": {{InMemory: true}}}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				if _, err := c.Push(context.Background(), "a", "counter", "/c", json.RawMessage("1")); errors.Is(err, ErrClosed) {
					return
				}
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	c.Close()
	wg.Wait()
}

// A payload the type's reducer refuses is refused before any op is made:
// the path's value stays computable and nothing reaches the stores.
func TestClient_PushRefusedByReducer(t *testing.T) {
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"a": {{InMemory: true}}}
	c := mustClient(t, cfg)
	mustPush(t, c, "a", "counter", "/n", "2")
	_, err := c.Push(context.Background(), "a", "counter", "/n", json.RawMessage(`"two"`))
	if err == nil || !strings.Contains(err.Error(), "counter") || !strings.Contains(err.Error(), "/n") {
		t.Fatalf("push of a string to a counter: %v", err)
	}
	if got := mustGet(t, c, "a", "counter", "/n"); got != "2" {
		t.Fatalf("value %s", got)
	}
	l, _ := c.Log(context.Background(), "a", "counter", "/n")
	if len(l.Ops()) != 1 {
		t.Fatalf("%d ops in the log", len(l.Ops()))
	}
}
