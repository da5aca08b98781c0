package srv9p_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"9fans.net/go/plan9"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// A Tclunk gets the error of the fid's Handle.Close as its Rerror, and the
// fid is gone either way (clunk(5)).
func TestClunk_CloseErrorIsTheReply(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.dialRaw(t)
	open := func(fid uint32) {
		t.Helper()
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: fid, Wname: []string{"lines"}}), plan9.Rwalk, "")
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: fid, Mode: plan9.OWRITE}), plan9.Ropen, "")
	}
	write := func(fid uint32, s string) {
		t.Helper()
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: fid, Data: []byte(s)}), plan9.Rwrite, "")
	}

	open(1)
	write(1, "one\ntw")
	write(1, "o\nthr") // a line across writes is whole; "thr" is not
	rx := r.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 7, Fid: 1})
	r.want(rx, plan9.Rerror, "partial line of 3 bytes dropped")
	if !errors.Is(srv9p.ParseError(rx.Ename), gig.ErrInvalid) {
		t.Errorf("the clunk's error %q is not of kind invalid", rx.Ename)
	}
	if got := ts.tree.lines.String(); got != "one|two" {
		t.Errorf("lines kept: %q, want the two whole ones", got)
	}
	// The fid is gone although the clunk failed: its number is free again.
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tstat, Tag: 1, Fid: 1}), plan9.Rerror, "unknown fid")
	if !ts.logs.contains("user glenda: close /lines: invalid: partial line of 3 bytes dropped") {
		t.Errorf("the server's log does not name the dropped line:\n%s", ts.logs)
	}

	// A clunk with nothing to say is an Rclunk, not the Rremove the library
	// answered it with.
	open(1)
	write(1, "four\n")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 8, Fid: 1}), plan9.Rclunk, "")
	// Unopened and unknown fids as before.
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 2}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 1, Fid: 2}), plan9.Rclunk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 1, Fid: 2}), plan9.Rerror, "unknown fid")
	if opens, closes := ts.tree.opens.Load(), ts.tree.closes.Load(); opens != closes {
		t.Errorf("%d handles opened, %d closed", opens, closes)
	}
}

// Our two clients and the 9fans one return the clunk's error from Close,
// of its kind; the fid is free for the next open.
func TestClunk_ClientsReturnTheError(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	addr := "tcp!" + strings.Replace(ts.addr, ":", "!", 1)
	isPartial := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, gig.ErrInvalid) {
			t.Errorf("%s: %v, want a partial line refused (kind invalid)", what, err)
		}
	}

	t.Run("9fans", func(t *testing.T) {
		_, fsys := ts.mount(t)
		for range 2 {
			fid, err := fsys.Open("lines", plan9.OWRITE)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fid.Write([]byte("a\nb")); err != nil {
				t.Fatal(err)
			}
			err = fid.Close()
			if err == nil {
				t.Fatal("Close of a file left with a partial line: no error")
			}
			isPartial("9fans Close", srv9p.ParseError(err.Error()))
		}
	})

	t.Run("Client", func(t *testing.T) {
		c, err := srv9p.Dial(ctx, addr, testUser, testKey)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		isPartial("Client.WriteFile", c.WriteFile(ctx, "/lines", []byte("a\nb")))
		if err := c.WriteFile(ctx, "/lines", []byte("c\n")); err != nil {
			t.Errorf("WriteFile of whole lines: %v", err)
		}
		f, err := c.Open(ctx, "/lines")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Write(ctx, []byte("d")); err != nil {
			t.Fatal(err)
		}
		isPartial("ClientFile.Close", f.Close())
	})

	t.Run("Mux", func(t *testing.T) {
		m := dialMux(t, ts)
		for range 2 { // the second open reuses the fid the failed clunk freed
			f, err := m.OpenFile(ctx, "/lines", plan9.OWRITE)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Write(ctx, []byte("e\nf")); err != nil {
				t.Fatal(err)
			}
			isPartial("MuxFile.Close", f.Close())
		}
		f, err := m.OpenFile(ctx, "/lines", plan9.OWRITE)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Write(ctx, []byte("g\n")); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Errorf("MuxFile.Close after whole lines: %v", err)
		}
	})

	if opens, closes := ts.tree.opens.Load(), ts.tree.closes.Load(); opens != closes {
		t.Errorf("%d handles opened, %d closed", opens, closes)
	}
}

