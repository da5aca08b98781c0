package gigfs

import (
	"encoding/json"
	"testing"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// An event of a path the client neither holds nor watches is not decoded,
// but its date still moves the client's clock; opDate reads only the
// store's form.
func TestClient_UnheldEventMovesTheClock(t *testing.T) {
	c := mustClient(t, testConfig(t))
	far := c.clock.Date() + 3_600_000 // an hour ahead: within the horizon
	o, err := oplog.NewOp(far, "other", 1, json.RawMessage(`1`))
	if err != nil {
		t.Fatal(err)
	}
	c.storeEvent(nil, netstore.Event{Type: "counter", Path: "/c/unheld", Op: o.AppendJSON(nil)})
	if d := c.clock.Date(); d <= far {
		t.Fatalf("next date %d, want past the event's %d", d, far)
	}
	for in, want := range map[string]int64{
		`{"date":1732550000123,"origin":"o"}`: 1732550000123,
		`{"date":7}`:                          7,
		`{"date":"7"}`:                        -1,
		`{"date":}`:                           -1,
		`{"date":12345678901234567890,"o":1}`: -1,
		`{"origin":"o","date":7}`:             -1,
	} {
		d, ok := opDate([]byte(in))
		if (want < 0 && ok) || (want >= 0 && (!ok || d != want)) {
			t.Errorf("opDate(%s) = %d, %v; want %d", in, d, ok, want)
		}
	}
}
