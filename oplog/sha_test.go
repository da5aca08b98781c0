package oplog

import (
	"encoding/json"
	"testing"
)

// Known-answer vectors pin the sha encoding (see Hash): every store and
// client must compute these, or they would refuse each other's ops. They
// were computed apart from this code, as sha256 of the documented text,
// e.g. in Python:
//
//	hashlib.sha256(b'gigfs-op-1\npayload\n1732550000123\ngolden-a\n1\n{"add":"x"}\n').hexdigest()
func TestHash_KnownAnswers(t *testing.T) {
	op, err := NewOp(1732550000123, "golden-a", 1, json.RawMessage(`{"add":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := NewCheckpoint(1732550000200, "golden-a", json.RawMessage(`["x","y"]`), Coverage{"golden-b": 1, "golden-a": 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		o    Op
		sha  string
	}{
		{"op", op, "54476245d283f36395c044a657298085a74387b46c57bbf2709a3afa324e6b81"},
		{"checkpoint", cp, "8c4d56c9cf31811c899a7ad17ab02a631dc803f3fe2930728485f07dd88d3ecf"},
		{"initial checkpoint", Initial(), "918665bfb8fa0d4cb87d371968344f108d203490a0252b2cd0ccf8212b1ae4a2"},
	} {
		if c.o.Sha != c.sha || Hash(&c.o) != c.sha {
			t.Errorf("%s: sha %s (Hash %s), want %s", c.what, c.o.Sha, Hash(&c.o), c.sha)
		}
		// And the sha survives the wire form: decoded, it checks.
		back, err := Decode(c.o.AppendJSON(nil))
		if err != nil || back.Sha != c.sha {
			t.Errorf("%s: decoded %v, %v", c.what, back.Sha, err)
		}
	}
	// Whitespace and key order in the payload do not change the sha: the
	// body is canonical JSON.
	spaced, err := NewOp(1732550000123, "golden-a", 1, json.RawMessage(` { "add" : "x" } `))
	if err != nil || spaced.Sha != op.Sha {
		t.Errorf("a payload with spaces has sha %s, %v; want %s", spaced.Sha, err, op.Sha)
	}
}
