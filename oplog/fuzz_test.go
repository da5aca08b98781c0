package oplog

import (
	"bytes"
	"testing"
)

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"date":1,"origin":"a","seq":1,"sha":"00","payload":1}`))
	for _, o := range []Op{
		mustOp(f, 1732550000123, "a", 1, `{"k":[1,"x",null]}`),
		mustCheckpoint(f, 5, "b", `0`, Coverage{"a": 3}),
		Initial(),
	} {
		f.Add(o.AppendJSON(nil))
	}
	f.Add([]byte(`{"date":-1}`))
	f.Add([]byte(`{"date":1,"payload":"\u0000\ud800"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		o, err := Decode(line)
		if err != nil {
			return
		}
		if err := o.Check(); err != nil {
			t.Fatalf("decoded op fails Check: %v", err)
		}
		enc := o.AppendJSON(nil)
		if n := o.encodedLen(); n != len(enc) {
			t.Fatalf("encodedLen %d, encoded %d bytes: %s", n, len(enc), enc)
		}
		o2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		if !bytes.Equal(o2.AppendJSON(nil), enc) {
			t.Fatalf("encoding not stable: %s vs %s", o2.AppendJSON(nil), enc)
		}
		l := NewLog()
		if r := l.Merge(o); r.Outcome() == Refused && o.Kind() == KindOp {
			t.Fatalf("valid op refused by an empty log: %v", r)
		}
	})
}

func FuzzReadFrames(f *testing.F) {
	one := appendFrame(nil, lines(mustOp(f, 1, "a", 1, `1`)))
	two := appendFrame(append([]byte(nil), one...), lines(mustOp(f, 2, "a", 2, `2`)))
	f.Add([]byte{})
	f.Add(one)
	f.Add(two)
	f.Add(two[:len(two)-3])
	f.Add(append(append([]byte(nil), one...), 0, 0, 0))
	f.Add([]byte("not a log file at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs []byte
		good, err := readFrames(data, func(r []byte) error { recs = append(recs, r...); return nil })
		if err != nil {
			return
		}
		if good < 0 || good > int64(len(data)) {
			t.Fatalf("intact prefix %d of %d bytes", good, len(data))
		}
		// The intact prefix reads the same, entirely.
		var again []byte
		good2, err := readFrames(data[:good], func(r []byte) error { again = append(again, r...); return nil })
		if err != nil || good2 != good || !bytes.Equal(again, recs) {
			t.Fatalf("prefix re-read: %d %v", good2, err)
		}
	})
}