// Clunks and removes sent together, without waiting for replies, are each
// served as what they are: every Tremove removes, every Tclunk closes and
// reports, whatever their order in flight.
func TestClunk_AmongRemoves(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.dialRaw(t)
	const n = 40
	// Fids 100+i: files created in mk; fids 200+i: /lines with a partial line.
	for i := range n {
		fid := uint32(100 + i)
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: fid, Wname: []string{"mk"}}), plan9.Rwalk, "")
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: fid, Name: fmt.Sprintf("f%d", i), Perm: 0666, Mode: plan9.OREAD}), plan9.Rcreate, "")
		fid = uint32(200 + i)
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: fid, Wname: []string{"lines"}}), plan9.Rwalk, "")
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: fid, Mode: plan9.OWRITE}), plan9.Ropen, "")
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: fid, Data: []byte("x")}), plan9.Rwrite, "")
	}
	// Tags 1000+i remove, 2000+i clunk, interleaved in runs of varying length.
	var sent int
	for i := 0; i < n; {
		run := 1 + i%3
		for j := i; j < min(i+run, n); j++ {
			r.send(&plan9.Fcall{Type: plan9.Tremove, Tag: uint16(1000 + j), Fid: uint32(100 + j)})
			sent++
		}
		for j := i; j < min(i+run, n); j++ {
			r.send(&plan9.Fcall{Type: plan9.Tclunk, Tag: uint16(2000 + j), Fid: uint32(200 + j)})
			sent++
		}
		i += run
	}
	for range sent {
		rx := r.recv()
		switch {
		case rx.Tag >= 2000:
			if rx.Type != plan9.Rerror || !errors.Is(srv9p.ParseError(rx.Ename), gig.ErrInvalid) {
				t.Errorf("clunk of fid %d: %v, want the partial line refused", 200+int(rx.Tag)-2000, rx)
			}
		case rx.Tag >= 1000:
			if rx.Type != plan9.Rremove {
				t.Errorf("remove of fid %d: %v, want Rremove", 100+int(rx.Tag)-1000, rx)
			}
		default:
			t.Errorf("a reply with tag %d: %v", rx.Tag, rx)
		}
	}
	_, fsys := ts.mount(t)
	fid, err := fsys.Open("mk", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()
	if dirs, err := fid.Dirreadall(); err != nil || len(dirs) != 0 {
		t.Errorf("mk after %d removes: %d files left (%v)", n, len(dirs), err)
	}
	for i := range n {
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Tstat, Tag: 1, Fid: uint32(200 + i)}), plan9.Rerror, "unknown fid")
	}
}

// A Tclunk of a fid whose stream read is blocked is answered at once, not
// when the read ends; the handle is closed once it has.
func TestClunk_BlockedReadDoesNotHoldTheClunk(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.dialRaw(t)
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"stream"}}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.OREAD}), plan9.Ropen, "")
	r.send(&plan9.Fcall{Type: plan9.Tread, Tag: 2, Fid: 1, Count: 100})
	waitFor(t, patience, "the stream read blocks", func() bool { return ts.tree.hub.waiting() == 1 })
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 3, Fid: 1}), plan9.Rclunk, "")
	if n := ts.tree.hub.closed.Load(); n != 0 {
		t.Fatalf("the stream was closed under its blocked read (%d)", n)
	}
	r.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 4, Oldtag: 2})
	for range 2 { // the read's reply, then Rflush
		r.recv()
	}
	waitFor(t, patience, "the stream closed once its read ended", func() bool { return ts.tree.hub.closed.Load() == 1 })
}

// A Tremove that comes while a Tclunk is still being served (its Close has
// not returned) removes its file: it is not taken for a clunk.
func TestClunk_RemoveWhileAClunkIsServed(t *testing.T) {
	ts := startServer(t, nil)
	ts.tree.lines.hold, ts.tree.lines.held = make(chan struct{}), make(chan struct{})
	r := ts.dialRaw(t)
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"mk"}}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: 1, Name: "f", Perm: 0666, Mode: plan9.OREAD}), plan9.Rcreate, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 2, Wname: []string{"lines"}}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 2, Mode: plan9.OWRITE}), plan9.Ropen, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 2, Data: []byte("x")}), plan9.Rwrite, "")

	r.send(&plan9.Fcall{Type: plan9.Tclunk, Tag: 2, Fid: 2})
	<-ts.tree.lines.held // the clunk is in Close
	r.send(&plan9.Fcall{Type: plan9.Tremove, Tag: 3, Fid: 1})
	// The server holds the remove back until the clunk is answered, or
	// (were it wrong) serves it at once, which closes the file's handle.
	waitFor(t, patience, "the remove held back or served", func() bool {
		return srv9p.Ending(ts.srv) == 1 || ts.tree.mk.closes.Load() == 1
	})
	close(ts.tree.lines.hold)
	got := map[uint16]*plan9.Fcall{}
	for range 2 {
		rx := r.recv()
		got[rx.Tag] = rx
	}
	if rx := got[2]; rx == nil || rx.Type != plan9.Rerror || !errors.Is(srv9p.ParseError(rx.Ename), gig.ErrInvalid) {
		t.Errorf("the clunk: %v, want the partial line refused", rx)
	}
	if rx := got[3]; rx == nil || rx.Type != plan9.Rremove {
		t.Errorf("the remove: %v, want Rremove", rx)
	}
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 3, Wname: []string{"mk", "f"}}), plan9.Rwalk, "")
	if rx := r.rpc(&plan9.Fcall{Type: plan9.Tstat, Tag: 1, Fid: 3}); rx.Type != plan9.Rerror {
		t.Errorf("mk/f is still there after its remove")
	}
}
