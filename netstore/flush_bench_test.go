package netstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gigfs.io/gigfs/oplog"
)

// BenchmarkFlushManyOplogs flushes the write-ahead log of a store with
// 2,000 dirty oplogs (one op each), with 1 to 64 files written at once
// (Config.FlushWorkers), and reports the oplogs made durable per second.
// The first sub-benchmark measures the disk's limit in the same run: one
// 120-byte append and fsync after another, to one file.
func BenchmarkFlushManyOplogs(b *testing.B) {
	const oplogs = 2000
	b.Run("limit", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "limit"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rec := make([]byte, 120)
		start := time.Now()
		for range b.N {
			if _, err := f.Write(rec); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fsyncs/s")
	})
	for _, workers := range []int{1, 4, 16, 64} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			s, err := Open(Config{Dir: b.TempDir(), FlushInterval: -1, FlushWorkers: workers, Logf: b.Logf})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if _, err := s.AddUser("bench"); err != nil {
				b.Fatal(err)
			}
			var flushing time.Duration
			for i := range b.N {
				b.StopTimer()
				recs := make([]Record, 0, oplogs)
				for p := range oplogs {
					o, err := oplog.NewOp(int64(1_700_000_000_000+i), "bench", uint64(i+1), []byte(`1`))
					if err != nil {
						b.Fatal(err)
					}
					recs = append(recs, Record{Type: "counter", Path: fmt.Sprintf("/f/p%d", p), Op: o})
				}
				if _, err := s.Push(context.Background(), "bench", recs); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0 := time.Now()
				if err := s.Flush(); err != nil {
					b.Fatal(err)
				}
				flushing += time.Since(t0)
			}
			b.ReportMetric(float64(b.N*oplogs)/flushing.Seconds(), "oplogs/s")
		})
	}
}
