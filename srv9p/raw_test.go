package srv9p_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
)

// Tests driven by raw 9P messages, for what 9fans.net/go/plan9/client cannot
// send: Tflush, partial walks, chosen fids and tags, directory offsets.

func TestRaw_Version(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		version, wantVersion string
		msize, wantMsize     uint32
	}{
		{"9P2000.L", "9P2000", 8192, 8192},
		{"9P2000", "9P2000", 1 << 20, 64 << 10},
		{"9P2000", "unknown", 100, 0},
		{"HTTP/1.1", "unknown", 8192, 0},
	} {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		r := &raw{t: t, c: c}
		rx := r.rpc(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: tc.msize, Version: tc.version})
		if rx.Type != plan9.Rversion || rx.Version != tc.wantVersion || (tc.wantMsize != 0 && rx.Msize != tc.wantMsize) {
			t.Errorf("Tversion %q msize %d: got %v, want %q msize %d", tc.version, tc.msize, rx, tc.wantVersion, tc.wantMsize)
		}
		c.Close()
	}
}

func TestRaw_Auth(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.dialRaw(t)
	rx := r.rpc(&plan9.Fcall{Type: plan9.Tauth, Tag: 1, Afid: 5, Uname: testUser, Aname: testKey})
	r.want(rx, plan9.Rerror, "authentication not required")
	// The afid was not kept.
	rx = r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 5})
	r.want(rx, plan9.Rwalk, "")
}

func TestRaw_Walk(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.dialRaw(t)
	walk := func(fid, newfid uint32, names ...string) *plan9.Fcall {
		t.Helper()
		return r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: fid, Newfid: newfid, Wname: names})
	}
	stat := func(fid uint32) *plan9.Fcall {
		t.Helper()
		return r.rpc(&plan9.Fcall{Type: plan9.Tstat, Tag: 1, Fid: fid})
	}
	statName := func(fid uint32) string {
		t.Helper()
		rx := stat(fid)
		if rx.Type != plan9.Rstat {
			t.Fatalf("stat fid %d: %v", fid, rx)
		}
		d, err := plan9.UnmarshalDir(rx.Stat)
		if err != nil {
			t.Fatal(err)
		}
		return d.Name
	}
	paths := func(rx *plan9.Fcall) string {
		var s []string
		for _, q := range rx.Wqid {
			s = append(s, fmt.Sprint(q.Path))
		}
		return strings.Join(s, " ")
	}

	// nwname 0 clones.
	rx := walk(0, 1)
	if rx.Type != plan9.Rwalk || len(rx.Wqid) != 0 {
		t.Fatalf("clone: got %v", rx)
	}
	if got := statName(1); got != "/" {
		t.Errorf("clone of the root: stat name %q", got)
	}
	// A newfid in use is an error...
	r.want(walk(0, 1, "sub"), plan9.Rerror, "duplicate fid")
	// ...unless it is fid: then fid moves.
	if rx := walk(1, 1, "sub"); rx.Type != plan9.Rwalk || paths(rx) != "7" {
		t.Fatalf("walk fid 1 to sub in place: got %v", rx)
	}
	if got := statName(1); got != "sub" {
		t.Errorf("fid 1 after walking in place: %q, want sub", got)
	}

	// A partial walk gives a short Rwalk and leaves newfid undefined.
	rx = walk(0, 2, "sub", "nope", "x")
	if rx.Type != plan9.Rwalk || paths(rx) != "7" {
		t.Fatalf("partial walk: got %v, want a short Rwalk with sub's qid", rx)
	}
	r.want(stat(2), plan9.Rerror, "unknown fid")
	// In place, a partial walk leaves fid where it was.
	rx = walk(1, 1, "deeper", "nope")
	if rx.Type != plan9.Rwalk || paths(rx) != "9" {
		t.Fatalf("partial walk in place: got %v", rx)
	}
	if got := statName(1); got != "sub" {
		t.Errorf("fid 1 after a partial walk in place: %q, want sub", got)
	}
	// Rerror only when the first name fails.
	r.want(walk(0, 2, "nope", "sub"), plan9.Rerror, "notfound: file does not exist")
	r.want(stat(2), plan9.Rerror, "unknown fid")

	// ".." goes to the parent, and stays at the root.
	if rx := walk(0, 3, "sub", "deeper", "..", "..", ".."); rx.Type != plan9.Rwalk || paths(rx) != "7 9 7 1 1" {
		t.Fatalf("walk with ..: got %v, want qids 7 9 7 1 1", rx)
	}
	if got := statName(3); got != "/" {
		t.Errorf("after sub/deeper/../../..: %q, want /", got)
	}
	if rx := walk(1, 4, ".."); rx.Type != plan9.Rwalk || paths(rx) != "1" {
		t.Fatalf("walk .. from sub: got %v", rx)
	}

	// A file ends the walk: a name after it fails.
	if rx := walk(0, 5, "static", "x"); rx.Type != plan9.Rwalk || paths(rx) != "6" {
		t.Fatalf("walk through a file: got %v", rx)
	}
	if rx := walk(0, 5, "static"); rx.Type != plan9.Rwalk {
		t.Fatal(rx)
	}
	r.want(walk(5, 6, "x"), plan9.Rerror, "walk in non-directory")
	for _, bad := range []string{".", "a/b", ""} {
		r.want(walk(0, 6, bad), plan9.Rerror, "notfound: file does not exist")
	}

	// An open fid cannot be walked.
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 5, Mode: plan9.OREAD}), plan9.Ropen, "")
	r.want(walk(5, 6), plan9.Rerror, "clone of open fid")

	// Clunked fids are gone.
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 1, Fid: 5}), plan9.Rclunk, "")
	r.want(stat(5), plan9.Rerror, "unknown fid")
}

