package oplog

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// fastSeeds are lines near the fixed shape, on both sides of it.
func fastSeeds(tb testing.TB) [][]byte {
	var out [][]byte
	for _, p := range []string{`1`, `{"add":1}`, `{"a":[1,"x",null,true,false],"b":{}}`, `-0.5e+3`, `"é"`, `"a\"b"`, `[]`, `{"b":1,"a":2}`} {
		o := mustOp(tb, 1732550000123, "o-1", 7, p)
		out = append(out, o.AppendJSON(nil))
	}
	out = append(out,
		[]byte(`{"date":1,"origin":"a","seq":1,"sha":"00","payload":1}`),
		[]byte(`{"date":01,"origin":"a","seq":1,"sha":"00","payload":1}`),
		[]byte(`{"date":1,"origin":"a","seq":1,"sha":"00","payload":{"a":1,"a":2}}`),
		[]byte(`{"date":1,"origin":"a","seq":1,"sha":"00","payload":1 }`),
		[]byte(`{"date":1,"origin":"a","seq":1,"sha":"00","payload":}`),
		[]byte(`{"date":1,"origin":"a","seq":1,"sha":"00","payload":1}}`),
		[]byte(`{"date":1,"origin":"a","seq":1,"sha":"00","payload":[1,]}`),
		[]byte(`{"date":1,"origin":"a","seq":1,"sha":"00","payload":01}`),
		[]byte(`{"date":1,"origin":"a","seq":1,"sha":"00","payload":1.}`),
		[]byte(`{"date":18446744073709551615,"origin":"a","seq":1,"sha":"00","payload":1}`),
	)
	return out
}

// FuzzDecodeFast checks that the fast path of Decode decides every line
// exactly as the general decoder does.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range fastSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		got, gerr := Decode(line)
		want, werr := decodeSlow(bytes.TrimSpace(line), true)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%s: Decode says %v, the general decoder %v", line, gerr, werr)
		}
		if gerr == nil && !bytes.Equal(got.AppendJSON(nil), want.AppendJSON(nil)) {
			t.Fatalf("%s: Decode gives %s, the general decoder %s", line, got.AppendJSON(nil), want.AppendJSON(nil))
		}
		if gerr == nil && got.encodedLen() != len(got.AppendJSON(nil)) {
			t.Fatalf("%s: encodedLen %d, encoded %d", line, got.encodedLen(), len(got.AppendJSON(nil)))
		}
	})
}

func TestDecode_fastPathTaken(t *testing.T) {
	o := mustOp(t, 1732550000123, "o-1", 7, `{"add":1,"by":"me"}`)
	if _, ok := decodeFast(o.AppendJSON(nil), nil); !ok {
		t.Errorf("an op as AppendJSON writes it misses the fast path")
	}
	c := mustCheckpoint(t, 5, "b", `0`, Coverage{"a": 3, "b": 1})
	if n := c.encodedLen(); n != len(c.AppendJSON(nil)) {
		t.Errorf("checkpoint encodedLen %d, want %d", n, len(c.AppendJSON(nil)))
	}
}

func TestDecode_fastPathRefusesWhatGeneralRefuses(t *testing.T) {
	for _, line := range fastSeeds(t) {
		_, gerr := Decode(line)
		_, werr := decodeSlow(line, true)
		if (gerr == nil) != (werr == nil) {
			t.Errorf("%s: Decode says %v, the general decoder %v", line, gerr, werr)
		}
	}
	// A tampered payload in the fixed shape fails its sha.
	o := mustOp(t, 10, "a", 1, `{"add":1}`)
	line := strings.Replace(string(o.AppendJSON(nil)), `{"add":1}`, `{"add":2}`, 1)
	if _, err := Decode([]byte(line)); err == nil {
		t.Errorf("tampered payload accepted")
	}
}

