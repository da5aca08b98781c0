package srv9p_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// Tests driven by 9fans.net/go/plan9/client, a 9P client that is not ours.

func TestServer_Attach(t *testing.T) {
	ts := startServer(t, nil)
	c, err := client.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	_, err = c.Attach(nil, "bob", "wrong-key")
	if got, want := fmt.Sprint(err), `permission: bad credential for "bob"`; got != want {
		t.Errorf("attach with a bad key: got %q, want %q", got, want)
	}
	if !errors.Is(srv9p.ParseError(err.Error()), gig.ErrPermission) {
		t.Errorf("ParseError(%q) is not gig.ErrPermission", err)
	}
	if !ts.logs.contains(`attach refused: user "bob": permission: bad credential`) {
		t.Errorf("no log line for the refused attach; logs:\n%s", ts.logs)
	}
	if ts.logs.contains("wrong-key") {
		t.Errorf("the log shows the credential:\n%s", ts.logs)
	}

	// The same connection may attach again, correctly.
	fsys, err := c.Attach(nil, testUser, testKey)
	if err != nil {
		t.Fatal(err)
	}
	d, err := fsys.Stat("static")
	if err != nil {
		t.Fatal(err)
	}
	if d.Uid != testUser || d.Length != 0 || d.Name != "static" {
		t.Errorf("stat static: got %v", d)
	}
}

