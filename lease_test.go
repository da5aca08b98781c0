package gigfs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

func leaseConfig(t *testing.T, leases, disk string) Config {
	cfg := testConfig(t)
	cfg.OriginDir = leases
	cfg.LocalTable = map[string][]LocalStore{"c": {{StoragePath: disk}}}
	return cfg
}

// originsOf returns the origins of a store's oplog: those its checkpoint
// covers and those of its ops.
func originsOf(l *oplog.Log) map[string]uint64 {
	out := make(map[string]uint64)
	for o, n := range l.Base().Covers {
		out[o] = n
	}
	for _, o := range l.Ops() {
		out[o.Origin] = max(out[o.Origin], o.Seq)
	}
	return out
}

// Runs one after another on one lease folder are one origin: its seqs
// continue (1, 2, 3...) and the path's coverage has one entry.
func TestLease_RunsReuseOneOrigin(t *testing.T) {
	dir := t.TempDir()
	leases, disk := filepath.Join(dir, "leases"), filepath.Join(dir, "disk")
	var origin string
	for run := 1; run <= 5; run++ {
		c, err := New(leaseConfig(t, leases, disk))
		if err != nil {
			t.Fatal(err)
		}
		if run == 1 {
			origin = c.Origin()
		} else if c.Origin() != origin {
			t.Fatalf("run %d: origin %s, want %s", run, c.Origin(), origin)
		}
		if got := mustPush(t, c, "c", "counter", "/n", "1"); string(got) != fmt.Sprint(run) {
			t.Fatalf("run %d: value %s", run, got)
		}
		if _, err := c.Sync(context.Background(), "c", "counter", "/n", true); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	c := mustClient(t, leaseConfig(t, leases, disk))
	l, err := c.Log(context.Background(), "c", "counter", "/n")
	if err != nil {
		t.Fatal(err)
	}
	if got := originsOf(l); len(got) != 1 || got[origin] != 5 {
		t.Fatalf("origins of the path %v, want {%s: 5}", got, origin)
	}
}

// Clients open at the same time never share a slot; a slot freed by one
// that closed is the next one's, the lowest first.
func TestLease_ConcurrentClientsNeverShare(t *testing.T) {
	leases := filepath.Join(t.TempDir(), "leases")
	const n = 8
	clients := make([]*Client, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := testConfig(t)
			cfg.OriginDir = leases
			cfg.LocalTable = map[string][]LocalStore{"c": {{InMemory: true}}}
			clients[i], errs[i] = New(cfg)
		}()
	}
	wg.Wait()
	seen := make(map[string]int)
	for i, c := range clients {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		seen[c.Origin()]++
		if c.lease.slot >= n {
			t.Errorf("slot %d taken with %d clients", c.lease.slot, n)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d clients racing for leases got %d origins: %v", n, len(seen), seen)
	}
	freed := clients[3]
	freedOrigin, freedSlot := freed.Origin(), freed.lease.slot
	freed.Close()
	cfg := testConfig(t)
	cfg.OriginDir = leases
	cfg.LocalTable = map[string][]LocalStore{"c": {{InMemory: true}}}
	again := mustClient(t, cfg)
	if again.Origin() != freedOrigin || again.lease.slot != freedSlot {
		t.Fatalf("after slot %d was freed, a new client took slot %d (%s), want the freed one", freedSlot, again.lease.slot, again.Origin())
	}
	for i, c := range clients {
		if i != 3 {
			c.Close()
		}
	}
}

// A run killed after it made an op and before any store took it: the op
// is in the lease's journal, the next run sends it, and its own op takes
// the next seq; nothing is lost, nothing reused, no gap.
func TestLease_OpOfAKilledRunSentByTheNext(t *testing.T) {
	dir := t.TempDir()
	leases, disk := filepath.Join(dir, "leases"), filepath.Join(dir, "disk")
	c := mustClient(t, leaseConfig(t, leases, disk))
	mustPush(t, c, "c", "counter", "/k", "1") // seq 1, on disk
	c.Close()

	// The killed run: it took the lease and journaled seq 2, then died.
	l, err := acquireLease(leases, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	k := pathKey{"c", "counter", "/k"}
	o, _ := oplog.NewOp(time.Now().UnixMilli(), l.origin, l.nextSeq(k), json.RawMessage(`10`))
	if o.Seq != 2 {
		t.Fatalf("the killed run's op has seq %d, want 2", o.Seq)
	}
	if err := l.record(k, o); err != nil {
		t.Fatal(err)
	}
	l.journal.Close()
	l.lock.Close() // the process dies: its flock goes with it

	c2 := mustClient(t, leaseConfig(t, leases, disk))
	if got := mustPush(t, c2, "c", "counter", "/k", "100"); string(got) != "111" {
		t.Fatalf("value %s, want 111 (the killed run's op counts once)", got)
	}
	eventually(t, 5*time.Second, func() error {
		if p := c2.lease.pending(k); len(p) != 0 {
			return fmt.Errorf("%d ops still pending", len(p))
		}
		return nil
	})
	c2.Close()
	svc, err := netstore.Open(netstore.Config{Dir: disk, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sl, _ := svc.Log(localUser, "counter", "/c/k")
	var seqs []uint64
	for _, op := range sl.Ops() {
		seqs = append(seqs, op.Seq)
	}
	if fmt.Sprint(seqs) != "[1 2 3]" {
		t.Fatalf("the store holds seqs %v of the origin, want [1 2 3]", seqs)
	}
}

// A journal cut in the middle of an append (a crash) loses only that op,
// which never left the process; a journal damaged elsewhere is left alone
// and another slot used, never a guess at its seqs.
func TestLease_TornAndDamagedJournals(t *testing.T) {
	leases := filepath.Join(t.TempDir(), "leases")
	l, err := acquireLease(leases, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	k := pathKey{"c", "counter", "/t"}
	o, _ := oplog.NewOp(1000, l.origin, 1, json.RawMessage(`1`))
	if err := l.record(k, o); err != nil {
		t.Fatal(err)
	}
	origin := l.origin
	l.journal.Write([]byte(`{"channel":"c","type":"counter","path":"/t","op":{"da`))
	l.close()
	l, err = acquireLease(leases, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if l.origin != origin || l.nextSeq(k) != 2 || len(l.pending(k)) != 1 {
		t.Fatalf("after a torn append: origin %s next seq %d pending %d; want %s, 2, 1", l.origin, l.nextSeq(k), len(l.pending(k)), origin)
	}
	l.close()
	os.WriteFile(filepath.Join(leases, "slot-0.json"), []byte("{\"origin\":\""+origin+"\"}\nnot json\n{}\n"), 0o600)
	var logs []string
	l, err = acquireLease(leases, func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) })
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if l.slot != 1 || l.origin == origin {
		t.Fatalf("with slot 0 damaged: slot %d origin %s, want slot 1 and a new origin", l.slot, l.origin)
	}
	if len(logs) != 1 || !strings.Contains(logs[0], "damaged") {
		t.Fatalf("logs %q", logs)
	}
}

// Origin and OriginDir together are refused.
func TestLease_OriginAndOriginDirExclusive(t *testing.T) {
	cfg := testConfig(t)
	cfg.Origin, cfg.OriginDir = "me", t.TempDir()
	if _, err := New(cfg); err == nil {
		t.Fatal("New took both Origin and OriginDir")
	}
}

// A run that ends with its op pending (the store went away after the
// read): the next run on the lease sends it once the store is back.
func TestLease_PendingOpOfAnEndedRun(t *testing.T) {
	w := newWorld(t, 1)
	leases := filepath.Join(t.TempDir(), "leases")
	cfg := w.config()
	cfg.OriginDir = leases
	cfg.CallTimeout = 500 * time.Millisecond
	a := w.client(cfg)
	mustPush(t, a, "c", "counter", "/p", "1")
	w.cl.Stores[0].Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := a.Push(ctx, "c", "counter", "/p", json.RawMessage(`10`))
	cancel()
	if !errors.Is(err, ErrPending) {
		t.Fatalf("push with the store away: %v, want ErrPending", err)
	}
	a.Close()
	if err := w.cl.Stores[0].Start(); err != nil {
		t.Fatal(err)
	}
	b := w.client(cfg)
	if b.Origin() != a.Origin() {
		t.Fatalf("origins %s then %s", a.Origin(), b.Origin())
	}
	eventually(t, 10*time.Second, func() error {
		v, _ := oplog.Reduce(oplog.Counter, w.storeLog(0, "counter", "/p"))
		if string(v) != "11" {
			return fmt.Errorf("store value %s, want 11", v)
		}
		return nil
	})
	mustPush(t, b, "c", "counter", "/p", "100")
	if _, err := b.Sync(context.Background(), "c", "counter", "/p", true); err != nil {
		t.Fatal(err)
	}
	l := w.storeLog(0, "counter", "/p")
	if got := originsOf(l); len(got) != 1 || got[a.Origin()] != 3 {
		t.Fatalf("origins %v, want {%s: 3}", got, a.Origin())
	}
	if v, _ := oplog.Reduce(oplog.Counter, l); string(v) != "111" {
		t.Fatalf("value %s, want 111", v)
	}
}

// A lease left by a crashed process (killed with SIGKILL, holding the slot
// and an op no store took) is the next run's: same origin, the op sent.
func TestLease_CrashedProcessSlotReclaimed(t *testing.T) {
	if os.Getenv("GIGFS_LEASE_HELPER") != "" {
		leaseHelper()
		return
	}
	dir := t.TempDir()
	leases, disk := filepath.Join(dir, "leases"), filepath.Join(dir, "disk")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLease_CrashedProcessSlotReclaimed$")
	cmd.Env = append(os.Environ(), "GIGFS_LEASE_HELPER="+leases)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("helper: %v", err)
	}
	origin := strings.TrimSpace(strings.TrimPrefix(line, "held "))
	// While it lives, its slot is not ours.
	c := mustClient(t, leaseConfig(t, leases, disk))
	if c.Origin() == origin {
		t.Fatal("a live process's slot was taken")
	}
	c.Close()
	cmd.Process.Kill()
	cmd.Wait()
	c = mustClient(t, leaseConfig(t, leases, disk))
	if c.Origin() != origin {
		t.Fatalf("after the crash: origin %s, want the crashed run's %s", c.Origin(), origin)
	}
	if got := mustPush(t, c, "c", "counter", "/crash", "1"); string(got) != "8" {
		t.Fatalf("value %s, want 8 (the crashed run's 7, then 1)", got)
	}
}

// leaseHelper is the process the crash test kills: it takes a lease,
// journals an op, says so, and waits to be killed.
func leaseHelper() {
	l, err := acquireLease(os.Getenv("GIGFS_LEASE_HELPER"), func(string, ...any) {})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	k := pathKey{"c", "counter", "/crash"}
	o, _ := oplog.NewOp(time.Now().UnixMilli(), l.origin, l.nextSeq(k), json.RawMessage(`7`))
	if err := l.record(k, o); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("held", l.origin)
	select {}
}

// A run that reaches only a store lacking the previous run's ops still
// continues the seqs: the lease remembers them, so no (origin, seq) is
// ever two ops (a store holding both would refuse one, and lose it).
func TestLease_SeqsNeverReusedWhenAStoreIsAway(t *testing.T) {
	w := newWorld(t, 2)
	cfg := w.config()
	cfg.OriginDir = filepath.Join(t.TempDir(), "leases")
	cfg.CallTimeout = 500 * time.Millisecond
	w.proxies[1].Cut()
	a := w.client(cfg)
	mustPush(t, a, "c", "counter", "/r", "1") // on store 0 only
	a.Close()
	w.proxies[1].Heal()
	w.proxies[0].Cut()
	b := w.client(cfg)
	mustPush(t, b, "c", "counter", "/r", "10") // on store 1 only
	b.Close()
	w.proxies[0].Heal()
	c := w.client(cfg)
	eventually(t, 10*time.Second, func() error {
		rep, err := c.Sync(context.Background(), "c", "counter", "/r", false)
		if err != nil {
			return err
		}
		for _, s := range rep.Stores {
			if len(s.Refused) > 0 {
				t.Fatalf("%s refused %v", s.Store, s.Refused)
			}
		}
		for i := range w.cl.Stores {
			if v, _ := oplog.Reduce(oplog.Counter, w.storeLog(i, "counter", "/r")); string(v) != "11" {
				return fmt.Errorf("store %d value %s, want 11", i, v)
			}
		}
		return nil
	})
}

// A channel only in memory dies with the run: its ops are not the lease's
// (they would be sent again into the next run's empty store, and the
// lease's seqs would start there after a gap no prune can cover).
func TestLease_MemoryOnlyChannelNotLeased(t *testing.T) {
	dir := t.TempDir()
	cfg := leaseConfig(t, filepath.Join(dir, "leases"), filepath.Join(dir, "disk"))
	cfg.LocalTable["scratch"] = []LocalStore{{InMemory: true}}
	for run := 0; run < 2; run++ {
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustPush(t, c, "scratch", "counter", "/m", "1"); string(got) != "1" {
			t.Fatalf("run %d: value %s, want 1 (a new memory store)", run, got)
		}
		rep, err := c.Sync(context.Background(), "scratch", "counter", "/m", true)
		if err != nil || !rep.Agreed || rep.Pruned == "" {
			t.Fatalf("run %d: prune %+v, %v", run, rep, err)
		}
		if p := c.lease.pendingPaths(); len(p) != 0 {
			t.Fatalf("run %d: pending in the lease: %v", run, p)
		}
		c.Close()
	}
}

// An op every store refused is dropped from the lease: not pending (a
// later run does not send it), and its seq is used again when it was the
// last one, so the origin's seqs keep no gap; the journal says the same
// to the next holder, compacted or not.
func TestLease_DropFreesTheLastSeq(t *testing.T) {
	leases := filepath.Join(t.TempDir(), "leases")
	l, err := acquireLease(leases, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	k := pathKey{"c", "counter", "/d"}
	mk := func(seq uint64) oplog.Op {
		o, _ := oplog.NewOp(1000+int64(seq), l.origin, seq, json.RawMessage(`1`))
		return o
	}
	if err := l.record(k, mk(1)); err != nil {
		t.Fatal(err)
	}
	if err := l.drop(k, 1); err != nil {
		t.Fatal(err)
	}
	if l.nextSeq(k) != 1 || len(l.pending(k)) != 0 {
		t.Fatalf("after dropping the last op: next seq %d, pending %d; want 1, 0", l.nextSeq(k), len(l.pending(k)))
	}
	// Two in flight, the first refused: its seq cannot be used again.
	l.record(k, mk(1))
	l.record(k, mk(2))
	l.drop(k, 1)
	check := func(when string) {
		t.Helper()
		if p := l.pending(k); l.nextSeq(k) != 3 || len(p) != 1 || p[0].Seq != 2 {
			t.Fatalf("%s: next seq %d, pending %v; want 3, [seq 2]", when, l.nextSeq(k), p)
		}
	}
	check("after dropping the first of two")
	l.close()
	if l, err = acquireLease(leases, t.Logf); err != nil {
		t.Fatal(err)
	}
	check("read back from the journal")
	l.mu.Lock()
	err = l.rewrite()
	l.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	l.close()
	if l, err = acquireLease(leases, t.Logf); err != nil {
		t.Fatal(err)
	}
	check("read back after compaction")
	l.close()
}
