package netstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gigfs.io/gigfs/oplog"
)

// openTiny opens a store whose memory budget evicts every oplog nobody
// pins, with no background flush: the test flushes.
func openTiny(t *testing.T, dir string) *Service {
	t.Helper()
	s, err := Open(Config{Dir: dir, MemBudget: 1, FlushInterval: -1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	s.cache.flush = nil // no flush on demand either
	if _, err := s.AddUser("kim"); err != nil && !errors.Is(err, ErrUserExists) {
		t.Fatal(err)
	}
	return s
}

func pushAll(t *testing.T, s *Service, recs []Record) {
	t.Helper()
	res, err := s.Push(context.Background(), "kim", recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Outcome() != oplog.Accepted {
			t.Fatalf("record %d: %v", i, r)
		}
	}
}

func opsIn(t *testing.T, s *Service, path string) int {
	t.Helper()
	l, err := s.Log("kim", "counter", path)
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Ops())
}

// An oplog whose records are only in the write-ahead log stays in memory
// whatever the budget: evicted, it would load again from a file without
// them. Once flushed, it goes, and loads again with all of them.
func TestCache_DirtyOplogIsNotEvicted(t *testing.T) {
	s := openTiny(t, t.TempDir())
	defer s.Close()
	pushAll(t, s, counterRecs(t, "o", 1, 3, "/c/a"))
	if n := opsIn(t, s, "/c/a"); n != 3 {
		t.Fatalf("before the flush: %d ops, want 3", n)
	}
	if n := s.OpenOplogs(); n != 1 {
		t.Fatalf("%d oplogs open with records only in the write-ahead log, want 1", n)
	}
	if err := s.wal.flush(); err != nil {
		t.Fatal(err)
	}
	if n := s.OpenOplogs(); n != 0 {
		t.Fatalf("%d oplogs open after the flush, want 0 (budget of 1 byte)", n)
	}
	loads := s.OplogLoads()
	if n := opsIn(t, s, "/c/a"); n != 3 {
		t.Fatalf("after eviction: %d ops, want 3", n)
	}
	if s.OplogLoads() != loads+1 || s.OplogEvictions() == 0 {
		t.Fatalf("loads %d -> %d, evictions %d: the oplog was not evicted and loaded again", loads, s.OplogLoads(), s.OplogEvictions())
	}
}

// A version names one content of an oplog for the whole run of the store,
// through evictions: an oplog loaded again never reuses a version it had.
func TestCache_VersionNeverRepeatsAcrossEviction(t *testing.T) {
	s := openTiny(t, t.TempDir())
	defer s.Close()
	seen := make(map[uint64]string)
	for seq := 1; seq <= 5; seq++ {
		pushAll(t, s, counterRecs(t, "o", seq, seq, "/c/v"))
		for range 2 {
			data, ver, err := s.Read("kim", "counter", "/c/v")
			if err != nil {
				t.Fatal(err)
			}
			if old, ok := seen[ver]; ok && old != string(data) {
				t.Fatalf("version %d named two contents:\n%s\n%s", ver, old, data)
			}
			seen[ver] = string(data)
		}
		if err := s.wal.flush(); err != nil {
			t.Fatal(err)
		}
		if n := s.OpenOplogs(); n != 0 {
			t.Fatalf("%d oplogs open after a flush", n)
		}
	}
}

// Pushers and readers at once on a store that evicts every idle oplog
// and flushes all the time: every acknowledged op is in every later read,
// nothing is lost, and a restart finds them all.
func TestCache_EvictWhilePushingAndReading(t *testing.T) {
	dir := t.TempDir()
	s := openTiny(t, dir)
	const (
		paths   = 8
		pushers = 4
		perPush = 60
		readers = 3
	)
	acked := make([]atomic.Int64, paths) // ops acknowledged per path
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 64)
	var flushes atomic.Int64
	wg.Add(1)
	go func() { // the flusher, as often as it can
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.wal.flush(); err != nil {
				errs <- err
				return
			}
			flushes.Add(1)
		}
	}()
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := rng.IntN(paths)
				want := acked[p].Load()
				data, _, err := s.Read("kim", "counter", fmt.Sprintf("/c/p%d", p))
				if err != nil {
					if want == 0 {
						continue // not made yet
					}
					errs <- err
					return
				}
				l, err := oplog.ParseLog(data)
				if err != nil {
					errs <- err
					return
				}
				if got := int64(len(l.Ops())); got < want {
					errs <- fmt.Errorf("read of p%d: %d ops, %d acknowledged before the read", p, got, want)
					return
				}
			}
		}()
	}
	var pw sync.WaitGroup
	for w := range pushers {
		pw.Add(1)
		go func() {
			defer pw.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			seqs := make([]int, paths)
			for range perPush {
				p := rng.IntN(paths)
				seqs[p]++
				recs := counterRecs(t, fmt.Sprintf("w%d", w), seqs[p], seqs[p], fmt.Sprintf("/c/p%d", p))
				res, err := s.Push(context.Background(), "kim", recs)
				if err == nil && res[0].Outcome() != oplog.Accepted {
					err = fmt.Errorf("push: %v", res[0])
				}
				if err != nil {
					errs <- err
					return
				}
				acked[p].Add(1)
			}
		}()
	}
	pw.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s.OplogEvictions() == 0 || s.OplogLoads() <= paths {
		t.Fatalf("loads %d, evictions %d: nothing was evicted and loaded again", s.OplogLoads(), s.OplogEvictions())
	}
	t.Logf("loads %d, evictions %d, flushes %d", s.OplogLoads(), s.OplogEvictions(), flushes.Load())
	total := 0
	for p := range paths {
		n := opsIn(t, s, fmt.Sprintf("/c/p%d", p))
		if int64(n) != acked[p].Load() {
			t.Fatalf("p%d: %d ops, %d acknowledged", p, n, acked[p].Load())
		}
		total += n
	}
	if total != pushers*perPush {
		t.Fatalf("%d ops in all, want %d", total, pushers*perPush)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTiny(t, dir)
	defer s.Close()
	for p := range paths {
		if n := opsIn(t, s, fmt.Sprintf("/c/p%d", p)); int64(n) != acked[p].Load() {
			t.Fatalf("after a restart, p%d: %d ops, %d acknowledged", p, n, acked[p].Load())
		}
	}
}

