package srv9p_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

func TestLimits_Fids(t *testing.T) {
	ts := startServer(t, func(s *srv9p.Server) { s.MaxFids = 8 })
	r := ts.dialRaw(t) // fid 0
	for fid := uint32(1); fid < 8; fid++ {
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: fid}), plan9.Rwalk, "")
	}
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 8, Wname: []string{"sub"}}), plan9.Rerror, "too many fids: limit 8")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 8, Afid: plan9.NOFID, Uname: testUser, Aname: testKey}), plan9.Rerror, "too many fids")
	if !ts.logs.contains("too many fids") {
		t.Errorf("no log line for the fid limit; logs:\n%s", ts.logs)
	}
	// A clunk makes room; walking a fid onto itself needs none.
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 7, Newfid: 7, Wname: []string{"sub"}}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 1, Fid: 7}), plan9.Rclunk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 8, Wname: []string{"sub"}}), plan9.Rwalk, "")
	// The limit is per connection.
	r2 := ts.dialRaw(t)
	r2.want(r2.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1}), plan9.Rwalk, "")
}

func TestLimits_BlockedReads(t *testing.T) {
	ts := startServer(t, func(s *srv9p.Server) { s.MaxBlockedReads = 3 })
	r := ts.dialRaw(t)
	for fid := uint32(1); fid <= 4; fid++ {
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: fid, Wname: []string{"stream"}}), plan9.Rwalk, "")
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: fid, Mode: plan9.OREAD}), plan9.Ropen, "")
	}
	for fid := uint32(1); fid <= 3; fid++ {
		r.send(&plan9.Fcall{Type: plan9.Tread, Tag: uint16(100 + fid), Fid: fid, Count: 100})
	}
	waitFor(t, patience, "3 blocked reads", func() bool { return ts.tree.hub.waiting() == 3 })
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 104, Fid: 4, Count: 100}), plan9.Rerror, "too many blocked reads: limit 3")

	// Other requests still work.
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 5, Wname: []string{"ctl"}}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 5, Mode: plan9.ORDWR}), plan9.Ropen, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 5, Data: []byte("echo hi")}), plan9.Rwrite, "")

	// Flushing one makes room for another.
	r.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 2, Oldtag: 101})
	if rx := r.recv(); rx.Tag != 101 {
		t.Fatalf("got %v, want the flushed read's reply", rx)
	}
	r.want(r.recv(), plan9.Rflush, "")
	r.send(&plan9.Fcall{Type: plan9.Tread, Tag: 104, Fid: 4, Count: 100})
	waitFor(t, patience, "3 blocked reads again", func() bool { return ts.tree.hub.waiting() == 3 })
}

func TestLimits_Write(t *testing.T) {
	ts := startServer(t, func(s *srv9p.Server) { s.MaxWrite = 100 })
	_, fsys := ts.mount(t)
	fid, err := fsys.Open("ctl", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()
	cmd := "echo " + strings.Repeat("y", 95)
	if got, err := ctlRoundTrip(fid, cmd); err != nil || got != cmd[5:]+"\n" {
		t.Errorf("write of 100 bytes: %q, %v", got, err)
	}
	_, err = fid.WriteAt([]byte(cmd+"!"), 0)
	if got, want := err.Error(), "limit: write of 101 bytes over the limit of 100"; got != want {
		t.Errorf("write of 101 bytes: got %q, want %q", got, want)
	}
	if !errors.Is(srv9p.ParseError(err.Error()), gig.ErrLimit) {
		t.Errorf("ParseError(%q) is not gig.ErrLimit", err)
	}

	r := ts.dialRaw(t)
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"ctl"}}), plan9.Rwalk, "")
	rx := r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.ORDWR})
	if rx.Type != plan9.Ropen || rx.Iounit != 100 {
		t.Errorf("open with MaxWrite 100: got %v, want iounit 100", rx)
	}
}

func TestLimits_MessageSize(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.dialRaw(t) // msize 8192
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"ctl"}}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.ORDWR}), plan9.Ropen, "")
	// A read count over the msize is cut to fit.
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: []byte("big 20000")}), plan9.Rwrite, "")
	rx := r.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 1, Count: 20000})
	if rx.Type != plan9.Rread || len(rx.Data) != 8192-plan9.IOHDRSZ {
		t.Errorf("read of 20000 at msize 8192: got %d bytes (%v)", len(rx.Data), rx.Type)
	}
	// A message over the msize ends the connection.
	r.send(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: make([]byte, 9000)})
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if f, err := plan9.ReadFcall(r.c); err == nil {
		t.Errorf("message over msize: got %v, want the connection closed", f)
	}
}

func TestServer_IdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	ts := startServer(t, func(s *srv9p.Server) { s.IdleTimeout = idle })

	// A connection with a blocked read stays open.
	busy := ts.dialRaw(t)
	busy.want(busy.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"stream"}}), plan9.Rwalk, "")
	busy.want(busy.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.OREAD}), plan9.Ropen, "")
	busy.send(&plan9.Fcall{Type: plan9.Tread, Tag: 2, Fid: 1, Count: 100})

	// An idle one is closed.
	quiet := ts.dialRaw(t)
	start := time.Now()
	quiet.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := plan9.ReadFcall(quiet.c); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: got %v, want EOF", err)
	}
	if d := time.Since(start); d < idle/2 {
		t.Errorf("idle connection closed after %v, before the timeout of %v", d, idle)
	}
	if !ts.logs.contains("idle for") {
		t.Errorf("no log line for the idle connection; logs:\n%s", ts.logs)
	}

	time.Sleep(3 * idle) // well past the timeout: the busy connection must still answer
	ts.tree.hub.publish("still here")
	if rx := busy.recv(); rx.Type != plan9.Rread || string(rx.Data) != "still here" {
		t.Errorf("connection with a blocked read: got %v", rx)
	}
}

// TestServer_Shutdown cancels Serve's context with connections holding
// blocked reads and open files: Serve returns after every handle is closed.
func TestServer_Shutdown(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.dialRaw(t)
	for fid, name := range map[uint32]string{1: "stream", 2: "ctl", 3: "counter"} {
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: fid, Wname: []string{name}}), plan9.Rwalk, "")
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: fid, Mode: plan9.OREAD}), plan9.Ropen, "")
	}
	r.send(&plan9.Fcall{Type: plan9.Tread, Tag: 2, Fid: 1, Count: 100})
	_, fsys := ts.mount(t)
	fid, err := fsys.Open("stream", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	go fid.Read(make([]byte, 100))
	waitFor(t, patience, "blocked reads", func() bool { return ts.tree.hub.waiting() == 2 })

	ts.stop() // fails the test if Serve does not return nil within 10 s
	if o, c := ts.tree.opens.Load(), ts.tree.closes.Load(); o != 4 || c != o {
		t.Errorf("after shutdown: %d handles opened, %d closed", o, c)
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := plan9.ReadFcall(r.c); err != nil {
			break // closed (any reply to the blocked read may come first)
		}
	}
}
