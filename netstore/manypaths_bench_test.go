package netstore

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gigfs.io/gigfs/oplog"
)

// benchEnv reads a size from the environment, or def.
func benchEnv(tb testing.TB, name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		tb.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// procStatus returns a field of /proc/self/status in MiB (0 elsewhere).
func procStatus(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte(field+":")); ok {
			kb, _ := strconv.ParseFloat(string(bytes.Fields(rest)[0]), 64)
			return kb / 1024
		}
	}
	return 0
}

func pct(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[int(float64(len(d)-1)*p)].Microseconds()) / 1000
}

// memPeaks samples the process's memory while a benchmark runs: the
// peak live heap (as the last GC marked it), the peak estimate of the
// store's oplogs, and with a profile name, a heap profile written at each
// new peak of the live heap (at most one a second), so that the file
// ends up holding the profile at the peak.
type memPeaks struct {
	live, est atomic.Int64
	// At the peak of what the runtime holds from the system (total less
	// released: what its soft limit bounds), how that splits: heap
	// objects (live and garbage not yet swept), free slots in the heap's
	// spans (the holes garbage and evictions leave), and the rest
	// (stacks, the collector's metadata, other runtime memory).
	held, objects, unused, other atomic.Int64
	stop                         chan struct{}
	done                         chan struct{}
}

