package oplog

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// A store measures an oplog after every push (MemSizeCached): what it
// finds must be what a walk of the whole log finds (MemSize), whatever
// happened in between: ops appended, inserted before others, dropped,
// pruned by a checkpoint, several of these between two measures.
func TestLog_MemSizeCachedAgreesWithWalk(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 2))
			l := NewLog()
			var c SizeCache
			seqs := map[string]uint64{}
			for step := range 4000 {
				churn(t, rng, l, step, func(origin string) uint64 {
					seqs[origin]++
					return seqs[origin]
				})
				if rng.IntN(4) == 0 { // measured now and then: changes pile up
					if got, want := l.MemSizeCached(&c), l.MemSize(); got != want {
						t.Fatalf("step %d (%d ops): MemSizeCached %d, a walk of the log %d", step, len(l.ops), got, want)
					}
				}
			}
		})
	}
}

// An op dropped and another inserted between two measures leave the first
// and the last op where they were: the cache must still see the change.
func TestLog_MemSizeCachedSeesDropAndInsert(t *testing.T) {
	l := NewLog()
	for i := range 10 {
		l.Merge(mustOp(t, int64(i+1)*100, "a", uint64(i+1), "1"))
	}
	var c SizeCache
	l.MemSizeCached(&c)
	o := l.ops[3]
	if !l.Drop(&o) {
		t.Fatal("Drop of a held op said no")
	}
	l.Merge(mustOp(t, 650, "b", 1, `"a payload longer than the one dropped"`))
	if got, want := l.MemSizeCached(&c), l.MemSize(); got != want {
		t.Fatalf("MemSizeCached %d, a walk of the log %d", got, want)
	}
}

// churn changes l once, at random, as a log changes between two looks of
// a cache: now and then a checkpoint of all it holds or an op dropped,
// else an op of origin a, b or c with the seq nextSeq gives, appended or
// (dated before others) inserted.
func churn(t *testing.T, rng *rand.Rand, l *Log, step int, nextSeq func(origin string) uint64) {
	t.Helper()
	switch r := rng.IntN(100); {
	case r < 2 && len(l.ops) > 0:
		cp, ok, err := l.Fold(Counter, int64(step)+1_000_000, "f")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if res := l.Merge(cp); res.Code != CodeAccepted {
				t.Fatalf("step %d: checkpoint: %v", step, res)
			}
		}
	case r < 6 && len(l.ops) > 0:
		o := l.ops[rng.IntN(len(l.ops))]
		if !l.Drop(&o) {
			t.Fatalf("step %d: Drop of a held op said no", step)
		}
	default:
		origin := churnOrigins[rng.IntN(len(churnOrigins))]
		seq := nextSeq(origin)
		date := int64(step)*10 + 1000
		if rng.IntN(3) == 0 { // dated before others: inserted
			date -= int64(rng.IntN(200))
		}
		l.Merge(mustOp(t, date, origin, seq, fmt.Sprint(rng.IntN(9))))
	}
}

// churnOrigins are the origins of churn's ops.
var churnOrigins = []string{"a", "b", "c"}
