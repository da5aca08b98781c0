package oplog

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// walkNextSeq is NextSeq as a walk of every op, for the tests to hold the
// cache to.
func walkNextSeq(l *Log, origin string) uint64 {
	n := l.base.Covers[origin]
	for i := range l.ops {
		if l.ops[i].Origin == origin && l.ops[i].Seq > n {
			n = l.ops[i].Seq
		}
	}
	return n + 1
}

// A client asks for the next seq on every op it makes (NextSeqCached):
// the answer must be a walk's, whatever happened in between: ops
// appended, inserted before others, with seqs out of order, dropped,
// pruned by a checkpoint, several of these between two asks.
func TestLog_NextSeqCachedAgreesWithWalk(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			l := NewLog()
			var c SeqCache
			seqs := map[string]uint64{}
			for step := range 4000 {
				churn(t, rng, l, step, func(origin string) uint64 {
					seqs[origin] += 1 + uint64(rng.IntN(2)) // gaps now and then
					if seq := seqs[origin]; rng.IntN(5) == 0 && seq > 3 {
						return seq - uint64(rng.IntN(3)) // a late seq of the origin
					}
					return seqs[origin]
				})
				if rng.IntN(4) == 0 { // asked now and then: changes pile up
					origin := churnOrigins[rng.IntN(len(churnOrigins))]
					if got, want := l.NextSeqCached(origin, &c), walkNextSeq(l, origin); got != want {
						t.Fatalf("step %d (%d ops): NextSeqCached(%q) %d, a walk of the log %d", step, len(l.ops), origin, got, want)
					}
				}
			}
		})
	}
}

// The op holding an origin's highest seq dropped and another op inserted
// between two asks leave the first and the last op where they were: the
// cache must still see the change.
func TestLog_NextSeqCachedSeesDrop(t *testing.T) {
	l := NewLog()
	for i := range 10 {
		l.Merge(mustOp(t, int64(i+1)*100, "a", uint64(i+1), "1"))
	}
	l.Merge(mustOp(t, 550, "b", 7, "1"))
	var c SeqCache
	if got := l.NextSeqCached("b", &c); got != 8 {
		t.Fatalf("NextSeqCached(b) %d, want 8", got)
	}
	o := l.ops[5] // b's seq 7
	if o.Origin != "b" || !l.Drop(&o) {
		t.Fatalf("Drop of b's op (%s/%d) said no", o.Origin, o.Seq)
	}
	l.Merge(mustOp(t, 650, "b", 3, "1"))
	if got, want := l.NextSeqCached("b", &c), walkNextSeq(l, "b"); got != want || got != 4 {
		t.Fatalf("NextSeqCached(b) after the drop %d, a walk %d, want 4", got, want)
	}
}

// A cache asked of another log must not answer from the first one, even
// when the other log's first and last ops are the same ops in memory and
// both logs only ever had ops appended.
func TestLog_NextSeqCachedOfAnotherLog(t *testing.T) {
	l := NewLog()
	for i := range 3 {
		l.Merge(mustOp(t, int64(i+1)*100, "a", uint64(i+1), "1"))
	}
	var c SeqCache
	if got := l.NextSeqCached("b", &c); got != 1 {
		t.Fatalf("NextSeqCached(b) %d, want 1", got)
	}
	other := NewLog()
	other.Merge(l.Ops()[0])
	other.Merge(mustOp(t, 150, "b", 9, "1"))
	other.Merge(l.Ops()[2])
	if got := other.NextSeqCached("b", &c); got != 10 {
		t.Fatalf("NextSeqCached(b) of another log %d, want 10", got)
	}
}

// BenchmarkNextSeq asks for the next seq on tails of 100 and 100,000 ops,
// an op appended before each ask, as a client making ops does, by a walk
// (NextSeq) and through a cache (NextSeqCached): the cached cost must not
// grow with the tail.
func BenchmarkNextSeq(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		for _, cached := range []bool{false, true} {
			b.Run(fmt.Sprintf("len=%d/cached=%v", n, cached), func(b *testing.B) {
				l := NewLog()
				for _, o := range benchOps(b, n, "pre") {
					l.Merge(o)
				}
				ops := benchOps(b, b.N, "bench")
				var c SeqCache
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					l.Merge(ops[i])
					var got uint64
					if cached {
						got = l.NextSeqCached("bench", &c)
					} else {
						got = l.NextSeq("bench")
					}
					if got != uint64(i+2) {
						b.Fatalf("next seq %d, want %d", got, i+2)
					}
				}
			})
		}
	}
}
