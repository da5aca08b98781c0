package oplog

import "testing"

func TestLog_Until(t *testing.T) {
	l := NewLog()
	for i, d := range []int64{10, 20, 30} {
		o, err := NewOp(d, "o", uint64(i+1), []byte(`1`))
		if err != nil {
			t.Fatal(err)
		}
		if r := l.Merge(o); r.Outcome() != Accepted {
			t.Fatalf("merge: %v", r)
		}
	}
	counter, _ := Builtin("counter")
	for _, tc := range []struct {
		at   int64
		want string
	}{{5, "0"}, {10, "1"}, {29, "2"}, {30, "3"}, {1 << 40, "3"}} {
		v, err := Reduce(counter, l.Until(tc.at))
		if err != nil || string(v) != tc.want {
			t.Errorf("value at %d: %s %v, want %s", tc.at, v, err, tc.want)
		}
	}
	if l.Len() != 4 {
		t.Errorf("Until changed the log: %d records", l.Len())
	}
}
