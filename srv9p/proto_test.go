package srv9p_test

import (
	"encoding/binary"
	"net"
	"testing"

	"9fans.net/go/plan9"
)

// TestProto_TinyMsize: a Tversion with msize below 20 gets a reply
// (version "unknown"), not silence.
func TestProto_TinyMsize(t *testing.T) {
	ts := startServer(t, nil)
	for _, m := range []uint32{0, 10, 19, 20} {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		r := &raw{t: t, c: c}
		rx := r.rpc(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: m, Version: "9P2000"})
		if rx.Type != plan9.Rversion || rx.Version != "unknown" {
			t.Errorf("Tversion msize %d: got %v, want version unknown", m, rx)
		}
		c.Close()
	}
}

// TestProto_BadMessages: a 17-name Twalk and an unknown message type get
// an Rerror and the connection goes on.
func TestProto_BadMessages(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.dialRaw(t)
	// Twalk fid 0 newfid 1 with 17 names, built by hand (Fcall refuses it).
	msg := []byte{0, 0, 0, 0, plan9.Twalk, 7, 0, 0, 0, 0, 0, 1, 0, 0, 0, 17, 0}
	for range 17 {
		msg = append(msg, 1, 0, 'a')
	}
	binary.LittleEndian.PutUint32(msg, uint32(len(msg)))
	if _, err := r.c.Write(msg); err != nil {
		t.Fatal(err)
	}
	r.want(r.recv(), plan9.Rerror, "walk of 17 names")
	// An unknown type.
	if _, err := r.c.Write([]byte{7, 0, 0, 0, 200, 8, 0}); err != nil {
		t.Fatal(err)
	}
	rx := r.recv()
	r.want(rx, plan9.Rerror, "unknown message type 200")
	if rx.Tag != 8 {
		t.Errorf("reply tag %d, want 8", rx.Tag)
	}
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tstat, Tag: 1, Fid: 0}), plan9.Rstat, "")
}
