package oplog

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func logOf(tb testing.TB, value string, payloads ...string) *Log {
	tb.Helper()
	l := NewLog()
	if value != "" {
		l.Merge(mustCheckpoint(tb, 1, "c", value, Coverage{"c0": 1}))
	}
	for i, p := range payloads {
		l.Merge(mustOp(tb, int64(10+i), "w", uint64(i+1), p))
	}
	return l
}

func TestBuiltins(t *testing.T) {
	tests := []struct {
		reducer  string
		value    string // checkpoint value, "" for the initial null
		payloads []string
		want     string
	}{
		{"lww", "", nil, `null`},
		{"lww", `"v"`, nil, `"v"`},
		{"lww", "", []string{`1`, `false`}, `false`},
		{"counter", "", nil, `0`},
		{"counter", "", []string{`1`, `2`, `-4`}, `-1`},
		{"counter", `10`, []string{`0.5`}, `10.5`},
		{"counter", "", []string{`9223372036854775807`, `1`}, `9223372036854775808`},
		{"counter", "", []string{`{"add":2}`, `3`, `{"add":-1.5}`}, `3.5`},
		{"merge", "", []string{`{"a":1,"b":{"c":2}}`, `{"b":{"c":null,"d":3}}`}, `{"a":1,"b":{"d":3}}`},
		{"merge", `{"a":1}`, []string{`[1]`, `{"x":null}`}, `{}`},
		{"merge", `{"a":1}`, []string{`"replaced"`}, `"replaced"`},
		{"set", "", []string{`{"add":"x"}`, `{"add":{"b":1,"a":2}}`, `{"add":"x"}`, `{"del":"y"}`}, `["x",{"a":2,"b":1}]`},
		{"set", `["a","b"]`, []string{`{"del":"a"}`}, `["b"]`},
		{"list", "", []string{`1`, `null`, `{"k":""}`}, `[1,null,{"k":""}]`},
		{"list", `[0]`, []string{`1`}, `[0,1]`},
		{"list", `[]`, []string{`1`}, `[1]`},
	}
	for _, tt := range tests {
		name := tt.reducer + "(" + tt.value + ";" + strings.Join(tt.payloads, ";") + ")"
		t.Run(name, func(t *testing.T) {
			f, ok := Builtin(tt.reducer)
			if !ok {
				t.Fatalf("no built-in %s", tt.reducer)
			}
			got, err := Reduce(f, logOf(t, tt.value, tt.payloads...))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// A failing reducer gives an error naming the type and the path, and the
// stored log is unchanged.
func TestRegistry_ReduceErrors(t *testing.T) {
	var reg Registry
	reg.Register("boom", func(json.RawMessage, []json.RawMessage) (json.RawMessage, error) {
		return nil, errors.New("kaput")
	})
	reg.Register("silent", func(json.RawMessage, []json.RawMessage) (json.RawMessage, error) { return nil, nil })
	reg.Register("garbage", func(json.RawMessage, []json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage("{not json"), nil
	})
	reg.Register("panics", func(json.RawMessage, []json.RawMessage) (json.RawMessage, error) { panic("oops") })
	tests := []struct{ typ, mention string }{
		{"boom", "kaput"},
		{"silent", "returned nothing"},
		{"garbage", "invalid JSON"},
		{"panics", "panicked"},
		{"counter", "not a number"},
		{"nosuch", "no reducer"},
	}
	for _, tt := range tests {
		l := logOf(t, "", `"text"`)
		before := string(l.AppendJSONLines(nil))
		_, err := reg.Reduce(tt.typ, "/a/b", l)
		if err == nil {
			t.Errorf("%s: no error", tt.typ)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.typ) || !strings.Contains(msg, "/a/b") || !strings.Contains(msg, tt.mention) {
			t.Errorf("%s: error %q should name the type, the path and %q", tt.typ, msg, tt.mention)
		}
		if string(l.AppendJSONLines(nil)) != before {
			t.Errorf("%s: log changed", tt.typ)
		}
	}
}

func TestRegistry_BuiltinByTypeName(t *testing.T) {
	var reg Registry
	got, err := reg.Reduce("counter", "/x", logOf(t, "", `2`, `3`))
	if err != nil || string(got) != "5" {
		t.Fatalf("got %s, %v", got, err)
	}
	reg.Register("counter", LWW) // a registration overrides the built-in of that name
	if got, _ := reg.Reduce("counter", "/x", logOf(t, "", `2`, `3`)); string(got) != "3" {
		t.Fatalf("override: got %s", got)
	}
}

func TestRegistry_ReduceWith(t *testing.T) {
	var reg Registry
	l := logOf(t, "", `1`, `2`)
	before := string(l.AppendJSONLines(nil))
	if v, err := reg.ReduceWith("counter", "/c", l, json.RawMessage(`10`)); err != nil || string(v) != "13" {
		t.Fatalf("ReduceWith: %s %v", v, err)
	}
	if _, err := reg.ReduceWith("counter", "/c", l, json.RawMessage(`"x"`)); err == nil || !strings.Contains(err.Error(), "counter /c") {
		t.Fatalf("bad payload: %v", err)
	}
	if string(l.AppendJSONLines(nil)) != before {
		t.Fatal("ReduceWith changed the log")
	}
}

func TestRegistry_ReduceNext(t *testing.T) {
	var reg Registry
	cases := map[string][]string{
		"counter": {`1`, `{"add":-3}`, `9223372036854775807`, `2`, `0.5`, `{"add":7}`, `1e3`, `4`},
		"lww":     {`1`, `"x"`, `null`, `{"a":1}`},
		"list":    {`1`, `"x"`, `[2]`, `null`},
		"merge":   {`{"a":1}`, `{"b":{"c":2}}`, `{"a":null}`, `5`, `{"z":1}`},
		"set":     {`{"add":1}`, `{"add":"x"}`, `{"del":1}`, `{"add":[1,2]}`},
	}
	for typ, payloads := range cases {
		l := NewLog()
		value, err := reg.Reduce(typ, "/p", l)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range payloads {
			next, err := reg.ReduceNext(typ, "/p", l, value, json.RawMessage(p))
			if err != nil {
				t.Fatalf("%s: payload %d: %v", typ, i+1, err)
			}
			o := mustOp(t, int64(i+1), "a", uint64(i+1), p)
			l.Merge(o)
			full, err := reg.Reduce(typ, "/p", l)
			if err != nil {
				t.Fatal(err)
			}
			if string(next) != string(full) {
				t.Errorf("%s after %d payloads: incremental %s, whole log %s", typ, i+1, next, full)
			}
			value = next
		}
	}
}

func TestCounter_bigAndSmall(t *testing.T) {
	got, err := Counter(json.RawMessage(`9223372036854775807`), []json.RawMessage{json.RawMessage(`999999999999999999`), json.RawMessage(`{"add":-1}`), json.RawMessage(`1`)})
	if err != nil || string(got) != "10223372036854775806" {
		t.Errorf("got %s %v, want 10223372036854775806", got, err)
	}
}

// TestRegistry_ReduceAnywhere: an op merged anywhere in the date order
// gives, incrementally, the value of the whole log, for an integer counter;
// a float, a number past int64's digits, another type or a registered
// reducer is left to a whole reduction (ok false).
func TestRegistry_ReduceAnywhere(t *testing.T) {
	var reg Registry
	payloads := []string{`5`, `{"add":-3}`, `922337203685477580`, `2`, `{"add":7}`, `-40`}
	dates := []int64{50, 10, 40, 20, 60, 30} // every op but the second-last arrives out of order
	l := NewLog()
	value, err := reg.Reduce("counter", "/p", l)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range payloads {
		next, ok := reg.ReduceAnywhere("counter", value, json.RawMessage(p))
		if !ok {
			t.Fatalf("payload %d (%s): not reduced", i+1, p)
		}
		l.Merge(mustOp(t, dates[i], "a", uint64(i+1), p))
		full, err := reg.Reduce("counter", "/p", l)
		if err != nil {
			t.Fatal(err)
		}
		if string(next) != string(full) {
			t.Fatalf("after %d payloads: incremental %s, whole log %s", i+1, next, full)
		}
		value = next
	}
	if _, ok := reg.ReduceAnywhere("counter", value, json.RawMessage(`0.5`)); ok {
		t.Error("a float payload was reduced out of order")
	}
	if _, ok := reg.ReduceAnywhere("counter", value, json.RawMessage(`9223372036854775807`)); ok {
		t.Error("a payload past int64's digits was reduced out of order")
	}
	if _, ok := reg.ReduceAnywhere("counter", json.RawMessage(`1.5`), json.RawMessage(`1`)); ok {
		t.Error("a float value was reduced out of order")
	}
	if _, ok := reg.ReduceAnywhere("lww", json.RawMessage(`1`), json.RawMessage(`2`)); ok {
		t.Error("lww was reduced out of order")
	}
	reg.Register("counter", func(v json.RawMessage, _ []json.RawMessage) (json.RawMessage, error) { return v, nil })
	if _, ok := reg.ReduceAnywhere("counter", json.RawMessage(`1`), json.RawMessage(`2`)); ok {
		t.Error("a registered counter was reduced out of order")
	}
}
