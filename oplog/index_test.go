package oplog

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// A log's (origin, seq) index gives the same answers whether the log is
// short (its ops scanned, no map) or long (a map), across the threshold
// both ways: growing past it, pruned back under it, and ops dropped. The
// model is a map of every uncovered op the log should hold.
func TestLog_IndexAgreesAtEveryLength(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			l := NewLog()
			model := make(map[originSeq]string)
			origins := []string{"a", "b", "c"}
			mk := func(origin string, seq uint64, v int) Op {
				// The date depends on the op only, so the same three make
				// the same sha (a duplicate), another v another one.
				return mustOp(t, int64(seq)*10+int64(v), origin, seq, fmt.Sprint(v))
			}
			maxLen := 0
			for step := range 3000 {
				switch r := rng.IntN(100); {
				case r < 2 && len(l.ops) > 0:
					c, ok, err := l.Fold(Counter, int64(step)+1_000_000, "f")
					if err != nil {
						t.Fatal(err)
					}
					if !ok {
						break
					}
					if res := l.Merge(c); res.Code != CodeAccepted {
						t.Fatalf("step %d: checkpoint: %v", step, res)
					}
					for k := range model {
						if c.Covers[k.origin] >= k.seq {
							delete(model, k)
						}
					}
				case r < 5 && len(l.ops) > 0:
					o := l.ops[rng.IntN(len(l.ops))]
					if !l.Drop(&o) {
						t.Fatalf("step %d: Drop of a held op said no", step)
					}
					delete(model, originSeq{o.Origin, o.Seq})
					if l.Drop(&o) || l.Has(&o) {
						t.Fatalf("step %d: a dropped op is still held", step)
					}
				default:
					origin := origins[rng.IntN(len(origins))]
					seq := l.base.Covers[origin] + 1 + uint64(rng.IntN(40))
					if rng.IntN(4) == 0 && seq > 1 {
						seq -= uint64(rng.IntN(int(seq))) // maybe covered
					}
					o := mk(origin, seq, rng.IntN(2))
					k := originSeq{origin, seq}
					want := CodeAccepted
					switch sha, ok := model[k]; {
					case l.base.Covers.Covers(&o):
						want = CodeCovered
					case ok && sha == o.Sha:
						want = CodeDuplicate
					case ok:
						want = CodeSeqTaken
					}
					if res := l.Merge(o); res.Code != want {
						t.Fatalf("step %d: merge of %s/%d with %d ops: %v, want %v", step, origin, seq, len(l.ops), res, want)
					}
					if want == CodeAccepted {
						model[k] = o.Sha
					}
				}
				maxLen = max(maxLen, len(l.ops))
				if len(l.ops) != len(model) {
					t.Fatalf("step %d: %d ops, model %d", step, len(l.ops), len(model))
				}
				if len(l.ops) > indexMin && l.bySeq == nil {
					t.Fatalf("step %d: %d ops and no index", step, len(l.ops))
				}
				if l.bySeq != nil && len(l.bySeq) != len(model) {
					t.Fatalf("step %d: index of %d entries, %d ops", step, len(l.bySeq), len(model))
				}
				for i := range l.ops {
					o := &l.ops[i]
					if model[originSeq{o.Origin, o.Seq}] != o.Sha || !l.Has(o) {
						t.Fatalf("step %d: op %s/%d not found", step, o.Origin, o.Seq)
					}
					if i > 0 && !Less(&l.ops[i-1], o) {
						t.Fatalf("step %d: ops out of order at %d", step, i)
					}
				}
			}
			if maxLen <= indexMin {
				t.Fatalf("the log never passed %d ops (at most %d): the index was not tried", indexMin, maxLen)
			}
		})
	}
}

// A short log keeps no map, and its ops' slice grows by a quarter, not
// twice: a store holds many such logs.
func TestLog_ShortLogIsSmall(t *testing.T) {
	l := NewLog()
	for seq := uint64(1); seq <= 10; seq++ {
		l.Merge(mustOp(t, int64(seq), "2f1c7a52-52a1-4d1e-9a55-6e1f0f2b9c11", seq, `{"n":1}`))
	}
	if l.bySeq != nil || cap(l.ops) > 12 {
		t.Fatalf("10 ops: index %v, ops' capacity %d", l.bySeq != nil, cap(l.ops))
	}
	for i := 1; i < len(l.ops); i++ {
		if unsafe.StringData(l.ops[i].Origin) != unsafe.StringData(l.ops[0].Origin) {
			t.Fatalf("op %d has its own copy of the origin", i)
		}
	}
}