func samplePeaks(tb testing.TB, s *Service, profile string) *memPeaks {
	m := &memPeaks{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"},
			{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var profiled int64
		var last time.Time
		for {
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			live := int64(sample[0].Value.Uint64())
			if live > m.live.Load() {
				m.live.Store(live)
			}
			total, released := int64(sample[1].Value.Uint64()), int64(sample[2].Value.Uint64())
			if held := total - released; held > m.held.Load() {
				objects, unused, free := int64(sample[3].Value.Uint64()), int64(sample[4].Value.Uint64()), int64(sample[5].Value.Uint64())
				m.held.Store(held)
				m.objects.Store(objects)
				m.unused.Store(unused)
				m.other.Store(held - objects - unused - free)
			}
			if est := s.OplogBytes(); est > m.est.Load() {
				m.est.Store(est)
			}
			if profile != "" && live > profiled+profiled/20 && time.Since(last) >= time.Second {
				profiled, last = live, time.Now()
				f, err := os.Create(profile)
				if err != nil {
					tb.Error(err)
					return
				}
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}()
	return m
}

func (m *memPeaks) end() {
	close(m.stop)
	<-m.done
}

// BenchmarkStoreManyPaths pushes GIGFS_BENCH_OPS ops (default 100,000)
// over GIGFS_BENCH_PATHS paths (default 10,000) into one store, from 16
// writers in pushes of 10 ops to 10 paths, then reads 10,000 random paths
// from 4 readers; GIGFS_BENCH_MEM sets the store's memory budget (default
// DefaultMemBudget; -1, none: the store keeps every oplog it opened, as it
// did before the budget). It reports the process's RSS (now and peak), the
// live heap after a GC, that heap per path ever opened, the peak live heap
// and the peak estimate of the oplogs during the run, and push and read
// latencies (and the longest push: one that waited for room). With a budget it checks the bound: the peak RSS is within
// the budget plus DefaultMemOverhead (what gig-store's soft memory limit
// is by default). GIGFS_BENCH_PROFILE names a file for the heap profile
// at the peak of the live heap. The size:
//
//	GIGFS_BENCH_OPS=1000000 GIGFS_BENCH_PATHS=100000 go test ./netstore -run '^$' -bench StoreManyPaths -benchtime 1x -timeout 2h
func BenchmarkStoreManyPaths(b *testing.B) {
	nOps := benchEnv(b, "GIGFS_BENCH_OPS", 100_000)
	nPaths := benchEnv(b, "GIGFS_BENCH_PATHS", 10_000)
	budget := benchEnv(b, "GIGFS_BENCH_MEM", DefaultMemBudget)
	const writers, perPush, readers, reads = 16, 10, 4, 10_000
	for range b.N {
		// As gig-store does: the soft memory limit is the budget plus
		// DefaultMemOverhead (unless GOMEMLIMIT is set).
		var limit int64
		if budget > 0 {
			limit, _ = SetMemoryLimit(budget, 0)
			defer debug.SetMemoryLimit(math.MaxInt64)
		}
		s, err := Open(Config{Dir: b.TempDir(), MemBudget: budget, MemLimit: limit, Logf: b.Logf})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.AddUser("bench"); err != nil {
			b.Fatal(err)
		}
		peaks := samplePeaks(b, s, os.Getenv("GIGFS_BENCH_PROFILE"))
		rounds := int(nOps / nPaths)
		pushLat := make([][]time.Duration, writers)
		var wg sync.WaitGroup
		start := time.Now()
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Writer w owns the paths p ≡ w (mod writers); round r
				// gives each of them its op r+1.
				var mine []int
				for p := w; p < int(nPaths); p += writers {
					mine = append(mine, p)
				}
				for r := range rounds {
					for i := 0; i < len(mine); i += perPush {
						var recs []Record
						for _, p := range mine[i:min(i+perPush, len(mine))] {
							o, err := oplog.NewOp(int64(1_700_000_000_000+r), "bench-writer", uint64(r+1), []byte(`{"n":`+strconv.Itoa(p)+`}`))
							if err != nil {
								b.Error(err)
								return
							}
							recs = append(recs, Record{Type: "lww", Path: fmt.Sprintf("/c/d%03d/p%d", p%1000, p), Op: o})
						}
						t0 := time.Now()
						res, err := s.Push(context.Background(), "bench", recs)
						pushLat[w] = append(pushLat[w], time.Since(t0))
						if err != nil {
							b.Error(err)
							return
						}
						for _, x := range res {
							if x.Outcome() != oplog.Accepted {
								b.Errorf("push: %v", x)
								return
							}
						}
					}
				}
			}()
		}
		wg.Wait()
		pushTime := time.Since(start)
		readLat := make([][]time.Duration, readers)
		for rd := range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(rd), 7))
				for range reads / readers {
					p := rng.IntN(int(nPaths))
					t0 := time.Now()
					data, _, err := s.Read("bench", "lww", fmt.Sprintf("/c/d%03d/p%d", p%1000, p))
					readLat[rd] = append(readLat[rd], time.Since(t0))
					if err != nil {
						b.Error(err)
						return
					}
					if n := bytes.Count(data, []byte{'\n'}); n != rounds+1 {
						b.Errorf("read p%d: %d records, want %d", p, n, rounds+1)
						return
					}
				}
			}()
		}
		wg.Wait()
		hwm := procStatus("VmHWM")
		peaks.end()
		if err := s.wal.flush(); err != nil { // what is left dirty goes too
			b.Fatal(err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		debug.FreeOSMemory()
		rss := procStatus("VmRSS")
		b.ReportMetric(float64(nOps)/pushTime.Seconds(), "ops/s")
		b.ReportMetric(pct(slices.Concat(pushLat...), 0.5), "push-p50-ms")
		b.ReportMetric(pct(slices.Concat(pushLat...), 0.99), "push-p99-ms")
		b.ReportMetric(pct(slices.Concat(pushLat...), 1), "push-max-ms")
		b.ReportMetric(pct(slices.Concat(readLat...), 0.5), "read-p50-ms")
		b.ReportMetric(pct(slices.Concat(readLat...), 0.99), "read-p99-ms")
		b.ReportMetric(hwm, "peak-RSS-MiB")
		b.ReportMetric(rss, "RSS-MiB")
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(ms.HeapAlloc)/float64(nPaths), "heap-B/path")
		b.ReportMetric(float64(s.OplogBytes())/(1<<20), "est-MiB")
		b.ReportMetric(float64(s.OpenOplogs()), "open")
		b.ReportMetric(float64(s.OplogEvictions()), "evictions")
		b.ReportMetric(float64(s.PushWaits()), "push-waits")
		b.ReportMetric(float64(peaks.live.Load())/(1<<20), "peak-live-MiB")
		b.ReportMetric(float64(peaks.est.Load())/(1<<20), "peak-est-MiB")
		b.ReportMetric(float64(peaks.held.Load())/(1<<20), "peak-held-MiB")
		bound := "none (no budget)"
		if budget > 0 {
			limit := float64(limit) / (1 << 20)
			b.ReportMetric(limit, "bound-MiB")
			bound = fmt.Sprintf("%.0f MiB (budget %.0f MiB + fixed overhead %.0f MiB, the soft memory limit)", limit, float64(budget)/(1<<20), limit-float64(budget)/(1<<20))
			if hwm > limit {
				b.Errorf("peak RSS %.0f MiB over the bound %s", hwm, bound)
			}
		}
		b.Logf("%d ops over %d paths: peak RSS %.0f MiB, bound %s; peak live heap %.0f MiB, peak estimate %.0f MiB; after: live heap %.0f MiB, RSS %.0f MiB; push p50 %.1f p99 %.1f ms, read p50 %.3f p99 %.3f ms; %.0f ops/s",
			nOps, nPaths, hwm, bound, float64(peaks.live.Load())/(1<<20), float64(peaks.est.Load())/(1<<20), float64(ms.HeapAlloc)/(1<<20), rss,
			pct(slices.Concat(pushLat...), 0.5), pct(slices.Concat(pushLat...), 0.99), pct(slices.Concat(readLat...), 0.5), pct(slices.Concat(readLat...), 0.99), float64(nOps)/pushTime.Seconds())
		b.Logf("at the peak of the memory the runtime held (%.0f MiB): heap objects %.0f MiB, free slots in the heap's spans %.0f MiB, other than the heap %.0f MiB",
			float64(peaks.held.Load())/(1<<20), float64(peaks.objects.Load())/(1<<20), float64(peaks.unused.Load())/(1<<20), float64(peaks.other.Load())/(1<<20))
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
