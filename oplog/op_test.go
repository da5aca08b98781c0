package oplog

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func mustOp(tb testing.TB, date int64, origin string, seq uint64, payload string) Op {
	tb.Helper()
	o, err := NewOp(date, origin, seq, json.RawMessage(payload))
	if err != nil {
		tb.Fatalf("NewOp(%d, %s, %d, %s): %v", date, origin, seq, payload, err)
	}
	return o
}

func mustCheckpoint(tb testing.TB, date int64, origin, value string, cov Coverage) Op {
	tb.Helper()
	c, err := NewCheckpoint(date, origin, json.RawMessage(value), cov)
	if err != nil {
		tb.Fatalf("NewCheckpoint: %v", err)
	}
	return c
}

func TestOp_RoundTrip(t *testing.T) {
	ops := []Op{
		mustOp(t, 1732550000123, "a", 1, `{"x": [1, 2.50, "é<>&"], "b": true}`),
		mustCheckpoint(t, 1732550000999, "b", `{"n":3}`, Coverage{"a": 1, "c": 9}),
		Initial(),
	}
	for _, o := range ops {
		line := o.AppendJSON(nil)
		got, err := Decode(line)
		if err != nil {
			t.Fatalf("Decode(%s): %v", line, err)
		}
		if string(got.AppendJSON(nil)) != string(line) {
			t.Errorf("round trip: got %s, want %s", got.AppendJSON(nil), line)
		}
	}
}

func TestOp_CanonicalBody(t *testing.T) {
	o := mustOp(t, 5, "a", 1, `{"b": 1, "a": {"y": null, "x": "<&>"}}`)
	if got, want := string(o.Payload), `{"a":{"x":"<&>","y":null},"b":1}`; got != want {
		t.Fatalf("payload = %s, want %s", got, want)
	}
	// A tool that re-encodes the JSON (other key order, spaces) keeps the sha valid.
	reordered := `{ "sha": "` + o.Sha + `", "payload": {"b":1,"a":{"x":"<&>","y":null}}, "seq": 1, "origin": "a", "date": 5 }`
	got, err := Decode([]byte(reordered))
	if err != nil {
		t.Fatalf("Decode(re-encoded): %v", err)
	}
	if got.Sha != o.Sha {
		t.Fatalf("sha changed")
	}
}

// Any JSON value is a valid payload and a valid checkpoint value.
func TestOp_FalsyValues(t *testing.T) {
	for _, v := range []string{`0`, `""`, `false`, `null`, `[]`, `{}`} {
		o := mustOp(t, 10, "a", 1, v)
		if string(o.Payload) != v {
			t.Errorf("payload %s stored as %s", v, o.Payload)
		}
		d, err := Decode(o.AppendJSON(nil))
		if err != nil || d.Kind() != KindOp || string(d.Payload) != v {
			t.Errorf("Decode op with payload %s: %v, kind %v, payload %s", v, err, d.Kind(), d.Payload)
		}
		c := mustCheckpoint(t, 20, "a", v, Coverage{"a": 1})
		d, err = Decode(c.AppendJSON(nil))
		if err != nil || d.Kind() != KindCheckpoint || string(d.Value) != v {
			t.Errorf("Decode checkpoint with value %s: %v, kind %v, value %s", v, err, d.Kind(), d.Value)
		}
		l := NewLog()
		if r := l.Merge(o); r.Outcome() != Accepted {
			t.Errorf("merge op with payload %s: %v", v, r)
		}
		if r := l.Merge(c); r.Outcome() != Accepted {
			t.Errorf("merge checkpoint with value %s: %v", v, r)
		}
		if got, err := Reduce(LWW, l); err != nil || string(got) != v {
			t.Errorf("lww after checkpoint %s = %s, %v", v, got, err)
		}
	}
}

