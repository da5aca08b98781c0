package storefs

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gigfs.io/gigfs/internal/cputime"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

// BenchmarkPush9P pushes one op per write, durably, over 9P on loopback,
// from 1 and from 16 connections, all to one oplog (their fsyncs are
// shared) and each connection to its own oplog.
func BenchmarkPush9P(b *testing.B) {
	for _, conns := range []int{1, 16} {
		for _, shared := range []bool{true, false} {
			name := fmt.Sprintf("conns=%d/one-oplog=%v", conns, shared)
			b.Run(name, func(b *testing.B) {
				ts := startStore(b, netstore.Config{})
				token := ts.user("bench")
				remotes := dialRemotes(b, ts, token, conns)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for c := 0; c < conns; c++ {
					wg.Add(1)
					go func(c int) {
						defer wg.Done()
						path := "/shared"
						if !shared {
							path = fmt.Sprintf("/conn%d", c)
						}
						pushOps(b, remotes[c], fmt.Sprintf("c%d", c), path, func(uint64) bool { return next.Add(1) <= int64(b.N) })
					}(c)
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
				b.ReportMetric(float64(ts.svc.Syncs())/float64(b.N), "fsyncs/op")
			})
		}
	}
}

// BenchmarkStreamLatency measures the time from a push being sent to its
// event arriving on another connection's stream.
func BenchmarkStreamLatency(b *testing.B) {
	ts := startStore(b, netstore.Config{})
	token := ts.user("bench")
	ctx := context.Background()
	w, err := remote.Dial(ctx, ts.addr, "bench", token)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	sr, err := remote.OpenStream(ctx, ts.addr, "bench", token, "", 0)
	if err != nil {
		b.Fatal(err)
	}
	defer sr.Close()
	var clk oplog.Clock
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o, _ := oplog.NewOp(clk.Date(), "w", uint64(i+1), []byte(`1`))
		start := time.Now()
		got := make(chan error, 1)
		go func() { _, err := sr.Next(ctx); got <- err }()
		if _, err := w.Push(ctx, []netstore.Record{{Type: "counter", Path: "/lat", Op: o}}); err != nil {
			b.Fatal(err)
		}
		if err := <-got; err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkStreamFanout: 16 connections push to one oplog and 16 stream
// readers, one beside each, read the events of the other 15 (want the
// oplog, skip their own origin), as 16 clients of one user on one path
// do. One op is one push and its 15 deliveries; cpu-µs/op is the
// process's CPU time (store and readers share it).
func BenchmarkStreamFanout(b *testing.B) {
	const conns = 16
	ts := startStore(b, netstore.Config{})
	token := ts.user("bench")
	ctx := context.Background()
	perWriter := b.N/conns + 1
	remotes := dialRemotes(b, ts, token, conns)
	readers := make([]*remote.StreamReader, conns)
	for i := range readers {
		sr, err := remote.OpenStreamFiltered(ctx, ts.addr, srv9p.Trust{}, "bench", token, "", 0, []string{"want /c/shared", fmt.Sprintf("skip c%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		defer sr.Close()
		readers[i] = sr
	}
	var wg sync.WaitGroup
	cpu0 := cputime.Used()
	b.ResetTimer()
	for c := 0; c < conns; c++ {
		wg.Add(2)
		go func(c int) {
			defer wg.Done()
			pushOps(b, remotes[c], fmt.Sprintf("c%d", c), "/c/shared", func(seq uint64) bool { return seq <= uint64(perWriter) })
		}(c)
		go func(c int) {
			defer wg.Done()
			for got := 0; got < (conns-1)*perWriter; {
				ev, err := readers[c].Next(ctx)
				if err != nil {
					b.Errorf("stream: %v", err)
					return
				}
				if !ev.Mark() {
					got++
				}
			}
		}(c)
	}
	wg.Wait()
	b.StopTimer()
	ops := float64(conns * perWriter)
	b.ReportMetric(float64((cputime.Used()-cpu0).Microseconds())/ops, "cpu-µs/op")
}

// dialRemotes dials n connections to the store, closed when the
// benchmark ends.
func dialRemotes(b *testing.B, ts *testStore, token string, n int) []*remote.Remote {
	remotes := make([]*remote.Remote, n)
	for i := range remotes {
		r, err := remote.Dial(context.Background(), ts.addr, "bench", token)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		remotes[i] = r
	}
	return remotes
}

// pushOps pushes counter ops of origin to path, one per push, durably,
// while more says so of the next op's seq.
func pushOps(b *testing.B, r *remote.Remote, origin, path string, more func(seq uint64) bool) {
	var clk oplog.Clock
	for seq := uint64(1); more(seq); seq++ {
		o, _ := oplog.NewOp(clk.Date(), origin, seq, []byte(`{"add":1}`))
		res, err := r.Push(context.Background(), []netstore.Record{{Type: "counter", Path: path, Op: o}})
		if err != nil || res[0].Outcome() != oplog.Accepted {
			b.Errorf("push: %v %v", res, err)
			return
		}
	}
}
