package netstore

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"gigfs.io/gigfs/oplog"
)

// FuzzDecodeRecord feeds the push-line decoder anything: it must not
// panic, must refuse rather than mend (no U+FFFD in a name the line does
// not spell), and what it accepts must encode back to a line that decodes
// to the same record.
//
//	go test ./netstore -run '^$' -fuzz FuzzDecodeRecord -fuzztime 30s
func FuzzDecodeRecord(f *testing.F) {
	o, err := oplog.NewOp(1732550000123, "origin-1", 1, []byte(`{"add":1}`))
	if err != nil {
		f.Fatal(err)
	}
	good := AppendRecord(nil, &Record{Type: "counter", Path: "/notes/visits", Op: o})
	f.Add(good)
	f.Add([]byte(`{"seq":3,"epoch":"e","type":"lww","path":"/a","op":{"date":1,"origin":"o","seq":1,"sha":"00","payload":null}}`))
	f.Add(bytes.Replace(good, []byte("visits"), []byte("vis\xffits"), 1))
	f.Add(bytes.Replace(good, []byte("visits"), []byte(`vis\ud800its`), 1))
	f.Add([]byte(`{"type":"lww","path":"/a"}`))
	f.Add([]byte(`{"type":"lww","path":"/a","op":{},"extra":1}`))
	f.Add([]byte(`[]`))
	f.Add(append(bytes.TrimSuffix(good, []byte("}")), []byte(`,"x":{}}`)...))
	f.Add(append(append([]byte(nil), good...), '}'))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := DecodeRecord(line)
		if _, fast := parseLineFast(line); fast && utf8.Valid(line) {
			// The fast path takes and refuses what the general one does.
			slow, serr := decodeRecordSlow(line)
			if (err == nil) != (serr == nil) {
				t.Fatalf("fast path: %v, general: %v\n%s", err, serr, line)
			}
			if err == nil && (slow.Type != r.Type || slow.Path != r.Path || !bytes.Equal(slow.Op.AppendJSON(nil), r.Op.AppendJSON(nil))) {
				t.Fatalf("fast path %+v, general %+v", r, slow)
			}
		}
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("a refusal of two lines: %q", err)
			}
			return
		}
		if !utf8.ValidString(r.Type) || !utf8.ValidString(r.Path) {
			t.Fatalf("accepted a name that is not UTF-8: %q %q", r.Type, r.Path)
		}
		for _, name := range []string{r.Type, r.Path} {
			if strings.ContainsRune(name, utf8.RuneError) && !bytes.Contains(line, []byte("\uFFFD")) && !bytes.Contains(bytes.ToLower(line), []byte(`\ufffd`)) {
				t.Fatalf("mended a name to %q from %q", name, line)
			}
		}
		again, err := DecodeRecord(AppendRecord(nil, &r))
		if err != nil {
			t.Fatalf("the encoding of an accepted record is refused: %v\n%s", err, AppendRecord(nil, &r))
		}
		if again.Type != r.Type || again.Path != r.Path || !bytes.Equal(again.Op.AppendJSON(nil), r.Op.AppendJSON(nil)) {
			t.Fatalf("round trip: %+v became %+v", r, again)
		}
	})
}