func TestDecode_BadInput(t *testing.T) {
	good := mustOp(t, 100, "a", 1, `{"k":1}`)
	sha := good.Sha
	neg, _ := NewOp(1, "a", 1, json.RawMessage(`1`))
	neg.Date = -5
	neg.Sha = Hash(&neg)
	huge := `{"date":1,"origin":"a","seq":1,"sha":"` + sha + `","payload":"` + strings.Repeat("x", MaxOpSize) + `"}`
	tests := []struct {
		name, line string
		want       error
		mention    string
	}{
		{"malformed JSON", `{"date":1,`, ErrMalformed, ""},
		{"not an object", `[1,2]`, ErrMalformed, ""},
		{"missing date", `{"origin":"a","seq":1,"sha":"` + sha + `","payload":{"k":1}}`, ErrMalformed, "missing date"},
		{"missing sha", `{"date":100,"origin":"a","seq":1,"payload":{"k":1}}`, ErrMalformed, "missing sha"},
		{"missing payload", `{"date":100,"origin":"a","seq":1,"sha":"` + sha + `"}`, ErrMalformed, "missing payload"},
		{"missing origin", `{"date":100,"seq":1,"sha":"` + sha + `","payload":{"k":1}}`, ErrMalformed, "origin"},
		{"missing seq", `{"date":100,"origin":"a","sha":"` + sha + `","payload":{"k":1}}`, ErrMalformed, "missing seq"},
		{"wrong sha", `{"date":101,"origin":"a","seq":1,"sha":"` + sha + `","payload":{"k":1}}`, ErrBadSha, "sha"},
		{"uppercase sha", `{"date":100,"origin":"a","seq":1,"sha":"` + strings.ToUpper(sha) + `","payload":{"k":1}}`, ErrBadSha, "sha"},
		{"sha not hex", `{"date":100,"origin":"a","seq":1,"sha":"` + "g" + sha[1:] + `","payload":{"k":1}}`, ErrBadSha, "sha"},
		{"sha not hex, last digit", `{"date":100,"origin":"a","seq":1,"sha":"` + sha[:63] + "G" + `","payload":{"k":1}}`, ErrBadSha, "sha"},
		{"short sha", `{"date":100,"origin":"a","seq":1,"sha":"abc","payload":{"k":1}}`, ErrMalformed, "sha"},
		{"negative date", string(neg.AppendJSON(nil)), ErrMalformed, "negative date"},
		{"fractional date", `{"date":1.5,"origin":"a","seq":1,"sha":"` + sha + `","payload":1}`, ErrMalformed, "date"},
		{"string date", `{"date":"100","origin":"a","seq":1,"sha":"` + sha + `","payload":1}`, ErrMalformed, "date"},
		{"payload not JSON", `{"date":100,"origin":"a","seq":1,"sha":"` + sha + `","payload":nope}`, ErrMalformed, ""},
		{"both payload and value", `{"date":100,"origin":"a","seq":1,"sha":"` + sha + `","payload":1,"value":2,"covers":{}}`, ErrMalformed, "both"},
		{"unknown field", `{"date":100,"origin":"a","seq":1,"sha":"` + sha + `","payload":{"k":1},"extra":1}`, ErrMalformed, "extra"},
		{"bad origin", `{"date":100,"origin":"a/b","seq":1,"sha":"` + sha + `","payload":{"k":1}}`, ErrMalformed, "origin"},
		{"zero seq", `{"date":100,"origin":"a","seq":0,"sha":"` + sha + `","payload":{"k":1}}`, ErrMalformed, "seq"},
		{"covers on op", `{"date":100,"origin":"a","seq":1,"sha":"` + sha + `","payload":{"k":1},"covers":{}}`, ErrMalformed, "covers"},
		{"checkpoint without covers", `{"date":100,"origin":"a","sha":"` + sha + `","value":1}`, ErrMalformed, "covers"},
		{"bad covers", `{"date":100,"origin":"a","sha":"` + sha + `","value":1,"covers":{"a":-1}}`, ErrMalformed, "covers"},
		{"trailing data", string(good.AppendJSON(nil)) + ` {}`, ErrMalformed, "trailing"},
		{"trailing brace", string(good.AppendJSON(nil)) + `}`, ErrMalformed, "trailing"},
		{"trailing bracket", string(good.AppendJSON(nil)) + ` ]`, ErrMalformed, "trailing"},
		{"oversized", huge, ErrTooLarge, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLog()
			l.Merge(mustOp(t, 1, "z", 1, `"kept"`))
			before := string(l.AppendJSONLines(nil))
			_, err := Decode([]byte(tt.line))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode: err = %v, want %v", err, tt.want)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tt.mention) {
				t.Errorf("error %q: want one line mentioning %q", msg, tt.mention)
			}
			if after := string(l.AppendJSONLines(nil)); after != before {
				t.Errorf("log changed")
			}
			// DecodeHeld of an op the reader does not hold checks it all.
			if _, held, err := DecodeHeld([]byte(tt.line), l.Has); held || !errors.Is(err, tt.want) {
				t.Fatalf("DecodeHeld: held %v, err = %v, want %v", held, err, tt.want)
			}
		})
	}
}

