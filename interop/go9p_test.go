package interop

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	go9p "github.com/knusbaum/go9p/client"
	"github.com/knusbaum/go9p/proto"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// The tests of this file drive a store with github.com/knusbaum/go9p/client,
// the client mount9p is built on.

// dialGo9p attaches to the store with the go9p client. The client has no
// Close: closing the connection ends it.
func (s *store) dialGo9p(uname, aname string) (*go9p.Client, error) {
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		return nil, err
	}
	c, err := go9p.NewClient(nc, uname, aname)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s.t.Cleanup(func() { nc.Close() })
	return c, nil
}

func (s *store) mustGo9p(uname, aname string) *go9p.Client {
	s.t.Helper()
	c, err := s.dialGo9p(uname, aname)
	if err != nil {
		s.t.Fatalf("go9p attach %s %q: %v", uname, aname, err)
	}
	return c
}

// go9pRead reads a whole file with one fid.
func go9pRead(t *testing.T, c *go9p.Client, name string) string {
	t.Helper()
	f, err := c.Open(name, proto.Oread)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// go9pWrite writes data to an existing file with one fid.
func go9pWrite(c *go9p.Client, name, data string, mode proto.Mode) error {
	f, err := c.Open(name, mode)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte(data))
	return err
}

// go9pCtl writes a command and reads the reply on the same fid.
func go9pCtl(c *go9p.Client, name, cmd string) (string, error) {
	f, err := c.Open(name, proto.Ordwr)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write([]byte(cmd)); err != nil {
		return "", err
	}
	var reply []byte
	buf := make([]byte, 8192)
	for {
		n, err := f.ReadAt(buf, int64(len(reply)))
		reply = append(reply, buf[:n]...)
		if err == io.EOF || n == 0 {
			return string(reply), nil
		}
		if err != nil {
			return string(reply), err
		}
	}
}

