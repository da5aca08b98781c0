package oplog

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// answer returns lines as a store's answer: JSON lines, one per record.
func answer(recs []Op) []byte {
	var b []byte
	for i := range recs {
		b = append(recs[i].AppendJSON(b), '\n')
	}
	return b
}

// merged is the log the general way makes of recs: each decoded, checked
// and merged on its own.
func merged(t *testing.T, data []byte) *Log {
	t.Helper()
	l := NewLog()
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		o, err := Decode(line)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if r := l.Merge(o); r.Outcome() == Refused {
			t.Fatalf("Merge: %v", r)
		}
	}
	return l
}

// withProcs runs fn with GOMAXPROCS n.
func withProcs(n int, fn func()) {
	old := runtime.GOMAXPROCS(n)
	defer runtime.GOMAXPROCS(old)
	fn()
}

// longOps returns n ops of two origins in log order: enough for several
// chunks of ParseLog.
func longOps(t testing.TB, n int) []Op {
	ops := make([]Op, n)
	for i := range ops {
		origin := "6f1c0e0a-8c1f-4c57-9d0e-2b7f5b1a9e3d"
		if i%3 == 0 {
			origin = "b"
		}
		ops[i] = mustOp(t, 1732550000000+int64(i/2), origin, uint64(i+1), fmt.Sprintf(`{"add":%d}`, i%7))
	}
	l := NewLog()
	for _, o := range ops {
		l.Merge(o)
	}
	return append([]Op(nil), l.Ops()...)
}

