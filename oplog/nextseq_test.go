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

// A client asks for the next seq on every op it makes (NextSeq, from
// the highest seqs the log keeps): the answer must be a walk's, whatever happened in between: ops
// appended, inserted before others, with seqs out of order, dropped,
// pruned by a checkpoint, several of these between two asks.
func TestLog_NextSeqAgreesWithWalk(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			l := NewLog()
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
					if got, want := l.NextSeq(origin), walkNextSeq(l, origin); got != want {
						t.Fatalf("step %d (%d ops): NextSeq(%q) %d, a walk of the log %d", step, len(l.ops), origin, got, want)
					}
				}
			}
		})
	}
}

// The op holding an origin's highest seq dropped and another op inserted
// between two asks: the highest seq kept must go down with the drop.
func TestLog_NextSeqSeesDrop(t *testing.T) {
	l := NewLog()
	for i := range 10 {
		l.Merge(mustOp(t, int64(i+1)*100, "a", uint64(i+1), "1"))
	}
	l.Merge(mustOp(t, 550, "b", 7, "1"))
	if got := l.NextSeq("b"); got != 8 {
		t.Fatalf("NextSeq(b) %d, want 8", got)
	}
	o := l.ops[5] // b's seq 7
	if o.Origin != "b" || !l.Drop(&o) {
		t.Fatalf("Drop of b's op (%s/%d) said no", o.Origin, o.Seq)
	}
	l.Merge(mustOp(t, 650, "b", 3, "1"))
	if got, want := l.NextSeq("b"), walkNextSeq(l, "b"); got != want || got != 4 {
		t.Fatalf("NextSeq(b) after the drop %d, a walk %d, want 4", got, want)
	}
}

// BenchmarkNextSeq asks for the next seq on tails of 100 and 100,000
// ops, an op of the asking origin appended before each ask, as a client
// making ops does; with shared=true another origin's op, dated before
// the last, is inserted before each ask too, as the ops of the other
// clients of a shared path come in. The cost must not grow with the tail
// (a walk, walkNextSeq, is there to compare).
func BenchmarkNextSeq(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		for _, mode := range []string{"walk", "kept", "kept,shared"} {
			b.Run(fmt.Sprintf("len=%d/%s", n, mode), func(b *testing.B) {
				l := NewLog()
				for _, o := range benchOps(b, n, "pre") {
					l.Merge(o)
				}
				ops := benchOps(b, b.N, "bench")
				var others []Op // each dated between the last two of ops
				if mode == "kept,shared" {
					for i := range b.N {
						others = append(others, mustOp(b, ops[i].Date-1, "other", uint64(i+1), `{"add":1}`))
					}
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					l.Merge(ops[i])
					if others != nil {
						l.Merge(others[i])
					}
					var got uint64
					if mode == "walk" {
						got = walkNextSeq(l, "bench")
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
