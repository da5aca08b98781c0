package netstore

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"gigfs.io/gigfs/internal/cputime"
	"gigfs.io/gigfs/oplog"
)

// BenchmarkHub_PublishPastIdleReaders: the cost of a group commit's
// events to a stream whose readers, waiting in Next, want none of them
// (each client of a user filters the stream for its own oplogs). cpu-ns/op
// is the whole process's CPU per publish: the publisher's and that of
// every reader it wakes.
func BenchmarkHub_PublishPastIdleReaders(b *testing.B) {
	for _, readers := range []int{16, 256} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			group := groupTicket(b)
			h := newHub("e", 1<<20) // no marks due in the run
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			for i := range readers {
				c := newCursor(h, nil, "u", 10, b.Logf)
				if _, err := c.Write(ctx, fmt.Appendf(nil, "only\nwant /c/r%d\n", i)); err != nil {
					b.Fatal(err)
				}
				go func() {
					defer func() { done <- struct{}{} }()
					for {
						if _, err := c.Next(ctx); err != nil {
							return
						}
					}
				}()
			}
			for { // every reader waiting in Next
				h.mu.Lock()
				n := len(h.waiters)
				h.mu.Unlock()
				if n == readers {
					break
				}
				runtime.Gosched()
			}
			o := op(b, "a", 1, "1")
			pub := []published{{"counter", "/c/x", []oplog.Op{o}}}
			b.ResetTimer()
			cpu0 := cputime.Used()
			for range b.N {
				h.expect(group)
				h.publish(group, pub)
			}
			b.ReportMetric(float64(cputime.Used()-cpu0)/float64(b.N), "cpu-ns/op")
			b.StopTimer()
			cancel()
			for range readers {
				<-done
			}
		})
	}
}
