package storefs

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
	"gigfs.io/gigfs/oplog"
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
				ctx := context.Background()
				remotes := make([]*remote.Remote, conns)
				for i := range remotes {
					r, err := remote.Dial(ctx, ts.addr, "bench", token)
					if err != nil {
						b.Fatal(err)
					}
					defer r.Close()
					remotes[i] = r
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for c := 0; c < conns; c++ {
					wg.Add(1)
					go func(c int) {
						defer wg.Done()
						var clk oplog.Clock
						path := "/shared"
						if !shared {
							path = fmt.Sprintf("/conn%d", c)
						}
						for seq := uint64(1); next.Add(1) <= int64(b.N); seq++ {
							o, _ := oplog.NewOp(clk.Date(), fmt.Sprintf("c%d", c), seq, []byte(`{"add":1}`))
							res, err := remotes[c].Push(ctx, []netstore.Record{{Type: "counter", Path: path, Op: o}})
							if err != nil || res[0].Outcome() != oplog.Accepted {
								b.Errorf("push: %v %v", res, err)
								return
							}
						}
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
