package gigfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/internal/cluster"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// world is a table and stores on loopback, a user with a session, and a
// channel "c" served by every store (through a proxy each, so a test can
// cut a store off).
type world struct {
	t       testing.TB
	cl      *cluster.Cluster
	proxies []*cluster.Proxy
	session string
}

const (
	testUser   = "alice"
	testMaster = "correct horse battery staple"
)

func newWorld(t testing.TB, stores int) *world {
	t.Helper()
	cl, err := cluster.Start(t.TempDir(), stores, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx := context.Background()
	session, err := cl.User(ctx, testUser, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, cl: cl, session: session}
	for _, s := range cl.Stores {
		p, err := cluster.NewProxy(s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		w.proxies = append(w.proxies, p)
		if err := cl.AddStore(ctx, testUser, testMaster, "c", s, p.Addr); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *world) config() Config {
	cfg := testConfig(w.t)
	cfg.RemoteTable = &RemoteTable{Addr: w.cl.TableAddr, User: testUser, Session: w.session}
	return cfg
}

func (w *world) client(cfg Config) *Client { return mustClient(w.t, cfg) }

// storeLog reads an oplog straight from a store's service.
func (w *world) storeLog(i int, typ, path string) *oplog.Log {
	w.t.Helper()
	l, err := w.cl.Stores[i].Service().Log(testUser, typ, storePath("c", path))
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

// eventually retries f until it returns nil or the time is up.
func eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRemote_PushGetAcrossClients(t *testing.T) {
	w := newWorld(t, 2)
	a, b := w.client(w.config()), w.client(w.config())
	mustPush(t, a, "c", "counter", "/n", "3")
	if got := mustGet(t, b, "c", "counter", "/n"); got != "3" {
		t.Fatalf("b reads %s, want 3", got)
	}
	for i := range w.cl.Stores {
		eventually(t, 5*time.Second, func() error {
			if n := len(w.storeLog(i, "counter", "/n").Ops()); n != 1 {
				return fmt.Errorf("store %d holds %d ops", i, n)
			}
			return nil
		})
	}
}

// A watch sees every remote push (BenchmarkRemote_ChangeSeen measures how
// soon), and nothing for a no-op.
func TestRemote_WatchSeesRemotePush(t *testing.T) {
	w := newWorld(t, 1)
	a, b := w.client(w.config()), w.client(w.config())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mustPush(t, a, "c", "lww", "/w", `"start"`)
	ch, err := b.Watch(ctx, "c", "lww", "/w")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		mustPush(t, a, "c", "lww", "/w", strconv.Quote(fmt.Sprint(i)))
		select {
		case chg := <-ch:
			if string(chg.Value) != strconv.Quote(fmt.Sprint(i)) {
				t.Fatalf("change %s, want %d", chg.Value, i)
			}
		case <-time.After(time.Minute):
			t.Fatalf("change %d never seen", i)
		}
	}
	// A push that does not change the value: no notification.
	mustPush(t, a, "c", "lww", "/w", `"9"`)
	select {
	case chg := <-ch:
		t.Fatalf("notified of a no-op: %s", chg.Value)
	case <-time.After(200 * time.Millisecond):
	}
}

// Failure mode "double count on echo": a client prunes, then its own op
// comes back on a store's stream; it is not applied again.
func TestFailure_DoubleCountOnEcho(t *testing.T) {
	w := newWorld(t, 2)
	cfg := w.config()
	cfg.PruneOps = 1 // prune after every push
	a := w.client(cfg)
	for i := 0; i < 20; i++ {
		mustPush(t, a, "c", "counter", "/echo", "1")
	}
	eventually(t, 10*time.Second, func() error {
		for i := range w.cl.Stores {
			v, _ := oplog.Reduce(oplog.Counter, w.storeLog(i, "counter", "/echo"))
			if string(v) != "20" {
				return fmt.Errorf("store %d value %s", i, v)
			}
		}
		if got := mustGet(t, a, "c", "counter", "/echo"); got != "20" {
			return fmt.Errorf("client value %s", got)
		}
		// The prune follows the stores' agreement: wait for it too (on
		// a loaded machine the values agree first).
		if l, _ := a.Log(context.Background(), "c", "counter", "/echo"); l.Base().Sha == initialSha {
			return fmt.Errorf("never pruned")
		}
		return nil
	})
	if got := mustGet(t, a, "c", "counter", "/echo"); got != "20" {
		t.Fatalf("client value after the prune %s, want 20", got)
	}
}

// Failure mode "two clients, same payload, same millisecond": two ops.
// Both ops are made, with the same date and payload, before either client
// can see the other's (the store is cut off), so neither clock moves past
// the other's op; the store then takes both.
func TestFailure_SamePayloadSameMillisecondTwoClients(t *testing.T) {
	w := newWorld(t, 1)
	a, b := w.client(w.config()), w.client(w.config())
	frozen := time.UnixMilli(time.Now().UnixMilli()) // within the stores' date horizon
	a.clock.Now = func() time.Time { return frozen }
	b.clock.Now = func() time.Time { return frozen }
	for _, c := range []*Client{a, b} {
		if got := mustGet(t, c, "c", "counter", "/same"); got != "null" && got != "0" {
			t.Fatalf("value %s before any push", got)
		}
	}
	w.proxies[0].Cut()
	var ops []oplog.Op
	for _, c := range []*Client{a, b} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		ack, err := c.PushAck(ctx, "c", "counter", "/same", json.RawMessage("1"))
		cancel()
		if err != nil && !errors.Is(err, ErrPending) {
			t.Fatal(err)
		}
		ops = append(ops, ack.Op)
	}
	if ops[0].Date != ops[1].Date || string(ops[0].Payload) != string(ops[1].Payload) {
		t.Fatalf("the ops differ in date or payload: %+v %+v", ops[0], ops[1])
	}
	if ops[0].Sha == ops[1].Sha {
		t.Fatalf("two clients' ops have the same sha %s", ops[0].Sha)
	}
	w.proxies[0].Heal()
	eventually(t, 10*time.Second, func() error {
		for _, c := range []*Client{a, b} {
			if _, err := c.Sync(context.Background(), "c", "counter", "/same", false); err != nil {
				return err
			}
			if got := mustGet(t, c, "c", "counter", "/same"); got != "2" {
				return fmt.Errorf("value %s, want 2", got)
			}
		}
		return nil
	})
}

// Failure mode "a stale first answer": a client whose in-memory store is
// empty reads a path that a remote store holds: the empty store does not win.
func TestFailure_StaleFirstAnswer(t *testing.T) {
	w := newWorld(t, 1)
	a := w.client(w.config())
	mustPush(t, a, "c", "lww", "/stale", `"data"`)
	cfg := w.config()
	cfg.LocalTable = map[string][]LocalStore{"c": {{InMemory: true}}}
	b := w.client(cfg) // reads right after start, before its remote store is up
	if got := mustGet(t, b, "c", "lww", "/stale"); got != `"data"` {
		t.Fatalf("first read %s, want \"data\"", got)
	}
}

// Failure mode "a dead store crashes the client": a store vanishes; the
// client carries on with the other and catches up later.
func TestFailure_DeadStore(t *testing.T) {
	w := newWorld(t, 2)
	a := w.client(w.config())
	mustPush(t, a, "c", "counter", "/dead", "1")
	w.cl.Stores[1].Stop()
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := a.Push(ctx, "c", "counter", "/dead", json.RawMessage("1")); err != nil {
			t.Fatalf("push with one store dead: %v", err)
		}
		cancel()
	}
	if got := mustGet(t, a, "c", "counter", "/dead"); got != "6" {
		t.Fatalf("value %s", got)
	}
	// Failure mode "no anti-entropy": when the store comes back, the client
	// repairs it without waiting for a read or a write.
	if err := w.cl.Stores[1].Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error {
		if n := len(w.storeLog(1, "counter", "/dead").Ops()); n != 6 {
			return fmt.Errorf("restarted store holds %d ops, want 6", n)
		}
		return nil
	})
}