// TestDecodeHeld: an op the reader holds (same origin, seq and sha) is
// reported held and not verified; the same op with another sha, or one it
// does not hold, is verified as Decode verifies it.
func TestDecodeHeld(t *testing.T) {
	l := NewLog()
	o := mustOp(t, 100, "a", 1, `{"k":1}`)
	l.Merge(o)
	line := o.AppendJSON(nil)
	got, held, err := DecodeHeld(line, l.Has)
	if err != nil || !held || got.Sha != o.Sha {
		t.Fatalf("held op: %v, held %v, sha %.12s", err, held, got.Sha)
	}
	// Tampered content under the held sha: held, so dropped, never merged.
	tampered := []byte(strings.Replace(string(line), `"k":1`, `"k":2`, 1))
	if _, held, err := DecodeHeld(tampered, l.Has); err != nil || !held {
		t.Fatalf("tampered held op: %v, held %v", err, held)
	}
	// The same (origin, seq) with a sha that is not the held one: verified.
	other := mustOp(t, 101, "a", 1, `{"k":1}`)
	bad := []byte(strings.Replace(string(other.AppendJSON(nil)), `"date":101`, `"date":102`, 1))
	if _, held, err := DecodeHeld(bad, l.Has); held || !errors.Is(err, ErrBadSha) {
		t.Fatalf("op not held with a bad sha: held %v, err %v, want %v", held, err, ErrBadSha)
	}
	if got, held, err := DecodeHeld(other.AppendJSON(nil), l.Has); held || err != nil || got.Sha != other.Sha {
		t.Fatalf("op not held: held %v, err %v", held, err)
	}
}

// TestLog_MergeChecked: MergeChecked merges as Merge does, for ops that
// passed Check.
func TestLog_MergeChecked(t *testing.T) {
	a, b := NewLog(), NewLog()
	ops := []Op{mustOp(t, 2, "a", 2, `1`), mustOp(t, 1, "a", 1, `1`), mustCheckpoint(t, 3, "x", `1`, Coverage{"a": 1})}
	for _, o := range append(ops, ops[0]) {
		if r, s := a.Merge(o), b.MergeChecked(o); r != s {
			t.Fatalf("op %.12s: Merge %v, MergeChecked %v", o.Sha, r, s)
		}
	}
	if x, y := string(a.AppendJSONLines(nil)), string(b.AppendJSONLines(nil)); x != y {
		t.Fatalf("logs differ:\n%s\n%s", x, y)
	}
}

// An op built in Go with a wrong sha is refused by Merge and changes nothing.
func TestLog_MergeChecks(t *testing.T) {
	l := NewLog()
	o := mustOp(t, 10, "a", 1, `1`)
	o.Payload = json.RawMessage(`2`)
	r := l.Merge(o)
	if r.Outcome() != Refused || !strings.Contains(r.Reason, "sha") {
		t.Fatalf("merge of forged op: %v", r)
	}
	if l.Len() != 1 {
		t.Fatalf("log changed: %d records", l.Len())
	}
}

func TestScanner(t *testing.T) {
	a := mustOp(t, 1, "a", 1, `1`)
	b := mustOp(t, 2, "a", 2, `2`)
	in := string(a.AppendJSON(nil)) + "\n\n{bad\n" + string(b.AppendJSON(nil)) + "\n"
	s := NewScanner(strings.NewReader(in))
	var got []string
	for s.Scan() {
		if err := s.LineErr(); err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line != 3 {
				t.Errorf("line error %v, want line 3", err)
			}
			got = append(got, "err")
			continue
		}
		got = append(got, string(s.Op().Payload))
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if strings.Join(got, ",") != "1,err,2" {
		t.Fatalf("scanned %v", got)
	}
}