func TestServer_Ctl(t *testing.T) {
	ts := startServer(t, nil)
	_, fsys := ts.mount(t)
	fid, err := fsys.Open("ctl", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()

	for _, tc := range []struct{ cmd, reply, err string }{
		{cmd: "echo hello", reply: "hello\n"},
		{cmd: "echo again\n", reply: "again\n"},
		{cmd: "fail two\nlines\tand a tab", err: "internal: two lines and a tab"},
		{cmd: "missing x", err: `notfound: thing "x": file does not exist`},
		{cmd: "frobnicate", err: `invalid: unknown command "frobnicate"`},
		{cmd: "big 5000", reply: strings.Repeat("x", 5000)},
	} {
		reply, err := ctlRoundTrip(fid, tc.cmd)
		if tc.err != "" {
			if fmt.Sprint(err) != tc.err {
				t.Errorf("%q: got error %v, want %q", tc.cmd, err, tc.err)
			}
			continue
		}
		if err != nil || reply != tc.reply {
			t.Errorf("%q: got %.40q, %v; want %.40q", tc.cmd, reply, err, tc.reply)
		}
	}

	// After a failed command the reply is empty.
	if _, err := fid.WriteAt([]byte("fail x"), 0); err == nil {
		t.Fatal("fail x: no error")
	}
	if n, err := fid.ReadAt(make([]byte, 10), 0); n != 0 {
		t.Errorf("read after a failed command: got %d bytes, %v", n, err)
	}
	// The server logs a refused write with its reason (a FUSE client
	// shows the user only EIO), its kind first as on the wire.
	if want := "user glenda: write /ctl refused: internal: x"; !ts.logs.contains(want) {
		t.Errorf("log lacks %q:\n%s", want, ts.logs)
	}

	// Two fids of the same file keep their own replies.
	fid2, err := fsys.Open("ctl", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fid2.Close()
	if _, err := fid.WriteAt([]byte("echo one"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := ctlRoundTrip(fid2, "echo two"); got != "two\n" || err != nil {
		t.Errorf("second fid: got %q, %v", got, err)
	}
	buf := make([]byte, 100)
	n, _ := fid.ReadAt(buf, 0)
	if got := string(buf[:n]); got != "one\n" {
		t.Errorf("first fid after the second's command: got %q, want %q", got, "one\n")
	}
	// Reads honour the offset.
	n, _ = fid.ReadAt(buf[:2], 1)
	if got := string(buf[:n]); got != "ne" {
		t.Errorf("read at offset 1: got %q, want %q", got, "ne")
	}
}

func TestServer_Stream(t *testing.T) {
	ts := startServer(t, nil)
	_, fsys := ts.mount(t)
	fid, err := fsys.Open("stream", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()
	read := func(size int) string {
		t.Helper()
		buf := make([]byte, size)
		n, err := fid.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return string(buf[:n])
	}

	ts.tree.hub.publish("r0\n")
	if got := read(100); got != "r0\n" {
		t.Errorf("first record: got %q", got)
	}
	// A record larger than the read comes in parts; records are not joined.
	ts.tree.hub.publish("abcdefghij")
	ts.tree.hub.publish("r2\n")
	for _, want := range []string{"abcd", "efgh", "ij", "r2\n"} {
		if got := read(4); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	// A read blocks until the next record.
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 100)
		n, _ := fid.Read(buf)
		got <- string(buf[:n])
	}()
	waitFor(t, patience, "a blocked stream read", func() bool { return ts.tree.hub.waiting() == 1 })
	ts.tree.hub.publish("r3\n")
	select {
	case s := <-got:
		if s != "r3\n" {
			t.Errorf("blocked read: got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked read not released by a new record")
	}
	// Writes go to the source: "since 0" rewinds.
	if _, err := fid.Write([]byte("since 0\n")); err != nil {
		t.Fatal(err)
	}
	if got := read(100); got != "r0\n" {
		t.Errorf("after since 0: got %q", got)
	}
	if _, err := fid.Write([]byte("nonsense")); fmt.Sprint(err) != "invalid: want since N" {
		t.Errorf("bad control line: got %v", err)
	}
}

func TestServer_DirList(t *testing.T) {
	ts := startServer(t, nil)
	_, fsys := ts.mount(t)
	fid, err := fsys.Open("big", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()
	dirs, err := fid.Dirreadall()
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != bigN {
		t.Fatalf("got %d entries, want %d", len(dirs), bigN)
	}
	for i, d := range dirs {
		if d.Name != bigName(i) || d.Qid.Path != 1000+uint64(i) || d.Qid.Vers != uint32(i) || d.Length != 6 {
			t.Fatalf("entry %d: got %v", i, d)
		}
	}

	root, err := fsys.Open(".", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	dirs, err = root.Dirreadall()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		names = append(names, d.Name)
		if d.Name == "big" && (d.Mode&plan9.DMDIR == 0 || d.Qid.Type&plan9.QTDIR == 0) {
			t.Errorf("big is not shown as a directory: %v", d)
		}
		if d.Name == "appendonly" && (d.Mode&plan9.DMAPPEND == 0 || d.Qid.Type&plan9.QTAPPEND == 0) {
			t.Errorf("appendonly is not shown as append-only: %v", d)
		}
	}
	if got, want := strings.Join(names, " "), "ctl stream big counter appendonly static sub mk lines"; got != want {
		t.Errorf("root: got %q, want %q", got, want)
	}
}

func TestServer_QidVersion(t *testing.T) {
	ts := startServer(t, nil)
	_, fsys := ts.mount(t)
	vers := func() uint32 {
		t.Helper()
		d, err := fsys.Stat("counter")
		if err != nil {
			t.Fatal(err)
		}
		return d.Qid.Vers
	}
	fid, err := fsys.Open("counter", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()
	v0 := vers()
	if _, err := fid.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	v1 := vers()
	if v1 == v0 {
		t.Errorf("qid.vers did not move on a write: %d", v1)
	}
	if _, err := fid.Write([]byte("two")); err != nil {
		t.Fatal(err)
	}
	v2 := vers()
	if v2 == v1 {
		t.Errorf("qid.vers did not move on a second write: %d", v2)
	}
	// The qid of a walk and of an open follow the version too.
	w, err := fsys.Open("counter", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Qid().Vers != v2 {
		t.Errorf("walk qid.vers: got %d, want %d", w.Qid().Vers, v2)
	}
	d, err := fsys.Stat("counter")
	if err != nil {
		t.Fatal(err)
	}
	if d.Length != 6 {
		t.Errorf("length after two writes: got %d, want 6", d.Length)
	}
}

func TestServer_OpenModes(t *testing.T) {
	ts := startServer(t, nil)
	_, fsys := ts.mount(t)
	for _, tc := range []struct {
		name string
		mode uint8
		err  string
	}{
		{"static", plan9.OREAD, ""},
		{"static", plan9.OWRITE, "permission: permission denied"},
		{"static", plan9.OREAD | plan9.OTRUNC, "permission: permission denied"},
		{"sub", plan9.OREAD, ""},
		{"sub", plan9.OWRITE, "is a directory"},
		{"counter", plan9.ORDWR | plan9.ORCLOSE, "invalid: remove on close not supported"},
		{"nothere", plan9.OREAD, "notfound: file does not exist"},
	} {
		fid, err := fsys.Open(tc.name, tc.mode)
		if fid != nil {
			fid.Close()
		}
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("open %s mode %#x: got %v, want %q", tc.name, tc.mode, err, tc.err)
		}
	}

	// OTRUNC truncates a Truncater and leaves an append-only file alone.
	w, err := fsys.Open("counter", plan9.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("data"))
	w.Close()
	w, err = fsys.Open("counter", plan9.OWRITE|plan9.OTRUNC)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if d, err := fsys.Stat("counter"); err != nil || d.Length != 0 {
		t.Errorf("counter after OTRUNC: %v, %v", d, err)
	}
	// A ctl file takes OTRUNC and ignores it: echo cmd > ctl.
	c, err := fsys.Open("ctl", plan9.ORDWR|plan9.OTRUNC)
	if err != nil {
		t.Errorf("ctl with OTRUNC: %v", err)
	} else {
		if reply, err := ctlRoundTrip(c, "echo hi"); reply != "hi\n" || err != nil {
			t.Errorf("ctl opened with OTRUNC: %q, %v", reply, err)
		}
		c.Close()
	}
	a, err := fsys.Open("appendonly", plan9.OWRITE|plan9.OTRUNC)
	if err != nil {
		t.Errorf("appendonly with OTRUNC: %v", err)
	} else {
		a.Close()
	}

	// A read of a write-only fid, and the reverse, are refused.
	w, err = fsys.Open("counter", plan9.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.ReadAt(make([]byte, 4), 0); err == nil {
		t.Error("read of a write-only fid: no error")
	}
}

func TestServer_Wstat(t *testing.T) {
	ts := startServer(t, nil)
	_, fsys := ts.mount(t)
	w, err := fsys.Open("counter", plan9.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	before, _ := fsys.Stat("counter")

	dir := func(set func(d *plan9.Dir)) *plan9.Dir {
		var d plan9.Dir
		d.Null()
		set(&d)
		return &d
	}
	for _, tc := range []struct {
		name string
		d    *plan9.Dir
		err  string
	}{
		{"static", dir(func(*plan9.Dir) {}), ""}, // sync
		{"counter", dir(func(d *plan9.Dir) { d.Length = 0 }), ""},
		{"appendonly", dir(func(d *plan9.Dir) { d.Length = 0 }), ""},
		{"ctl", dir(func(d *plan9.Dir) { d.Length = 0 }), ""}, // echo cmd > ctl
		{"static", dir(func(d *plan9.Dir) { d.Length = 0 }), "permission: file cannot be truncated"},
		{"counter", dir(func(d *plan9.Dir) { d.Length = 5 }), "permission: wstat can only set length 0"},
		{"counter", dir(func(d *plan9.Dir) { d.Name = "renamed" }), "permission: wstat can only set length 0"},
		{"counter", dir(func(d *plan9.Dir) { d.Mode = 0600 }), "permission: wstat can only set length 0"},
		{"counter", dir(func(d *plan9.Dir) { d.Mtime = 12345 }), ""},
		{"counter", dir(func(d *plan9.Dir) { d.Name = "counter"; d.Mode = 0666 }), ""},
		{"sub", dir(func(d *plan9.Dir) { d.Length = 0 }), "permission: wstat can only set length 0"},
	} {
		err := fsys.Wstat(tc.name, tc.d)
		if (tc.err == "") != (err == nil) || (err != nil && err.Error() != tc.err) {
			t.Errorf("wstat %s %v: got %v, want %q", tc.name, tc.d, err, tc.err)
		}
	}
	after, err := fsys.Stat("counter")
	if err != nil {
		t.Fatal(err)
	}
	if after.Length != 0 || after.Qid.Vers == before.Qid.Vers {
		t.Errorf("counter after truncation: length %d vers %d (before: vers %d)", after.Length, after.Qid.Vers, before.Qid.Vers)
	}
}

func TestServer_CreateRemove(t *testing.T) {
	ts := startServer(t, nil)
	_, fsys := ts.mount(t)
	fid, err := fsys.Create("mk/new", plan9.OWRITE, 0644)
	if err != nil {
		t.Fatal(err)
	}
	if fid.Qid().Type&plan9.QTDIR != 0 {
		t.Errorf("created file has a directory qid: %v", fid.Qid())
	}
	// The fid is open after the create: its handle (NewStatic) refuses writes.
	if _, err := fid.Write([]byte("x")); fmt.Sprint(err) != "permission: permission denied" {
		t.Errorf("write to the created file: got %v, want permission denied", err)
	}
	fid.Close()
	if d, err := fsys.Stat("mk/new"); err != nil || d.Mode != 0644 {
		t.Errorf("stat mk/new: %v, %v", d, err)
	}
	for _, tc := range []struct {
		name string
		perm plan9.Perm
		err  string
	}{
		{"mk/new", 0644, "exists: file already exists"},
		{"newroot", 0644, "permission: permission denied"},
		{"mk/sub", plan9.DMDIR | 0755, "permission: no subdirectories here"},
		{"static/x", 0644, "create in non-directory"},
	} {
		f, err := fsys.Create(tc.name, plan9.OREAD, tc.perm)
		if f != nil {
			f.Close()
		}
		if fmt.Sprint(err) != tc.err {
			t.Errorf("create %s: got %v, want %q", tc.name, err, tc.err)
		}
	}
	if err := fsys.Remove("mk/new"); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat("mk/new"); err == nil {
		t.Error("mk/new is still there after remove")
	}
	if err := fsys.Remove("static"); fmt.Sprint(err) != "permission: permission denied" {
		t.Errorf("remove static: got %v", err)
	}
}

// TestServer_ManyBlockedReads holds 1,000 blocked stream reads on one
// connection and checks that ctl still answers promptly on that connection
// and on another, then releases them all.
func TestServer_ManyBlockedReads(t *testing.T) {
	const n = 1000
	ts := startServer(t, nil)
	_, fsys := ts.mount(t)
	fids := make([]*client.Fid, n)
	for i := range fids {
		fid, err := fsys.Open("stream", plan9.OREAD)
		if err != nil {
			t.Fatalf("open stream #%d: %v", i, err)
		}
		defer fid.Close()
		fids[i] = fid
	}
	results := make(chan string, n)
	for _, fid := range fids {
		go func() {
			buf := make([]byte, 100)
			n, err := fid.Read(buf)
			if err != nil {
				results <- "error: " + err.Error()
				return
			}
			results <- string(buf[:n])
		}()
	}
	waitFor(t, patience, "1,000 blocked reads", func() bool { return ts.tree.hub.waiting() == n })

	ctl, err := fsys.Open("ctl", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	_, other := ts.mount(t)
	ctl2, err := other.Open("ctl", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl2.Close()
	// Both connections answer: a starved one would block here (a test
	// never times; BenchmarkCtlRoundTrip measures).
	for i, fid := range []*client.Fid{ctl, ctl2} {
		for j := range 10 {
			want := fmt.Sprintf("conn%d-%d", i, j)
			if got, err := ctlRoundTrip(fid, "echo "+want); got != want+"\n" || err != nil {
				t.Fatalf("ctl round trip: got %q, %v", got, err)
			}
		}
	}

	ts.tree.hub.publish("go\n")
	deadline := time.After(20 * time.Second)
	for i := range n {
		select {
		case got := <-results:
			if got != "go\n" {
				t.Fatalf("read %d: got %q", i, got)
			}
		case <-deadline:
			t.Fatalf("only %d of %d blocked reads released", i, n)
		}
	}
}

// TestServer_ConcurrentConns runs ctl round trips on several connections at
// once, each checking it reads its own replies.
func TestServer_ConcurrentConns(t *testing.T) {
	ts := startServer(t, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		_, fsys := ts.mount(t)
		wg.Go(func() {
			fid, err := fsys.Open("ctl", plan9.ORDWR)
			if err != nil {
				t.Error(err)
				return
			}
			defer fid.Close()
			for j := range 200 {
				want := fmt.Sprintf("c%d-%d", i, j)
				if got, err := ctlRoundTrip(fid, "echo "+want); got != want+"\n" || err != nil {
					t.Errorf("got %q, %v; want %q", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestServer_HangupManyBlocked hangs up a connection holding 1,000 blocked
// stream reads: every source context is cancelled and every handle closed.
func TestServer_HangupManyBlocked(t *testing.T) {
	const n = 1000
	ts := startServer(t, nil)
	c, fsys := ts.mount(t)
	for i := range n {
		fid, err := fsys.Open("stream", plan9.OREAD)
		if err != nil {
			t.Fatalf("open stream #%d: %v", i, err)
		}
		go fid.Read(make([]byte, 100))
	}
	waitFor(t, patience, "1,000 blocked reads", func() bool { return ts.tree.hub.waiting() == n })
	c.Close()
	waitFor(t, patience, "release after hang-up", func() bool {
		return ts.tree.hub.waiting() == 0 && ts.tree.hub.cancelled.Load() == n &&
			ts.tree.hub.closed.Load() == n && ts.tree.closes.Load() == n
	})
	// The server goes on serving others.
	_, other := ts.mount(t)
	ctl, err := other.Open("ctl", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if got, err := ctlRoundTrip(ctl, "echo alive"); got != "alive\n" || err != nil {
		t.Errorf("ctl after the hang-up: %q, %v", got, err)
	}
}
