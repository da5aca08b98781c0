package oplog

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"gigfs.io/gigfs/gig"
)

// randomAnswer makes lines of ops, checkpoints, duplicates, ops out of
// order, ops whose (origin, seq) is taken, and blank lines, in a random
// mix.
func randomAnswer(t *testing.T, r *rand.Rand, hostile bool) []byte {
	origins := []string{"a", "b", "c"}
	var ops []Op
	seq := map[string]uint64{}
	for i := 0; i < 40+r.Intn(80); i++ {
		o := origins[r.Intn(len(origins))]
		seq[o]++
		if r.Intn(8) == 0 {
			seq[o]++ // a gap
		}
		ops = append(ops, mustOp(t, 1732550000000+int64(i/3), o, seq[o], fmt.Sprintf(`{"add":%d}`, r.Intn(5))))
	}
	var b []byte
	covered := 0 // the prefix the last checkpoint covers (not hostile: they grow)
	for i := 0; i < len(ops); i++ {
		switch r.Intn(12) {
		case 0:
			b = append(b, "\n"...)
		case 1:
			b = append(b, " \t\n"...)
		case 2: // an earlier op again
			b = append(ops[r.Intn(i+1)].AppendJSON(b), '\n')
		case 3: // a later op early
			b = append(ops[i+r.Intn(len(ops)-i)].AppendJSON(b), '\n')
		case 4: // a checkpoint of a prefix
			n := r.Intn(i + 1)
			if !hostile {
				n = max(n, covered+1)
				if n > i+1 {
					break
				}
				covered = n
			}
			cov := Coverage{}
			for _, o := range ops[:n] {
				cov[o.Origin] = max(cov[o.Origin], o.Seq)
			}
			cp := mustCheckpoint(t, ops[i].Date, "cp", fmt.Sprint(r.Intn(100)), cov)
			b = append(cp.AppendJSON(b), '\n')
		case 5:
			if hostile && r.Intn(4) == 0 { // (origin, seq) taken
				o := ops[r.Intn(i+1)]
				other := mustOp(t, o.Date+int64(r.Intn(3)), o.Origin, o.Seq, `"other"`)
				b = append(other.AppendJSON(b), '\n')
			}
		}
		b = append(ops[i].AppendJSON(b), '\n')
	}
	if r.Intn(3) == 0 {
		b = bytes.TrimSuffix(b, []byte{'\n'})
	}
	return b
}

// TestParseLog_RandomAgreesWithMerge: ParseLog in chunks of a few lines,
// on 1, 2 and 4 goroutines, against decoding and merging each line on its
// own (the first refused line the error), and parseRecords against the
// loader of before (refusals ignored), on random answers.
func TestParseLog_RandomAgreesWithMerge(t *testing.T) {
	old := parseChunk
	defer func() { parseChunk = old }()
	r := rand.New(rand.NewSource(7))
	clean := 0
	defer func() { t.Logf("%d of 600 answers without a refusal", clean) }()
	for iter := 0; iter < 600; iter++ {
		data := randomAnswer(t, r, iter%2 == 0)
		want, wantLine := NewLog(), 0
		loaded := NewLog()
		for i, line := range bytes.Split(data, []byte{'\n'}) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			o, err := Decode(line)
			if err != nil {
				t.Fatal(err)
			}
			loaded.merge(o)
			if wantLine == 0 {
				if res := want.Merge(o); res.Outcome() == Refused {
					wantLine = i + 1
				}
			}
		}
		if wantLine == 0 {
			clean++
		}
		for _, chunk := range []int{1, 200, 1000} {
			parseChunk = chunk
			for _, procs := range []int{1, 2, 4} {
				withProcs(procs, func() {
					got, err := ParseLog(data)
					var le *LineError
					switch {
					case wantLine > 0 && (!errors.As(err, &le) || le.Line != wantLine):
						t.Fatalf("iter %d, chunk %d, procs %d: %v, want an error on line %d", iter, chunk, procs, err, wantLine)
					case wantLine == 0 && err != nil:
						t.Fatalf("iter %d, chunk %d, procs %d: %v", iter, chunk, procs, err)
					case wantLine == 0 && !bytes.Equal(got.AppendJSONLines(nil), want.AppendJSONLines(nil)):
						t.Fatalf("iter %d, chunk %d, procs %d: the log differs from merging the lines one by one", iter, chunk, procs)
					}
					rec, _, err := parseRecords(data)
					if err != nil {
						t.Fatalf("iter %d, chunk %d, procs %d: parseRecords: %v", iter, chunk, procs, err)
					}
					if !bytes.Equal(rec.AppendJSONLines(nil), loaded.AppendJSONLines(nil)) {
						t.Fatalf("iter %d, chunk %d, procs %d: parseRecords differs from merging the records one by one", iter, chunk, procs)
					}
				})
			}
		}
	}
}

// TestParseLog_RefusalKeepsItsKind: a line the log refuses (an op whose
// (origin, seq) another op holds) is an error of the refusal's kind, a
// conflict, that a caller can test with errors.Is, not only its text.
func TestParseLog_RefusalKeepsItsKind(t *testing.T) {
	ops := longOps(t, 10)
	taken := mustOp(t, ops[9].Date+1, ops[3].Origin, ops[3].Seq, `"taken"`)
	_, err := ParseLog(answer(append(append([]Op(nil), ops...), taken)))
	var le *LineError
	if !errors.As(err, &le) || le.Line != 11 {
		t.Fatalf("%v, want an error on line 11", err)
	}
	if !errors.Is(err, gig.ErrConflict) {
		t.Fatalf("%v: not a conflict (errors.Is)", err)
	}
}