// TestRaw_DirRead lists 10,000 entries in 512-byte reads, each at the
// offset where the previous one ended, and checks each read holds whole
// entries.
func TestRaw_DirRead(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.dialRaw(t)
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"big"}}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.OREAD}), plan9.Ropen, "")
	read := func(off uint64, count uint32) *plan9.Fcall {
		return r.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 1, Offset: off, Count: count})
	}

	start := time.Now()
	var names []string
	off, reads := uint64(0), 0
	for {
		rx := read(off, 512)
		if rx.Type != plan9.Rread {
			t.Fatalf("read at %d: %v", off, rx)
		}
		if len(rx.Data) == 0 {
			break
		}
		if len(rx.Data) > 512 {
			t.Fatalf("read of 512 returned %d bytes", len(rx.Data))
		}
		reads++
		for b := rx.Data; len(b) > 0; {
			if len(b) < 2 {
				t.Fatalf("read at %d: a partial entry", off)
			}
			n := int(b[0]) | int(b[1])<<8 + 2
			if n > len(b) {
				t.Fatalf("read at %d: a partial entry", off)
			}
			d, err := plan9.UnmarshalDir(b[:n])
			if err != nil {
				t.Fatalf("read at %d: %v", off, err)
			}
			names = append(names, d.Name)
			b = b[n:]
		}
		off += uint64(len(rx.Data))
	}
	t.Logf("listed %d entries in %d reads of 512 bytes in %v", len(names), reads, time.Since(start))
	if len(names) != bigN {
		t.Fatalf("got %d entries, want %d", len(names), bigN)
	}
	for i, name := range names {
		if name != bigName(i) {
			t.Fatalf("entry %d: got %q, want %q", i, name, bigName(i))
		}
	}

	// Offsets other than 0 and the end of the previous read are refused.
	r.want(read(7, 512), plan9.Rerror, "bad offset")
	// Offset 0 starts again.
	rx := read(0, 512)
	if rx.Type != plan9.Rread || len(rx.Data) == 0 {
		t.Fatalf("reread at 0: %v", rx)
	}
	if d, err := plan9.UnmarshalDir(rx.Data[:int(rx.Data[0])|int(rx.Data[1])<<8+2]); err != nil || d.Name != bigName(0) {
		t.Errorf("reread at 0: first entry %v, %v", d, err)
	}
	// A count too small for one entry is an error, not an early end.
	r.want(read(0, 10), plan9.Rerror, "too small for a directory entry")
}