func TestParseLog_ChunksAgreeWithMerge(t *testing.T) {
	ops := longOps(t, 6000) // about 4 chunks
	cp := mustCheckpoint(t, 1732550000000+1000, "c", `1234`, Coverage{"b": 301})
	shuffled := append([]Op(nil), ops...)
	rand.New(rand.NewSource(1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	withBlank := answer(ops[:3000])
	withBlank = append(append(withBlank, "\n  \n"...), answer(ops[3000:])...)
	cases := map[string][]byte{
		"in order":                 answer(append([]Op{Initial()}, ops...)),
		"no checkpoint line":       answer(ops),
		"checkpoint first":         answer(append([]Op{cp}, ops...)),
		"checkpoint in the middle": answer(append(append(append([]Op(nil), ops[:4000]...), cp), ops[4000:]...)),
		"shuffled":                 answer(shuffled),
		"every op twice":           answer(append(append([]Op(nil), ops...), ops...)),
		"duplicates in a row":      answer(append(append(append([]Op(nil), ops[:2000]...), ops[1000:3000]...), ops[2000:]...)),
		"blank lines":              withBlank,
		"no final newline":         bytes.TrimSuffix(answer(ops), []byte{'\n'}),
		"one op":                   answer(ops[:1]),
		"empty":                    nil,
	}
	for name, data := range cases {
		want := merged(t, data).AppendJSONLines(nil)
		for _, procs := range []int{1, 2, 4} {
			withProcs(procs, func() {
				l, err := ParseLog(data)
				if err != nil {
					t.Fatalf("%s, GOMAXPROCS %d: %v", name, procs, err)
				}
				if got := l.AppendJSONLines(nil); !bytes.Equal(got, want) {
					t.Errorf("%s, GOMAXPROCS %d: the log differs from merging the lines one by one", name, procs)
				}
				for _, o := range l.Ops() {
					if !l.Has(&o) {
						t.Fatalf("%s, GOMAXPROCS %d: op %.12s missing from the (origin, seq) index", name, procs, o.Sha)
					}
				}
				if len(l.bySeq) != len(l.Ops()) {
					t.Errorf("%s, GOMAXPROCS %d: index of %d entries for %d ops", name, procs, len(l.bySeq), len(l.Ops()))
				}
			})
		}
	}
}

// TestParseLog_SeqTakenInOrder: an op in log order whose (origin, seq) is
// another op's is refused, naming its line, though the fast path writes
// the index before it knows; the index keeps the first op's sha.
func TestParseLog_SeqTakenInOrder(t *testing.T) {
	ops := longOps(t, 3000)
	other := mustOp(t, ops[len(ops)-1].Date+1, ops[1000].Origin, ops[1000].Seq, `"other"`)
	data := answer(append(append([]Op(nil), ops...), other))
	for _, procs := range []int{1, 2} {
		withProcs(procs, func() {
			_, err := ParseLog(data)
			var le *LineError
			if !errors.As(err, &le) || le.Line != len(ops)+1 {
				t.Errorf("GOMAXPROCS %d: %v, want an error on line %d", procs, err, len(ops)+1)
			}
		})
	}
	// The same op twice in order is a duplicate: the index still holds
	// the op, and the log holds it once.
	again := answer(append(append([]Op(nil), ops...), ops[len(ops)-1]))
	l, err := ParseLog(again)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(l.Ops()); n != len(ops) {
		t.Errorf("%d ops, want %d", n, len(ops))
	}
	last := ops[len(ops)-1]
	if got := l.bySeq[originSeq{last.Origin, last.Seq}]; got != last.Sha {
		t.Errorf("index holds %.12s for the last op, want %.12s", got, last.Sha)
	}
}

func TestParseLog_NamesTheFirstBadLine(t *testing.T) {
	ops := longOps(t, 6000)
	data := answer(ops)
	lines := bytes.SplitAfter(data, []byte{'\n'})
	tamper := func(i int) []byte { // line i (0-based) with a wrong sha
		l := bytes.Replace(lines[i], []byte(`"sha":"`), []byte(`"sha":"0`), 1)
		return append(l[:bytes.Index(l, []byte(`"sha":"`))+7+64], l[bytes.Index(l, []byte(`","payload"`)):]...)
	}
	with := func(repl map[int][]byte) []byte {
		var b []byte
		for i, l := range lines {
			if r, ok := repl[i]; ok {
				l = r
			}
			b = append(b, l...)
		}
		return b
	}
	taken := mustOp(t, ops[4999].Date, ops[10].Origin, ops[10].Seq, `"taken"`)
	takenLine := append(taken.AppendJSON(nil), '\n')
	for name, c := range map[string]struct {
		data []byte
		line int
		bad  error
	}{
		"bad sha in a late chunk":    {with(map[int][]byte{4999: tamper(4999)}), 5000, ErrBadSha},
		"two bad shas":               {with(map[int][]byte{5999: tamper(5999), 2500: tamper(2500)}), 2501, ErrBadSha},
		"bad sha in the first line":  {with(map[int][]byte{0: tamper(0)}), 1, ErrBadSha},
		"a refusal before a bad sha": {with(map[int][]byte{4999: takenLine, 5500: tamper(5500)}), 5000, nil},
		"a bad sha before a refusal": {with(map[int][]byte{100: tamper(100), 4999: takenLine}), 101, ErrBadSha},
		"not JSON":                   {with(map[int][]byte{3000: []byte("{\n")}), 3001, ErrMalformed},
	} {
		for _, procs := range []int{1, 2, 4} {
			withProcs(procs, func() {
				l, err := ParseLog(c.data)
				var le *LineError
				if l != nil || !errors.As(err, &le) || le.Line != c.line {
					t.Errorf("%s, GOMAXPROCS %d: %v, want an error on line %d", name, procs, err, c.line)
				}
				if c.bad != nil && !errors.Is(err, c.bad) {
					t.Errorf("%s, GOMAXPROCS %d: %v, want %v", name, procs, err, c.bad)
				}
			})
		}
	}
}

// FuzzParseLog checks ParseLog against decoding and merging each line on
// its own, with chunks of a few lines so that small inputs take several
// (decoded on as many goroutines as GOMAXPROCS allows). While fuzzing,
// the engine's progress lines show few execs until the end: the worker
// reports them when its run ends.
func FuzzParseLog(f *testing.F) {
	ops := longOps(f, 8)
	cp := mustCheckpoint(f, 1732550000002, "c", `3`, Coverage{"b": 4})
	f.Add(answer(ops))
	f.Add(answer(append([]Op{cp}, ops...)))
	f.Add(answer(append(append([]Op(nil), ops[4:]...), ops...)))
	f.Add(append(answer(ops[:3]), "\n{\"date\":1}\n"...))
	old := parseChunk
	parseChunk = 200
	defer func() { parseChunk = old }()
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantLine := NewLog(), 0
		for i, line := range bytes.Split(data, []byte{'\n'}) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			var err error
			o, derr := Decode(line)
			if derr == nil && len(line) <= MaxLineSize {
				if r := want.Merge(o); r.Outcome() == Refused {
					err = r.Err()
				}
			} else {
				err = derr
				if derr == nil {
					err = ErrTooLarge
				}
			}
			if err != nil {
				wantLine = i + 1
				break
			}
		}
		got, err := ParseLog(data)
		var le *LineError
		switch {
		case wantLine > 0 && (!errors.As(err, &le) || le.Line != wantLine):
			t.Fatalf("%v, want an error on line %d", err, wantLine)
		case wantLine == 0 && err != nil:
			t.Fatalf("%v, want no error", err)
		case wantLine == 0 && !bytes.Equal(got.AppendJSONLines(nil), want.AppendJSONLines(nil)):
			t.Fatalf("the log differs from merging the lines one by one")
		}
	})
}