func TestParseLog(t *testing.T) {
	var data []byte
	l := NewLog()
	for i := 1; i <= 50; i++ {
		o := mustOp(t, int64(100-i), "a", uint64(i), fmt.Sprint(i))
		l.Merge(o)
		data = append(o.AppendJSON(data), '\n')
	}
	init := Initial()
	got, err := ParseLog(append(append(init.AppendJSON(nil), '\n'), data...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.AppendJSONLines(nil), l.AppendJSONLines(nil)) {
		t.Errorf("ParseLog differs from merging the ops")
	}
	bad := append(append([]byte(nil), data...), []byte(`{"date":1,"origin":"a","seq":99,"sha":"`+strings.Repeat("0", 64)+`","payload":1}`+"\n")...)
	if _, err := ParseLog(bad); err == nil || !strings.Contains(err.Error(), "line 51") {
		t.Errorf("bad sha on line 51: got %v", err)
	}
	other := mustOp(t, 5, "a", 3, `"other"`)
	dup := append(append([]byte(nil), data...), other.AppendJSON(nil)...)
	if _, err := ParseLog(dup); err == nil {
		t.Errorf("a second op with the same origin and seq accepted")
	}
}

func TestLog_MergeLog(t *testing.T) {
	a, b := NewLog(), NewLog()
	for i := 1; i <= 10; i++ {
		o := mustOp(t, int64(i), "x", uint64(i), `1`)
		if i <= 6 {
			a.Merge(o)
		}
		if i >= 4 {
			b.Merge(o)
		}
	}
	got := a.MergeLog(b)
	if len(got) != 4 || a.Len() != 11 {
		t.Errorf("merged %d new records, log of %d; want 4 and 11", len(got), a.Len())
	}
	if again := a.MergeLog(b); len(again) != 0 {
		t.Errorf("merging again accepted %d records", len(again))
	}
	empty := NewLog()
	empty.MergeLog(a)
	if !bytes.Equal(empty.AppendJSONLines(nil), a.AppendJSONLines(nil)) {
		t.Errorf("merge into an empty log differs")
	}
	empty.Merge(mustOp(t, 99, "y", 1, `1`))
	if a.Len() != 11 {
		t.Errorf("the source changed with the copy")
	}
}

func TestLog_MergeLogOwnedKeepsTheIndex(t *testing.T) {
	src := NewLog()
	for i := 1; i <= 5; i++ {
		src.Merge(mustOp(t, int64(i), "x", uint64(i), `1`))
	}
	want := src.AppendJSONLines(nil)
	dst := NewLog()
	if got := dst.MergeLogOwned(src); len(got) != 5 {
		t.Fatalf("merged %d new records, want 5", len(got))
	}
	if !bytes.Equal(dst.AppendJSONLines(nil), want) {
		t.Errorf("the owned merge differs from the source")
	}
	if src.Len() != 1 || src.Base().Sha != initialSha {
		t.Errorf("the source holds %d records after giving them up, want only the initial checkpoint", src.Len())
	}
	// The (origin, seq) index came along: another op with a taken seq is
	// refused, and the same op is a duplicate.
	if r := dst.Merge(mustOp(t, 9, "x", 3, `2`)); r.Code != CodeSeqTaken {
		t.Errorf("an op reusing a taken seq: %v, want seq-taken", r)
	}
	if r := dst.Merge(mustOp(t, 3, "x", 3, `1`)); r.Code != CodeDuplicate {
		t.Errorf("the same op again: %v, want duplicate", r)
	}
	// Into a log that holds ops, it is MergeLog.
	more := NewLog()
	more.Merge(mustOp(t, 6, "x", 6, `1`))
	more.Merge(mustOp(t, 2, "x", 2, `1`))
	if got := dst.MergeLogOwned(more); len(got) != 1 || dst.Len() != 7 {
		t.Errorf("merged %d new records into a log of %d, want 1 and 7", len(got), dst.Len())
	}
}

// FuzzCanonical checks that Canonical's one-pass way for values in
// canonical form already gives what the general way gives, for any input.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"add":1}`, `{"a":1,"a":2}`, `{"b":1,"a":2}`, `[1,"x",null,true,false,{}]`,
		`-0.5e+10`, `01`, `1.`, `"\u00e9"`, `"é"`, ` 1`, `{"a":[{"b":{"c":[]}}]}`, `nul`, `{"a":1,}`, `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, gerr := Canonical(raw)
		want, werr := canonicalSlow(raw)
		if (gerr == nil) != (werr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("%q: Canonical %s, %v; the general way %s, %v", raw, got, gerr, want, werr)
		}
	})
}