func names(stats []proto.Stat) []string {
	var out []string
	for _, s := range stats {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func TestGo9p_WalkStatList(t *testing.T) {
	s := startStore(t, "")
	c := s.mustGo9p("alice", "token "+s.user("alice"))

	for _, p := range []string{"/", "/user", "/user/alice", "/user/alice/oplog"} {
		st, err := c.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if st.Mode&proto.DMDIR == 0 || st.Qid.Qtype&0x80 == 0 {
			t.Errorf("stat %s: mode %o qid type %#x, want a directory", p, st.Mode, st.Qid.Qtype)
		}
	}
	home, err := c.Readdir("/user/alice")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(home), []string{"calls", "ctl", "names", "oplog", "push", "stream"}; !slices.Equal(got, want) {
		t.Fatalf("ls /user/alice: %v, want %v", got, want)
	}
	if users, err := c.Readdir("/user"); err != nil || !slices.Equal(names(users), []string{"alice"}) {
		t.Fatalf("ls /user: %v %v", names(users), err)
	}
	st, err := c.Stat("/user/alice/ctl")
	if err != nil || st.Mode&proto.DMDIR != 0 || st.Name != "ctl" || st.Uid != "alice" {
		t.Fatalf("stat ctl: %v %v", st, err)
	}

	// Missing names, first or later in the path, fail with an error and
	// leave the connection usable. (The go9p client does not check the
	// count of qids in Rwalk: after the server's short Rwalk, its next
	// request on the fid fails instead, which is still a clean error.)
	for _, p := range []string{
		"/nope",
		"/user/nobody",
		"/user/alice/nope",
		"/user/alice/oplog/nope",
		"/user/alice/nope/deeper/still",
		"/user/alice/ctl/under-a-file",
	} {
		if st, err := c.Stat(p); err == nil {
			t.Errorf("stat %s: %v, want an error", p, st)
		}
		if f, err := c.Open(p, proto.Oread); err == nil {
			f.Close()
			t.Errorf("open %s succeeded", p)
		}
	}
	if _, err := c.Stat("/nope"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("stat /nope: %v, want file does not exist", err)
	}
	if _, err := c.Stat("/user/alice/stream"); err != nil {
		t.Fatalf("stat after failed walks: %v", err)
	}
}

func TestGo9p_OplogReadWrite(t *testing.T) {
	s := startStore(t, "")
	c := s.mustGo9p("alice", "token "+s.user("alice"))

	// Make the type folder and an empty oplog, as a plain client would.
	// (The go9p client's files from Create carry no iounit and cannot be
	// read or written: reopen them.)
	// The go9p client creates with mode ORDWR, directories too (so does
	// mount9p's mkdir); see TestGo9p_CreateDirORDWR.
	if d, err := c.Create("/user/alice/oplog/counter", os.ModeDir|0o700); err == nil {
		d.Close()
	} else if _, serr := c.Stat("/user/alice/oplog/counter"); serr != nil {
		t.Fatalf("create folder: %v", err)
	}
	f, err := c.Create("/user/alice/oplog/counter/x", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := c.Create("/user/alice/oplog/counter/x", 0o600); err == nil {
		t.Error("created an oplog twice")
	}
	const x = "/user/alice/oplog/counter/x"
	initial := oplog.Initial()
	if got := go9pRead(t, c, x); got != opLines(initial) {
		t.Fatalf("new oplog:\n%s", got)
	}
	st0, err := c.Stat(x)
	if err != nil {
		t.Fatal(err)
	}

	a, b := newOp(t, "go9p", 1, `1`), newOp(t, "go9p", 2, `{"n":2}`)
	if err := go9pWrite(c, x, opLines(a, b), proto.Owrite); err != nil {
		t.Fatal(err)
	}
	want := opLines(initial, a, b)
	if got := go9pRead(t, c, x); got != want {
		t.Fatalf("read back:\n%s\nwant\n%s", got, want)
	}
	// The go9p client caches the fid a Stat walked: a second Stat of the
	// same path asks the server again on that fid.
	st, err := c.Stat(x)
	if err != nil {
		t.Fatal(err)
	}
	if st.Length != uint64(len(want)) {
		t.Errorf("length %d, want %d", st.Length, len(want))
	}
	if st.Qid.Vers == st0.Qid.Vers || st.Qid.Uid != st0.Qid.Uid {
		t.Errorf("qid after a write %+v, before %+v: want the same path and another version", st.Qid, st0.Qid)
	}
	if st.Mode&proto.DMAPPEND == 0 {
		t.Errorf("mode %o: want append-only", st.Mode)
	}
	ents, err := c.Readdir("/user/alice/oplog/counter")
	if err != nil || len(ents) != 1 || ents[0].Name != "x" || ents[0].Length != st.Length {
		t.Fatalf("ls counter: %v %v", ents, err)
	}
	if types, err := c.Readdir("/user/alice/oplog"); err != nil || !slices.Equal(names(types), []string{"counter"}) {
		t.Fatalf("ls oplog: %v %v", names(types), err)
	}

	// A duplicate is a no-op; an op with a bad sha is refused and changes
	// nothing.
	if err := go9pWrite(c, x, opLines(a), proto.Owrite); err != nil {
		t.Fatalf("duplicate: %v", err)
	}
	forged := newOp(t, "go9p", 3, `3`)
	forged.Payload = []byte(`4`)
	if err := go9pWrite(c, x, opLines(forged), proto.Owrite); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("forged op: %v, want refused", err)
	}
	if got := go9pRead(t, c, x); got != want {
		t.Fatalf("after refused writes:\n%s", got)
	}

	// Reads at any offset of one fid continue the same snapshot.
	rf, err := c.Open(x, proto.Oread)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	var got []byte
	buf := make([]byte, 7)
	for {
		n, err := rf.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if string(got) != want {
		t.Fatalf("read in 7-byte pieces:\n%s", got)
	}
}

func TestGo9p_PushCtlStream(t *testing.T) {
	s := startStore(t, "")
	token := s.user("alice")
	reader := s.mustGo9p("alice", "token "+token)
	writer := s.mustGo9p("alice", "token "+token)

	sf, err := reader.Open("/user/alice/stream", proto.Oread)
	if err != nil {
		t.Fatal(err)
	}
	type event struct {
		ev  netstore.Event
		err error
	}
	events := make(chan event, 16)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := sf.Read(buf)
			if err != nil {
				events <- event{err: err}
				return
			}
			evs, err := netstore.ParseEvents(buf[:n]) // a read holds every event ready
			for _, ev := range evs {
				events <- event{ev: ev}
			}
			if err != nil {
				events <- event{err: err}
				return
			}
		}
	}()

	// While the stream read blocks, the same connection still answers.
	reply, err := go9pCtl(reader, "/user/alice/ctl", "cursor")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(reply); len(f) != 2 || f[0] != s.svc.Epoch() || f[1] != "0" || !strings.HasSuffix(reply, "\n") {
		t.Fatalf("cursor on a new store: %q, want %q", reply, s.svc.Epoch()+" 0\n")
	}
	if _, err := go9pCtl(reader, "/user/alice/ctl", "frobnicate"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("unknown ctl command: %v", err)
	}

	ops := []oplog.Op{newOp(t, "w", 1, `1`), newOp(t, "w", 2, `2`), newOp(t, "w", 1, `"s"`)}
	recs := []netstore.Record{
		{Type: "counter", Path: "/c", Op: ops[0]},
		{Type: "counter", Path: "/c", Op: ops[1]},
		{Type: "lww", Path: "/deep/er/p", Op: ops[2]},
		{Type: "counter", Path: "/c", Op: ops[0]}, // duplicate: no event
	}
	reply, err = go9pCtl(writer, "/user/alice/push", pushLines(recs...)+"{not json\n")
	if err != nil {
		t.Fatal(err)
	}
	wantReplies := []string{"accepted", "accepted", "accepted", "duplicate", "invalid: malformed op"}
	got := lines(reply)
	if len(got) != len(wantReplies) {
		t.Fatalf("push reply:\n%s", reply)
	}
	for i := range got {
		if !strings.HasPrefix(got[i], wantReplies[i]) {
			t.Errorf("push reply line %d: %q, want %q", i+1, got[i], wantReplies[i])
		}
	}
	for i := range 3 {
		select {
		case e := <-events:
			if e.err != nil {
				t.Fatalf("stream: %v", e.err)
			}
			o, err := oplog.Decode(e.ev.Op)
			if err != nil || e.ev.Seq != uint64(i+1) || e.ev.Epoch != s.svc.Epoch() ||
				e.ev.Type != recs[i].Type || e.ev.Path != recs[i].Path || o.Sha != ops[i].Sha {
				t.Fatalf("event %d: %+v %v", i+1, e.ev, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("event %d did not arrive", i+1)
		}
	}
	reply, err = go9pCtl(writer, "/user/alice/ctl", "cursor")
	if err != nil || reply != s.svc.Epoch()+" 3\n" {
		t.Fatalf("cursor: %q %v, want %q", reply, err, s.svc.Epoch()+" 3\n")
	}
	// What was pushed reads back from the oplog files.
	if got := go9pRead(t, reader, "/user/alice/oplog/lww/deep/er/p"); got != opLines(oplog.Initial(), ops[2]) {
		t.Fatalf("pushed oplog:\n%s", got)
	}
	// A write on the stream file moves its cursor; a bad one is refused.
	if err := go9pWrite(reader, "/user/alice/stream", "since other 1", proto.Owrite); err == nil || !strings.Contains(err.Error(), "epoch") {
		t.Fatalf("since of another epoch: %v", err)
	}
	if err := go9pWrite(reader, "/user/alice/stream", fmt.Sprintf("since %s %d", s.svc.Epoch(), 1), proto.Owrite); err != nil {
		t.Fatalf("since: %v", err)
	}
}

// A stream fid opened with "since" yields the events after the cursor, and
// the connection stays usable while several stream reads block on it.
func TestGo9p_StreamResume(t *testing.T) {
	s := startStore(t, "")
	token := s.user("alice")
	c := s.mustGo9p("alice", "token "+token)
	var recs []netstore.Record
	for i := 1; i <= 5; i++ {
		recs = append(recs, netstore.Record{Type: "counter", Path: "/r", Op: newOp(t, "r", uint64(i), strconv.Itoa(i))})
	}
	if _, err := s.svc.Push(context.Background(), "alice", recs); err != nil {
		t.Fatal(err)
	}
	// Blocked reads on other stream fids of the same connection.
	for range 3 {
		f, err := c.Open("/user/alice/stream", proto.Oread)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			b := make([]byte, 4096)
			f.Read(b) // ends when the connection closes
		}()
	}
	f, err := c.Open("/user/alice/stream", proto.Ordwr)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte(fmt.Sprintf("since %s 2\n", s.svc.Epoch()))); err != nil {
		t.Fatal(err)
	}
	// One read returns every event that is ready: 3, 4 and 5.
	type result struct {
		evs []netstore.Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		var got []netstore.Event
		b := make([]byte, 64<<10)
		for len(got) < 3 {
			n, err := f.Read(b)
			if err != nil {
				done <- result{got, err}
				return
			}
			evs, err := netstore.ParseEvents(b[:n])
			got = append(got, evs...)
			if err != nil {
				done <- result{got, err}
				return
			}
		}
		done <- result{got, nil}
	}()
	select {
	case r := <-done:
		if r.err != nil || len(r.evs) != 3 {
			t.Fatalf("resumed reads: %+v %v, want seqs 3 to 5", r.evs, r.err)
		}
		for i, ev := range r.evs {
			if ev.Seq != uint64(3+i) {
				t.Fatalf("resumed reads: event %d has seq %d, want %d", i, ev.Seq, 3+i)
			}
		}
	case <-time.After(time.Minute):
		t.Fatalf("events 3 to 5 did not arrive")
	}
}

func TestGo9p_AttachRefused(t *testing.T) {
	s := startStore(t, "")
	token := s.user("alice")
	cases := []struct{ uname, aname, want string }{
		{"alice", "token " + storeID + ".forged.mac", "token refused"},
		{"alice", "token other.x.y", "another store"},
		{"nobody", "token " + token, "unknown user"},
		{"alice", token, "aname must be"},
		{"admin", "admin wrong-key", "permission denied"},
	}
	for _, c := range cases {
		_, err := s.dialGo9p(c.uname, c.aname)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("go9p attach %s %q: %v, want %q", c.uname, c.aname, err, c.want)
		}
	}
	// The refused attaches left the store serving.
	c := s.mustGo9p("alice", "token "+token)
	if _, err := c.Stat("/user/alice/ctl"); err != nil {
		t.Fatal(err)
	}
}

