package netstore

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"gigfs.io/gigfs/oplog"
)

// liveHeap is the heap in use after collections.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// evictAll drops every idle oplog and returns the estimate they had and
// the heap their going freed.
func evictAll(s *Service) (est, freed int64) {
	est = s.OplogBytes()
	before := liveHeap()
	s.cache.mu.Lock()
	budget := s.cache.budget
	s.cache.budget = 1
	s.cache.mu.Unlock()
	s.cache.trim()
	s.cache.mu.Lock()
	s.cache.budget = budget
	s.cache.mu.Unlock()
	return est, before - liveHeap()
}

// The store's estimate of its oplogs' memory is honest: what evicting
// them frees from the heap is never more than the estimate, and not much
// less, for small and long oplogs, as pushed and as loaded from disk (the
// budget counts by it: an undercount lets the store grow past it).
func TestCache_EstimateCoversTheHeap(t *testing.T) {
	for _, sz := range []struct{ paths, ops int }{{800, 1}, {500, 10}, {60, 100}} {
		t.Run(fmt.Sprintf("%d ops", sz.ops), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(Config{Dir: dir, MemBudget: -1, FlushInterval: -1, Logf: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddUser("kim"); err != nil {
				t.Fatal(err)
			}
			var recs []Record
			for p := range sz.paths {
				for seq := 1; seq <= sz.ops; seq++ {
					o, err := oplog.NewOp(int64(1_700_000_000_000+seq), "2f1c7a52-52a1-4d1e-9a55-6e1f0f2b9c11", uint64(seq), []byte(fmt.Sprintf(`{"n":%d}`, p)))
					if err != nil {
						t.Fatal(err)
					}
					recs = append(recs, Record{Type: "lww", Path: fmt.Sprintf("/c/d%d/p%d", p%10, p), Op: o})
				}
				if len(recs) >= 1000 || p == sz.paths-1 {
					pushAll(t, s, recs)
					recs = nil
				}
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			s.cache.budget = 1 << 40 // counted from here, evicted by evictAll
			check := func(what string) {
				t.Helper()
				est, freed := evictAll(s)
				t.Logf("%s: estimate %d B per oplog, heap freed %d B per oplog", what, est/int64(sz.paths), freed/int64(sz.paths))
				if n := s.OpenOplogs(); n != 0 {
					t.Fatalf("%d oplogs still open", n)
				}
				if slack := int64(16 << 10); est+slack < freed || est > freed+freed/4+slack {
					t.Errorf("%s: the estimate (%d bytes) is not within [1, 1.25] times the heap the oplogs took (%d bytes)", what, est, freed)
				}
			}
			check("pushed")
			for p := range sz.paths {
				if _, _, err := s.Read("kim", "lww", fmt.Sprintf("/c/d%d/p%d", p%10, p)); err != nil {
					t.Fatal(err)
				}
			}
			check("loaded and read")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A live heap near the soft memory limit (the estimate undercounts, or
// memory outside the oplogs grew) takes the excess off the budget: the
// store evicts before the limit is reached, says so, and gives the budget
// back once the heap is down.
func TestCache_EvictsBeforeTheMemoryLimit(t *testing.T) {
	var log logLines
	s, err := Open(Config{Dir: t.TempDir(), MemBudget: -1, FlushInterval: -1, Logf: log.logf})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddUser("kim"); err != nil {
		t.Fatal(err)
	}
	for p := range 40 {
		pushAll(t, s, counterRecs(t, "o", 1, 3, fmt.Sprintf("/c/p%d", p)))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	c := s.cache
	all := s.OplogBytes()
	c.budget, c.limit = all, all+64<<10 // every oplog fits; the high mark is 32 KiB under the limit
	if c.pressure(all) {
		t.Fatal("a live heap under the high mark squeezed the budget")
	}
	if !c.pressure(c.limit) {
		t.Fatal("a live heap at the limit did not ask for a trim")
	}
	c.trim()
	if got, want := s.OplogBytes(), all-32<<10; got > want || s.OplogEvictions() == 0 {
		t.Fatalf("at the limit: %d bytes of oplogs, %d evicted; want at most %d", got, s.OplogEvictions(), want)
	}
	if !log.has("well under the soft memory limit") {
		t.Fatalf("no log line about the soft memory limit in %q", log.all())
	}
	squeezed := c.squeeze.Load()
	c.pressure(0)
	if c.squeeze.Load() >= squeezed {
		t.Fatalf("a low live heap left the squeeze at %d (was %d)", c.squeeze.Load(), squeezed)
	}
}

// What is live besides the oplogs counts before the live heap reaches the
// high mark: the cache is kept to what leaves the heap under the mark, so
// that it stops growing early, not once the mark is passed (at 1M ops over
// 100k paths, the live heap overshot the mark by 40 MiB while the excess
// was taken off only after it was there).
func TestCache_KeepsRoomForWhatElseIsLive(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), MemBudget: -1, FlushInterval: -1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddUser("kim"); err != nil {
		t.Fatal(err)
	}
	for p := range 4 {
		pushAll(t, s, counterRecs(t, "o", 1, 3, fmt.Sprintf("/c/p%d", p)))
	}
	c := s.cache
	bytes := s.OplogBytes()
	c.budget, c.limit = 64<<20, 128<<20
	high := c.highMark()
	other := high / 2
	if c.pressure(bytes + other) {
		t.Fatal("a cache within what it may take asked for a trim")
	}
	if got, want := c.target(), high-other; got > want {
		t.Fatalf("live heap %d under the high mark %d, %d of it not oplogs: the oplogs may still take %d, want at most %d", bytes+other, high, other, got, want)
	}
	c.pressure(bytes) // nothing else is live any more: the budget comes back
	if got := c.target(); got <= high-other {
		t.Fatalf("the budget was not given back: %d", got)
	}
}

// With a soft memory limit, the store reads the heap after every
// collection, and stops once closed.
func TestCache_WatchesTheHeapAfterEachCollection(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), MemLimit: DefaultMemBudget + DefaultMemOverhead, FlushInterval: -1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	for s.cache.gcs.Load() < 2 {
		runtime.GC()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	n := s.cache.gcs.Load()
	for range 3 {
		runtime.GC()
	}
	// The cleanup of a collection may run late; none is armed after the
	// one that saw the cache closed.
	if got := s.cache.gcs.Load(); got > n+1 {
		t.Fatalf("the heap watch ran %d times after Close", got-n)
	}
}

// Pushes wait for a flush as soon as the oplogs that cannot be evicted
// are over the budget, not twice over it.
func TestCache_PushWaitsAtTheBudget(t *testing.T) {
	s := openTiny(t, t.TempDir())
	defer s.Close()
	s.cache.flush = func() {} // asks, but only the test flushes
	pushAll(t, s, counterRecs(t, "o", 1, 1, "/c/a"))
	one := s.OplogBytes() // a dirty oplog of one op
	s.cache.mu.Lock()
	s.cache.budget = one * 3 / 2
	s.cache.mu.Unlock()
	pushAll(t, s, counterRecs(t, "o", 1, 1, "/c/b")) // within the budget before it: no wait
	if s.PushWaits() != 0 {
		t.Fatalf("a push within the budget waited")
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Push(context.Background(), "kim", counterRecs(t, "o", 1, 1, "/c/c"))
		done <- err
	}()
	for s.PushWaits() == 0 {
		select {
		case err := <-done:
			t.Fatalf("a push with %d bytes of dirty oplogs over a budget of %d went on without a flush (%v)", s.OplogBytes(), one*3/2, err)
		default:
			runtime.Gosched()
		}
	}
	if err := s.wal.flush(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A push waiting at the budget goes on as soon as evictions bring the
// cache back within it, not only once the flush it waits for has ended: a
// flush of tens of thousands of oplogs takes seconds and frees them one
// by one. Here the flush never ends; the room comes from an oplog a
// request held and lets go.
func TestCache_PushWaitEndsOnceThereIsRoom(t *testing.T) {
	s := openTiny(t, t.TempDir())
	defer s.Close()
	s.cache.flush = func() {} // asks, but only the test flushes
	s.cache.mu.Lock()
	s.cache.budget = 1 << 40
	s.cache.mu.Unlock()
	pushAll(t, s, counterRecs(t, "o", 1, 1, "/c/a"))
	if err := s.wal.flush(); err != nil { // /c/a is in its file: it may go
		t.Fatal(err)
	}
	one := s.OplogBytes()
	u, err := s.user("kim")
	if err != nil {
		t.Fatal(err)
	}
	held, err := u.log("counter", "/c/a", false) // as a request holds it
	if err != nil {
		t.Fatal(err)
	}
	s.cache.mu.Lock()
	s.cache.budget = one * 3 / 2
	s.cache.mu.Unlock()
	pushAll(t, s, counterRecs(t, "o", 1, 1, "/c/b")) // dirty, and over the budget with /c/a
	done := make(chan error, 1)
	go func() {
		_, err := s.Push(context.Background(), "kim", counterRecs(t, "o", 1, 1, "/c/c"))
		done <- err
	}()
	for s.PushWaits() == 0 {
		select {
		case err := <-done:
			t.Fatalf("a push over the budget went on without room (%v)", err)
		default:
			runtime.Gosched()
		}
	}
	u.cache.unpin(held) // /c/a is evicted: the cache is within its budget
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := opsIn(t, s, "/c/c"); n != 1 {
		t.Fatalf("/c/c: %d ops after the wait, want 1", n)
	}
}