// Past the budget with nothing it may evict (every oplog over it has
// records only in the write-ahead log), a push waits for the next flush
// rather than grow the store's memory.
func TestCache_PushOverBudgetWaitsForFlush(t *testing.T) {
	s := openTiny(t, t.TempDir())
	defer s.Close()
	s.cache.flush = func() {}                        // asks, but only the test flushes
	pushAll(t, s, counterRecs(t, "o", 1, 1, "/c/a")) // dirty: over a budget of 1 byte
	done := make(chan error, 1)
	go func() {
		_, err := s.Push(context.Background(), "kim", counterRecs(t, "o", 1, 1, "/c/b"))
		done <- err
	}()
	for s.PushWaits() == 0 {
		select {
		case err := <-done:
			t.Fatalf("a push over the budget went on without a flush (%v)", err)
		default:
			runtime.Gosched()
		}
	}
	select {
	case err := <-done:
		t.Fatalf("a push over the budget went on without a flush (%v)", err)
	default:
	}
	if err := s.wal.flush(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := opsIn(t, s, "/c/b"); n != 1 {
		t.Fatalf("/c/b: %d ops after the wait, want 1", n)
	}
}

// When the budget bites, the store says so, naming the flag.
func TestCache_BudgetLogged(t *testing.T) {
	var log logLines
	s, err := Open(Config{Dir: t.TempDir(), MemBudget: 1, FlushInterval: -1, Logf: log.logf})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.cache.flush = nil
	if _, err := s.AddUser("kim"); err != nil {
		t.Fatal(err)
	}
	pushAll(t, s, counterRecs(t, "o", 1, 2, "/c/a"))
	if err := s.wal.flush(); err != nil {
		t.Fatal(err)
	}
	if s.OplogEvictions() != 1 {
		t.Fatalf("%d evictions, want 1", s.OplogEvictions())
	}
	if !log.has("memory budget (-mem 1) reached") {
		t.Fatalf("no log line about the budget in %q", log.all())
	}
}

// logLines keeps what a store logs, for tests to look for a line.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
}

// has reports whether a line contains s.
func (l *logLines) has(s string) bool {
	return strings.Contains(strings.Join(l.all(), "\n"), s)
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}
