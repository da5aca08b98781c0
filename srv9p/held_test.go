package srv9p

import (
	"net"
	"testing"

	"9fans.net/go/plan9"
)

// recordConn records the types of the messages written to it.
type recordConn struct {
	net.Conn
	types []uint8
}

func (c *recordConn) Write(p []byte) (int, error) {
	for m := p; len(m) >= 7; m = m[int(uint32(m[0])|uint32(m[1])<<8|uint32(m[2])<<16|uint32(m[3])<<24):] {
		c.types = append(c.types, m[4])
	}
	return len(p), nil
}

func (c *recordConn) Close() error { return nil }

func fcallBytes(t *testing.T, f *plan9.Fcall) []byte {
	t.Helper()
	b, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWriter_RwriteAfterItsNamedReadsReplyIsNotHeld: a named read may be
// answered before its write's Rwrite is made (the read wakes when the
// write is done, before the library replies to the write). If the read's
// reply is queued, not written yet, when the Rwrite comes, the Rwrite
// must not be held for it: no other reply may ever come, and the push
// would wait for its Rwrite until its deadline.
func TestWriter_RwriteAfterItsNamedReadsReplyIsNotHeld(t *testing.T) {
	nc := &recordConn{}
	c := &conn{nc: nc}
	c.msize.Store(8192)
	c.flow.init()
	w := &writer{c: c}
	c.w = w
	c.reserve(fcallBytes(t, &plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 5, Offset: 1, Data: []byte("x\n")}))
	c.reserve(fcallBytes(t, &plan9.Fcall{Type: plan9.Tread, Tag: 2, Fid: 5, Offset: uint64(NamedOffset(1, 0)), Count: 100}))

	// A write is under way (another reply's): the read's reply is queued.
	w.writing = true
	w.Write(fcallBytes(t, &plan9.Fcall{Type: plan9.Rread, Tag: 2, Data: []byte("ok\n")}))
	w.Write(fcallBytes(t, &plan9.Fcall{Type: plan9.Rwrite, Tag: 1, Count: 2}))
	w.writeOut() // what the goroutine writing does next

	if len(nc.types) != 2 || nc.types[0] != plan9.Rread || nc.types[1] != plan9.Rwrite {
		t.Fatalf("written %v, want Rread then Rwrite (%d bytes held)", nc.types, len(w.held))
	}
	if n, _ := c.pending(); n != 0 {
		t.Errorf("%d requests in flight, want 0", n)
	}
}
