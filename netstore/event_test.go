package netstore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unsafe"

	"gigfs.io/gigfs/oplog"
)

// ParseEvent's fast path gives what encoding/json gives, for the lines the
// store writes (names with quotes, escapes, HTML characters and non-ASCII
// included), and the lines it does not take go to encoding/json.
func TestParseEvent_FastPathAgrees(t *testing.T) {
	o, err := oplog.NewOp(1732550000123, "orig", 7, json.RawMessage(`{"add":1,"s":"a\"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, ev := range []Event{
		{Seq: 1, Epoch: "9f2c", Type: "counter", Path: "/c/x", Op: o.AppendJSON(nil)},
		{Seq: 18446744073709551615, Epoch: "e", Type: "lww", Path: "/c/é/ü", Op: o.AppendJSON(nil)},
		{Seq: 3, Epoch: "e", Type: "set", Path: `/c/a"b\c`, Op: o.AppendJSON(nil)},
		{Seq: 4, Epoch: "e", Type: "set", Path: "/c/<&>", Op: o.AppendJSON(nil)},
		{Seq: 0, Type: "t", Path: "/c/p", Op: o.AppendJSON(nil)},
	} {
		b, _ := json.Marshal(ev)
		lines = append(lines, append(b, '\n'))
	}
	lines = append(lines,
		[]byte(`{"seq":5,"epoch":"e","type":"t","path":"/c/p","op":{"date":1}}`),
		[]byte(`{"type":"t","path":"/c/p","op":{"date":1},"seq":6,"epoch":"e"}`),
		[]byte(`{"seq":007,"epoch":"e","type":"t","path":"/c/p","op":{"date":1}}`),
		[]byte(`{"seq":99999999999999999999,"epoch":"e","type":"t","path":"/c/p","op":{"date":1}}`),
		[]byte(`{"seq":8,"epoch":"e","type":"","path":"/c/p","op":{"date":1}}`),
		[]byte("{\"seq\":9,\"epoch\":\"e\",\"type\":\"t\",\"path\":\"/c/\xff\",\"op\":{\"date\":1}}"),
	)
	for _, i := range []int{0, 1, 5} {
		if _, ok := parseEventFast(lines[i]); !ok {
			t.Errorf("%s: not taken by the fast path", lines[i])
		}
	}
	var prev Event
	for _, line := range lines {
		got, gotErr := ParseEvent(line)
		after, afterErr := ParseEventAfter(line, &prev)
		if (gotErr != nil) != (afterErr != nil) || !reflect.DeepEqual(got, after) {
			t.Errorf("%s: ParseEventAfter %+v, %v; ParseEvent %+v, %v", line, after, afterErr, got, gotErr)
		}
		if afterErr == nil {
			prev = after
		}
		var want Event
		wantErr := json.Unmarshal(line, &want)
		if wantErr == nil && (want.Type == "" || want.Path == "" || want.Op == nil) {
			wantErr = errBad
		}
		if (gotErr != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, encoding/json %v", line, gotErr, wantErr)
			continue
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", line, got, want)
		}
	}
}

// A stream reader's events share the strings of the event before where
// they are the same (the stream's epoch, a run of one oplog's events),
// and their ops are the reader's line, not copies.
func TestParseEventAfter_SharesStrings(t *testing.T) {
	first, err := ParseEventAfter([]byte(`{"seq":1,"epoch":"9f2c","type":"counter","path":"/c/x","op":{"date":1}}`+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(`{"seq":2,"epoch":"9f2c","type":"counter","path":"/c/y","op":{"date":2}}` + "\n")
	ev, err := ParseEventAfter(line, &first)
	if err != nil || ev.Seq != 2 || ev.Path != "/c/y" || string(ev.Op) != `{"date":2}` {
		t.Fatalf("second event %+v, %v", ev, err)
	}
	if unsafe.StringData(ev.Epoch) != unsafe.StringData(first.Epoch) || unsafe.StringData(ev.Type) != unsafe.StringData(first.Type) {
		t.Error("the epoch and type of the event before were made again")
	}
	if &ev.Op[0] != &line[bytes.Index(line, []byte(`{"date":2}`))] {
		t.Error("the op is a copy, not the line")
	}
}

var errBad = jsonError("bad event")

type jsonError string

func (e jsonError) Error() string { return string(e) }

// BenchmarkParseEvent: one stream line, by ParseEvent and by
// encoding/json (what ParseEvent did before its fast path).
func BenchmarkParseEvent(b *testing.B) {
	o, _ := oplog.NewOp(1732550000123, "0f1c2a3b-1111-2222-3333-444455556666", 7, json.RawMessage(`{"add":1}`))
	line, _ := json.Marshal(Event{Seq: 123456, Epoch: "9f2c00aa11bb22cc", Type: "counter", Path: "/bench/p1", Op: o.AppendJSON(nil)})
	line = append(line, '\n')
	b.Run("ParseEvent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseEvent(line); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ev Event
			if err := json.Unmarshal(line, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeRecord: one push line, by DecodeRecord and by the
// general decoder (what DecodeRecord did before its fast path).
func BenchmarkDecodeRecord(b *testing.B) {
	o, _ := oplog.NewOp(1732550000123, "0f1c2a3b-1111-2222-3333-444455556666", 7, json.RawMessage(`{"add":1}`))
	line := AppendRecord(nil, &Record{Type: "counter", Path: "/bench/p1", Op: o})
	b.Run("DecodeRecord", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeRecord(line); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("general", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeRecordSlow(line); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// appendEvent writes what json.Marshal of the Event writes, escapes and
// non-ASCII names included; but the op goes as AppendJSON wrote it (where
// json.Marshal would escape a '<' of a payload as \u003c), and reads back
// as the same op.
func TestAppendEvent_AsMarshal(t *testing.T) {
	html, _ := oplog.NewOp(1732550000123, "orig", 8, json.RawMessage(`{"s":"a<b&c"}`))
	line := appendEvent(nil, 9, "e", "lww", "/c/h", html.AppendJSON(nil))
	ev, err := ParseEvent(line)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := oplog.Decode(ev.Op); err != nil || back.Sha != html.Sha || string(back.Payload) != string(html.Payload) {
		t.Fatalf("op with HTML characters read back as %+v, %v", back, err)
	}
	o, _ := oplog.NewOp(1732550000123, "orig", 7, json.RawMessage(`{"add":1,"s":"a b"}`))
	op := o.AppendJSON(nil)
	for _, ev := range []Event{
		{Seq: 1, Epoch: "9f2c", Type: "counter", Path: "/c/x"},
		{Type: "counter", Path: "/c/x"},
		{Seq: 3, Epoch: "e", Type: "set", Path: `/c/a"b\c`},
		{Seq: 4, Epoch: "e", Type: "set", Path: "/c/<&>"},
		{Seq: 5, Epoch: "e", Type: "set", Path: "/c/é\u2028"},
		{Seq: 6, Type: "t\x01", Path: "/c/\x7f"},
	} {
		ev.Op = op
		want, _ := json.Marshal(ev)
		if got := appendEvent(nil, ev.Seq, ev.Epoch, ev.Type, ev.Path, op); string(got) != string(want) {
			t.Errorf("appendEvent %+v:\n got %s\nwant %s", ev, got, want)
		}
	}
}

// BenchmarkAppendEvent: one stream line, by appendEvent and by json.Marshal
// (what the store and AppendRecord did before).
func BenchmarkAppendEvent(b *testing.B) {
	o, _ := oplog.NewOp(1732550000123, "0f1c2a3b-1111-2222-3333-444455556666", 7, json.RawMessage(`{"add":1}`))
	op := o.AppendJSON(nil)
	b.Run("appendEvent", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendEvent(buf[:0], 123456, "9f2c00aa11bb22cc", "counter", "/bench/p1", op)
		}
	})
	b.Run("json_Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(Event{Seq: 123456, Epoch: "9f2c00aa11bb22cc", Type: "counter", Path: "/bench/p1", Op: op})
		}
	})
}