func TestLog_AppendJSONLinesInParts(t *testing.T) {
	ops := longOps(t, 3*encodeChunk+5)
	l := NewLog()
	l.Merge(mustCheckpoint(t, 1, "c", `{"n":"x"}`, Coverage{"z": 2}))
	for _, o := range ops {
		l.Merge(o)
	}
	var want []byte
	want = append(l.base.AppendJSON(want), '\n')
	for i := range l.ops {
		want = append(l.ops[i].AppendJSON(want), '\n')
	}
	for _, procs := range []int{1, 2, 3, 8} {
		withProcs(procs, func() {
			prefix := []byte("before\n")
			got := l.AppendJSONLines(append([]byte(nil), prefix...))
			if !bytes.Equal(got, append(prefix, want...)) {
				t.Errorf("GOMAXPROCS %d: the lines differ from encoding op after op", procs)
			}
		})
	}
}

// TestLog_MergeLogOwnedAnswerStays: the records MergeLogOwned returns
// share the log's array of ops; whatever the log does next (an op
// inserted in the middle, a prune, a drop), they stay what they were, as
// a client that tells watchers of them after unlocking the log needs.
func TestLog_MergeLogOwnedAnswerStays(t *testing.T) {
	ops := longOps(t, 3000)
	for name, change := range map[string]func(l *Log){
		"insert": func(l *Log) { l.Merge(mustOp(t, ops[10].Date, "late", l.NextSeq("late"), `{"add":5}`)) },
		"prune":  func(l *Log) { l.Merge(mustCheckpoint(t, ops[2999].Date+1, "c", `1`, Coverage{"b": 1500})) },
		"drop":   func(l *Log) { l.Drop(&ops[7]) },
	} {
		parsed, err := ParseLog(append(answer(append([]Op{Initial()}, ops...)), "\n\n"...))
		if err != nil {
			t.Fatal(err)
		}
		merged := NewLog() // an array grown by appends: room to spare
		for _, o := range ops {
			merged.Merge(o)
		}
		for from, src := range map[string]*Log{"parsed": parsed, "merged": merged} {
			l := NewLog()
			added := l.MergeLogOwned(src)
			before := answer(added)
			change(l)
			change(l) // twice: a second insert into the array the first made
			if !bytes.Equal(answer(added), before) {
				t.Errorf("%s, %s: the records MergeLogOwned returned changed under the caller", from, name)
			}
			if l.Len() == len(ops)+1 {
				t.Errorf("%s, %s: the log did not change", from, name)
			}
		}
	}
}

// coverableByPasses is Coverable as it was first written: walks until
// nothing grows, a map access per op.
func coverableByPasses(l *Log) (cov Coverage, n int, oldest int64) {
	cov = l.base.Covers.Clone()
	for {
		grew := false
		for i := range l.ops {
			o := &l.ops[i]
			if o.Seq == cov[o.Origin]+1 {
				cov[o.Origin] = o.Seq
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	for i := range l.ops {
		if cov.Covers(&l.ops[i]) {
			if n == 0 {
				oldest = l.ops[i].Date
			}
			n++
		}
	}
	return cov, n, oldest
}

func TestLog_CoverableAgreesWithPasses(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for trial := 0; trial < 300; trial++ {
		l := NewLog()
		origins := []string{"a", "b", "c", "d"}[:1+r.Intn(4)]
		if r.Intn(3) == 0 {
			cov := Coverage{}
			for _, o := range origins {
				if r.Intn(2) == 0 {
					cov[o] = 1 + uint64(r.Intn(5))
				}
			}
			l.Merge(mustCheckpoint(t, 1, "z", `0`, cov))
		}
		next := map[string]uint64{}
		for i, n := 0, r.Intn(60); i < n; i++ {
			o := origins[r.Intn(len(origins))]
			next[o] += 1 + uint64(r.Intn(4)/3) // now and then a gap
			seq := next[o]
			date := int64(10 + r.Intn(80)) // out of seq order now and then
			if r.Intn(2) == 0 {
				date = int64(100 + i) // in order
			}
			l.Merge(mustOp(t, date, o, seq, `1`))
		}
		wantCov, wantN, wantOldest := coverableByPasses(l)
		cov, n, oldest := l.Coverable()
		if !maps.Equal(cov, wantCov) || n != wantN || oldest != wantOldest {
			t.Fatalf("trial %d: Coverable = %v %d %d, want %v %d %d", trial, cov, n, oldest, wantCov, wantN, wantOldest)
		}
	}
}

func BenchmarkCoverable(b *testing.B) {
	l := NewLog()
	for i := 0; i < 100_000; i++ {
		l.Merge(mustOp(b, 1732550000000+int64(i), "6f1c0e0a-8c1f-4c57-9d0e-2b7f5b1a9e3d", uint64(i+1), `{"add":1}`))
	}
	b.Run("passes", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			coverableByPasses(l)
		}
	})
	b.Run("now", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			l.Coverable()
		}
	})
}

