package oplog

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"gigfs.io/gigfs/internal/cputime"
)

// benchOps makes n ops from one origin with a typical small payload. Ops of
// the origin "bench" are dated after all others, as a hybrid clock dates a
// new op after what it has seen.
func benchOps(tb testing.TB, n int, origin string) []Op {
	start := int64(1732550000000)
	if origin == "bench" {
		start += 1 << 30
	}
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = mustOp(tb, start+int64(i), origin, uint64(i+1), `{"add":`+strconv.Itoa(i%97)+`,"by":"someone"}`)
	}
	return ops
}

// BenchmarkAppend appends one op durably to logs of 100 and 100,000 ops:
// the cost must not grow with the length.
func BenchmarkAppend(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("len=%d", n), func(b *testing.B) {
			d, err := OpenDiskLog(filepath.Join(b.TempDir(), "log"))
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Merge(benchOps(b, n, "pre")); err != nil {
				b.Fatal(err)
			}
			ops := benchOps(b, b.N, "bench")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.Merge(ops[i : i+1]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMergeMemory is Append without the disk: the in-memory merge.
// A late op (dated before most of the log) costs a move of the ops after
// it; BenchmarkMergeLate measures that case.
func BenchmarkMergeMemory(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("len=%d", n), func(b *testing.B) {
			l := NewLog()
			for _, o := range benchOps(b, n, "pre") {
				l.Merge(o)
			}
			ops := benchOps(b, b.N, "bench")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				l.Merge(ops[i])
			}
		})
	}
}

// BenchmarkMergeLate merges ops dated before every op of a 100,000-op log,
// as a client back from a long time offline would.
func BenchmarkMergeLate(b *testing.B) {
	l := NewLog()
	for _, o := range benchOps(b, 100_000, "pre") {
		l.Merge(o)
	}
	ops := make([]Op, b.N)
	for i := range ops {
		ops[i] = mustOp(b, int64(i), "late", uint64(i+1), `1`)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Merge(ops[i])
	}
}

// BenchmarkGroupCommit appends durably from 1 and from 16 goroutines to one
// file; with group commit the 16 share fsyncs.
func BenchmarkGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			d, err := OpenDiskLog(filepath.Join(b.TempDir(), "log"))
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			ops := benchOps(b, b.N, "bench")
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						if _, err := d.Merge(ops[i : i+1]); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(d.File().Syncs())/float64(b.N), "fsyncs/op")
		})
	}
}

func BenchmarkReduce1000(b *testing.B) {
	l := NewLog()
	for i, o := range benchOps(b, 1000, "a") {
		o2 := mustOp(b, o.Date, "a", uint64(i+1), strconv.Itoa(i))
		l.Merge(o2)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Reduce(Counter, l); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad100k loads a file of 100,000 ops written one frame per
// append, as a store writes them.
func BenchmarkLoad100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "log")
	var data []byte
	for _, o := range benchOps(b, 100_000, "a") {
		data = appendFrame(data, lines(o))
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := OpenDiskLog(path)
		if err != nil {
			b.Fatal(err)
		}
		if d.Snapshot().Len() != 100_001 {
			b.Fatal("short load")
		}
		d.Close()
	}
}

// BenchmarkBytesPerOp reports the bytes on disk per op, appended one frame
// per op and after a rewrite, against the plain JSON lines.
func BenchmarkBytesPerOp(b *testing.B) {
	const n = 10_000
	ops := benchOps(b, n, "6f1c2d4e-8a9b-4c3d-9e8f-0123456789ab")
	plain := len(lines(ops...))
	var framed int
	for _, o := range ops {
		framed += len(appendFrame(nil, lines(o)))
	}
	var compacted int
	for i := 0; i < b.N; i++ {
		compacted = len(appendFrame(nil, lines(ops...)))
	}
	b.ReportMetric(float64(plain)/n, "json-B/op")
	b.ReportMetric(float64(framed)/n, "appended-B/op")
	b.ReportMetric(float64(compacted)/n, "compacted-B/op")
}

// BenchmarkColdRead decodes, verifies, merges and reduces a 100,000-op
// counter log read as JSON lines: what a client does with a store's answer
// to a cold read (a client takes the answer over: MergeLogOwned).
func BenchmarkColdRead(b *testing.B) {
	l := NewLog()
	for i := 0; i < 100_000; i++ {
		l.Merge(mustOp(b, 1732550000000+int64(i), "6f1c0e0a-8c1f-4c57-9d0e-2b7f5b1a9e3d", uint64(i+1), `{"add":1}`))
	}
	data := l.AppendJSONLines(nil)
	var reg Registry
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	runtime.GC()
	b.ResetTimer()
	cpu0 := cputime.Used()
	for i := 0; i < b.N; i++ {
		got, err := ParseLog(data)
		if err != nil {
			b.Fatal(err)
		}
		dst := NewLog()
		dst.MergeLogOwned(got)
		if v, err := reg.Reduce("counter", "/p", dst); err != nil || string(v) != "100000" {
			b.Fatal(v, err)
		}
	}
	b.ReportMetric(float64(b.N)*100_000/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric((cputime.Used()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkAppendJSONLines is a store's encoding of a 100,000-op log as
// JSON lines, what its first read (or stat) after a change costs.
func BenchmarkAppendJSONLines(b *testing.B) {
	l := NewLog()
	for i := 0; i < 100_000; i++ {
		l.Merge(mustOp(b, 1732550000000+int64(i), "6f1c0e0a-8c1f-4c57-9d0e-2b7f5b1a9e3d", uint64(i+1), `{"add":1}`))
	}
	b.SetBytes(int64(len(l.AppendJSONLines(nil))))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Used()
	for i := 0; i < b.N; i++ {
		l.AppendJSONLines(nil)
	}
	b.ReportMetric((cputime.Used()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/op")
}