// Two clients, two stores, 1,000 interleaved pushes each; one store cut
// off for part of the run. After healing and sync both stores hold
// identical oplogs, both clients read the same value, and it includes every
// acknowledged push.
func TestRemote_PartitionConverges(t *testing.T) {
	pushes := 1000
	if testing.Short() {
		pushes = 200
	}
	w := newWorld(t, 2)
	cfg := w.config()
	cfg.PruneOps = 100
	a, b := w.client(cfg), w.client(cfg)
	var acked sync.Map
	var wg sync.WaitGroup
	for ci, c := range []*Client{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < pushes; i++ {
				if ci == 0 && i == pushes/4 {
					w.proxies[1].Cut()
				}
				if ci == 0 && i == pushes*3/4 {
					w.proxies[1].Heal()
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.Push(ctx, "c", "counter", "/p", json.RawMessage("1"))
				cancel()
				if err == nil {
					acked.Store(fmt.Sprint(ci, i), true)
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	acked.Range(func(any, any) bool { n++; return true })
	if n != 2*pushes {
		t.Fatalf("%d of %d pushes acknowledged", n, 2*pushes)
	}
	want := strconv.Itoa(2 * pushes)
	ctx := context.Background()
	eventually(t, 30*time.Second, func() error {
		for _, c := range []*Client{a, b} {
			if _, err := c.Sync(ctx, "c", "counter", "/p", false); err != nil {
				return err
			}
		}
		l0, l1 := w.storeLog(0, "counter", "/p"), w.storeLog(1, "counter", "/p")
		if s0, s1 := string(l0.AppendJSONLines(nil)), string(l1.AppendJSONLines(nil)); s0 != s1 {
			return fmt.Errorf("stores differ: %d and %d records", l0.Len(), l1.Len())
		}
		v, _ := oplog.Reduce(oplog.Counter, l0)
		if string(v) != want {
			return fmt.Errorf("stores hold %s, want %s", v, want)
		}
		for _, c := range []*Client{a, b} {
			if got := mustGet(t, c, "c", "counter", "/p"); got != want {
				return fmt.Errorf("a client reads %s, want %s", got, want)
			}
		}
		return nil
	})
}

// A one-shot client (a tool) that pushes and closes at once still reaches
// every store: Close lets pushes on their way finish.
func TestRemote_CloseDeliversToEveryStore(t *testing.T) {
	w := newWorld(t, 2)
	for i := 0; i < 3; i++ {
		c, err := New(w.config())
		if err != nil {
			t.Fatal(err)
		}
		mustGet(t, c, "c", "counter", "/oneshot")    // connect both stores first
		w.proxies[1].SetDelay(50 * time.Millisecond) // then one is slow
		mustPush(t, c, "c", "counter", "/oneshot", "1")
		c.Close()
		w.proxies[1].SetDelay(0)
	}
	for i := range w.cl.Stores {
		if n := len(w.storeLog(i, "counter", "/oneshot").Ops()); n != 3 {
			t.Errorf("store %d holds %d of 3 ops right after the clients closed", i, n)
		}
	}
}

// Paths lists a channel's oplogs from every store, local and remote.
func TestRemote_Paths(t *testing.T) {
	w := newWorld(t, 1)
	a := w.client(w.config())
	mustPush(t, a, "c", "counter", "/x", "1")
	mustPush(t, a, "c", "set", "/d/e", `{"add":1}`)
	cfg := w.config()
	cfg.LocalTable = map[string][]LocalStore{"c": {{StoragePath: filepath.Join(t.TempDir(), "l")}}, "other": {{InMemory: true}}}
	b := w.client(cfg)
	mustPush(t, b, "other", "lww", "/not-c", "1")
	mustGet(t, b, "c", "counter", "/x") // the remote store is up once this answered
	eventually(t, 5*time.Second, func() error {
		got, err := b.Paths(context.Background(), "c")
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != "[{counter /x} {set /d/e}]" {
			return fmt.Errorf("paths %v", got)
		}
		return nil
	})
}

// A store restarts (a new epoch: its stream cannot resume the old cursor):
// a watching client reconnects, re-reads what it has loaded, and sees the
// changes made meanwhile.
func TestRemote_WatchAcrossStoreRestart(t *testing.T) {
	w := newWorld(t, 1)
	writerCfg := w.config()
	writerCfg.LocalTable = map[string][]LocalStore{"c": {{StoragePath: filepath.Join(t.TempDir(), "w")}}}
	writer := w.client(writerCfg)
	watcher := w.client(w.config())
	mustPush(t, writer, "c", "lww", "/r", `"before"`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := watcher.Watch(ctx, "c", "lww", "/r")
	if err != nil {
		t.Fatal(err)
	}
	w.cl.Stores[0].Stop()
	mustPush(t, writer, "c", "lww", "/r", `"during"`) // only the writer's local store has it
	if err := w.cl.Stores[0].Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case chg := <-ch:
			if string(chg.Value) == `"during"` {
				return
			}
		case <-deadline:
			v, _ := watcher.Get(ctx, "c", "lww", "/r")
			t.Fatalf("the watcher never saw the change made while the store was down (it reads %s)", v)
		}
	}
}

// A session the table refuses is not retried: the client says why at once.
func TestRemote_TableRefusesSession(t *testing.T) {
	w := newWorld(t, 1)
	cfg := w.config()
	cfg.RemoteTable.Session = "bogus.session.token"
	cfg.LocalTable = map[string][]LocalStore{"mine": {{InMemory: true}}}
	c := w.client(cfg)
	_, err := c.Get(context.Background(), "c", "lww", "/x")
	if !errors.Is(err, ErrTableRefused) || !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("get on a remote channel with a bad session: %v", err)
	}
	if !errors.Is(c.TableErr(), ErrTableRefused) {
		t.Fatalf("TableErr: %v", c.TableErr())
	}
	// Local channels still work, but nothing is pruned without the table.
	mustPush(t, c, "mine", "counter", "/n", "1")
	if rep, err := c.Sync(context.Background(), "mine", "counter", "/n", true); err != nil || rep.Pruned != "" {
		t.Fatalf("sync without the table: %+v %v", rep, err)
	}
}

// Two clients pruned at once: each store kept a different checkpoint, each
// covering ops the other does not. A sync makes one covering both, even
// when no prune is due, and the stores end byte-identical.
func TestRemote_SyncReconcilesRacingCheckpoints(t *testing.T) {
	w := newWorld(t, 2)
	ctx := context.Background()
	var clk oplog.Clock
	a, _ := oplog.NewOp(clk.Date(), "A", 1, json.RawMessage("1"))
	b, _ := oplog.NewOp(clk.Date(), "B", 1, json.RawMessage("10"))
	c1, _ := oplog.NewCheckpoint(clk.Date(), "A", json.RawMessage("1"), oplog.Coverage{"A": 1})
	c2, _ := oplog.NewCheckpoint(clk.Date(), "B", json.RawMessage("10"), oplog.Coverage{"B": 1})
	sp := storePath("c", "/race")
	for i, cp := range []oplog.Op{c1, c2} {
		recs := []netstore.Record{{Type: "counter", Path: sp, Op: a}, {Type: "counter", Path: sp, Op: b}, {Type: "counter", Path: sp, Op: cp}}
		if _, err := w.cl.Stores[i].Service().Push(ctx, testUser, recs); err != nil {
			t.Fatal(err)
		}
	}
	if w.storeLog(0, "counter", "/race").Base().Sha == w.storeLog(1, "counter", "/race").Base().Sha {
		t.Fatal("set-up: the stores should hold different checkpoints")
	}
	cfg := w.config()
	cfg.PruneOps, cfg.PruneAge = -1, -1 // no prune is ever due
	cl := w.client(cfg)
	// The sync that loading the path starts may race this one: retry until
	// a sync finds the stores in agreement.
	var l0, l1 *oplog.Log
	eventually(t, 10*time.Second, func() error {
		if rep, err := cl.Sync(ctx, "c", "counter", "/race", false); err != nil || !rep.Agreed {
			return fmt.Errorf("sync: %+v %v", rep, err)
		}
		l0, l1 = w.storeLog(0, "counter", "/race"), w.storeLog(1, "counter", "/race")
		if string(l0.AppendJSONLines(nil)) != string(l1.AppendJSONLines(nil)) {
			return fmt.Errorf("stores differ after sync:\n%s\n%s", l0.AppendJSONLines(nil), l1.AppendJSONLines(nil))
		}
		return nil
	})
	if l0.Base().Sha == c1.Sha || l0.Base().Sha == c2.Sha {
		t.Fatal("the stores kept one of the racing checkpoints")
	}
	if v, _ := oplog.Reduce(oplog.Counter, l0); string(v) != "11" {
		t.Fatalf("value %s, want 11", v)
	}
}