// TestRaw_Flush checks that a Tflush ends a blocked read at once, the read's
// reply coming before the Rflush, and that the fid and the stream go on.
func TestRaw_Flush(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.dialRaw(t)
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"stream"}}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.OREAD}), plan9.Ropen, "")

	r.send(&plan9.Fcall{Type: plan9.Tread, Tag: 10, Fid: 1, Count: 100})
	waitFor(t, patience, "a blocked read", func() bool { return ts.tree.hub.waiting() == 1 })
	r.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 11, Oldtag: 10})
	first, second := r.recv(), r.recv() // a flush that did not end the read would block here
	if first.Tag != 10 || first.Type != plan9.Rerror || first.Ename != "interrupted" {
		t.Errorf("first reply: got %v, want Rerror interrupted for tag 10", first)
	}
	if second.Tag != 11 || second.Type != plan9.Rflush {
		t.Errorf("second reply: got %v, want Rflush for tag 11", second)
	}
	if got := ts.tree.hub.cancelled.Load(); got != 1 {
		t.Errorf("source contexts cancelled: %d, want 1", got)
	}

	// The fid is still usable, and no record was lost.
	ts.tree.hub.publish("after\n")
	rx := r.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 12, Fid: 1, Count: 100})
	if rx.Type != plan9.Rread || string(rx.Data) != "after\n" {
		t.Errorf("read after flush: %v", rx)
	}

	// A blocked ctl command is flushed the same way.
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 2, Wname: []string{"ctl"}}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 2, Mode: plan9.ORDWR}), plan9.Ropen, "")
	r.send(&plan9.Fcall{Type: plan9.Twrite, Tag: 20, Fid: 2, Data: []byte("block")})
	r.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 21, Oldtag: 20})
	first, second = r.recv(), r.recv()
	if first.Tag != 20 || first.Type != plan9.Rerror || second.Tag != 21 || second.Type != plan9.Rflush {
		t.Errorf("flush of a blocked write: got %v then %v", first, second)
	}

	// A flush of a tag not in use is answered at once.
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tflush, Tag: 30, Oldtag: 99}), plan9.Rflush, "")
}

// TestRaw_Hangup checks that a hang-up releases everything the connection
// held: blocked reads end (their contexts cancelled) and every handle is
// closed.
func TestRaw_Hangup(t *testing.T) {
	const nstream = 5
	ts := startServer(t, nil)
	r := ts.dialRaw(t)
	open := func(fid uint32, name string, mode uint8) {
		t.Helper()
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: fid, Wname: []string{name}}), plan9.Rwalk, "")
		r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: fid, Mode: mode}), plan9.Ropen, "")
	}
	open(1, "ctl", plan9.ORDWR)
	open(2, "counter", plan9.ORDWR)
	open(3, "static", plan9.OREAD)
	for i := range nstream {
		fid := uint32(10 + i)
		open(fid, "stream", plan9.OREAD)
		r.send(&plan9.Fcall{Type: plan9.Tread, Tag: uint16(fid), Fid: fid, Count: 100})
	}
	waitFor(t, patience, "blocked reads", func() bool { return ts.tree.hub.waiting() == nstream })
	if got := ts.tree.opens.Load(); got != 3+nstream {
		t.Fatalf("handles opened: %d, want %d", got, 3+nstream)
	}

	r.c.Close()
	waitFor(t, patience, "release after hang-up", func() bool {
		return ts.tree.closes.Load() == ts.tree.opens.Load() &&
			ts.tree.hub.cancelled.Load() == nstream &&
			ts.tree.hub.closed.Load() == nstream
	})
	if ts.tree.hub.waiting() != 0 {
		t.Errorf("%d reads still blocked", ts.tree.hub.waiting())
	}
}

func TestRaw_DuplicateTag(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.dialRaw(t)
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"stream"}}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.OREAD}), plan9.Ropen, "")
	r.send(&plan9.Fcall{Type: plan9.Tread, Tag: 5, Fid: 1, Count: 100})
	waitFor(t, patience, "a blocked read", func() bool { return ts.tree.hub.waiting() == 1 })
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tstat, Tag: 5, Fid: 0}), plan9.Rerror, "duplicate tag")
	ts.tree.hub.publish("x")
	rx := r.recv()
	if rx.Tag != 5 || rx.Type != plan9.Rread || string(rx.Data) != "x" {
		t.Errorf("blocked read: %v", rx)
	}
}