// A Tcreate of a directory with mode ORDWR, which the go9p client (and so
// mount9p's mkdir) always sends, must either make the directory and
// succeed, or fail and make nothing. A create that fails after making the
// directory leaves the client (and a FUSE mkdir) reporting an error for a
// folder that exists.
func TestGo9p_CreateDirORDWR(t *testing.T) {
	s := startStore(t, "")
	c := s.mustGo9p("alice", "token "+s.user("alice"))
	d, err := c.Create("/user/alice/oplog/notes", os.ModeDir|0o700)
	if err == nil {
		d.Close()
	}
	_, serr := c.Stat("/user/alice/oplog/notes")
	switch {
	case err == nil && serr != nil:
		t.Fatalf("create succeeded but the folder is missing: %v", serr)
	case err != nil && serr == nil:
		t.Fatalf("BUG (srv9p create): Tcreate of a directory with ORDWR failed (%q) yet made the directory", err)
	}
}

// Deep oplog paths: the server answers walks of any depth made of
// Twalks of at most 16 names, as the 9fans client sends them. The go9p
// client (and so mount9p) sends one Twalk with every name from the root:
// it reaches oplogs up to 12 segments deep (16 names), and no deeper (see
// TestPlan9_WalkOver16Names).
func TestGo9p_DeepPaths(t *testing.T) {
	s := startStore(t, "")
	token := s.user("alice")
	var recs []netstore.Record
	for _, depth := range []int{12, 20} {
		segs := make([]string, depth)
		for i := range segs {
			segs[i] = fmt.Sprintf("d%d-%d", depth, i+1)
		}
		recs = append(recs, netstore.Record{Type: "deep", Path: "/" + strings.Join(segs, "/"), Op: newOp(t, "d", 1, strconv.Itoa(depth))})
	}
	if res, err := s.svc.Push(context.Background(), "alice", recs); err != nil || res[0].Outcome() != oplog.Accepted || res[1].Outcome() != oplog.Accepted {
		t.Fatalf("push: %v %v", res, err)
	}
	fsys := s.mustMount("alice", "token "+token)
	for _, r := range recs {
		name := "/user/alice/oplog/deep" + r.Path
		if got, want := readAll(t, fsys, name), opLines(oplog.Initial(), r.Op); got != want {
			t.Errorf("9fans read of %s:\n%s\nwant\n%s", name, got, want)
		}
	}
	c := s.mustGo9p("alice", "token "+token)
	name := "/user/alice/oplog/deep" + recs[0].Path
	if got, want := go9pRead(t, c, name), opLines(oplog.Initial(), recs[0].Op); got != want {
		t.Errorf("go9p read of %s (16 names):\n%s\nwant\n%s", name, got, want)
	}
}