// loadedOneByOne is the log the records of a file make, each decoded and
// merged on its own, refusals ignored (OpenDiskLog before parseRecords).
func loadedOneByOne(t *testing.T, records []byte) *Log {
	t.Helper()
	l := NewLog()
	for _, line := range bytes.Split(records, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		o, err := decode(line, false)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		l.merge(o)
	}
	return l
}

func TestOpenDiskLog_ChunksAgreeWithMerge(t *testing.T) {
	ops := longOps(t, 6000)
	cp := mustCheckpoint(t, ops[3000].Date, "c", `77`, Coverage{"b": 2000})
	taken := mustOp(t, ops[5999].Date+1, ops[20].Origin, ops[20].Seq, `"taken"`)
	shuffled := append([]Op(nil), ops...)
	rand.New(rand.NewSource(2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	cases := map[string][]byte{
		"in order":                 stored(ops...),
		"arrival order":            stored(shuffled...),
		"every record twice":       append(stored(ops...), stored(ops[:4000]...)...),
		"checkpoint in the middle": stored(append(append(append([]Op(nil), ops[:4000]...), cp), ops[4000:]...)...),
		"a record refused":         stored(append(append([]Op(nil), ops...), taken)...),
		"with shas (older files)":  answer(ops),
	}
	for name, records := range cases {
		want := loadedOneByOne(t, records).AppendJSONLines(nil)
		path := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(path, appendFrames(nil, records), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, procs := range []int{1, 2, 4} {
			withProcs(procs, func() {
				d, err := OpenDiskLog(path)
				if err != nil {
					t.Fatalf("%s, GOMAXPROCS %d: %v", name, procs, err)
				}
				defer d.Close()
				if got := d.Snapshot().AppendJSONLines(nil); !bytes.Equal(got, want) {
					t.Errorf("%s, GOMAXPROCS %d: the loaded log differs from merging the records one by one", name, procs)
				}
				if n := bytes.Count(records, []byte{'\n'}); d.onDisk != n {
					t.Errorf("%s, GOMAXPROCS %d: %d records on disk, want %d", name, procs, d.onDisk, n)
				}
			})
		}
	}
}

func TestContentSize(t *testing.T) {
	recs := stored(longOps(t, 3000)...)
	frames := appendFrames(nil, recs)
	frames = appendFrames(frames, recs[:50000])
	if got, want := contentSize(frames), len(recs)+50000; got != want {
		t.Errorf("contentSize = %d, want %d", got, want)
	}
	if got := contentSize(frames[:len(frames)-3]); got != len(recs) {
		t.Errorf("contentSize with a torn last frame = %d, want %d (the whole frames)", got, len(recs))
	}
	small := appendFrames(nil, recs[:60])
	if got := contentSize(small); got < 60-headerLen || got > len(small) {
		t.Errorf("contentSize of a small frame without its size = %d, want about %d", got, 60)
	}
	// A damaged frame that declares far more than it holds is trusted only
	// up to maxRatio times the content's length.
	liar := appendFrame(nil, bytes.Repeat([]byte{'x'}, 400))
	liar = append(liar, appendFrame(nil, bytes.Repeat([]byte{'y'}, 3<<20))...)
	if got := contentSize(liar); got > maxRatio*len(liar) {
		t.Errorf("contentSize = %d, over %d times the %d bytes", got, maxRatio, len(liar))
	}
	if got := contentSize([]byte("not a log")); got != 0 {
		t.Errorf("contentSize of garbage = %d, want 0", got)
	}
}

// stored returns recs as a log file's records.
func stored(recs ...Op) []byte {
	var b []byte
	for i := range recs {
		b = append(recs[i].appendStored(b), '\n')
	}
	return b
}
