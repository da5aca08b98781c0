package interop

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// The tests of this file drive a store with 9fans.net/go/plan9/client, and
// with raw 9P messages encoded by 9fans.net/go/plan9, where the client
// hides what the server answered.

func (s *store) mount(uname, aname string) (*client.Fsys, error) {
	conn, err := client.Dial("tcp", s.addr)
	if err != nil {
		return nil, err
	}
	fsys, err := conn.Attach(nil, uname, aname)
	if err != nil {
		conn.Close()
		return nil, err
	}
	s.t.Cleanup(func() { conn.Close() })
	return fsys, nil
}

func (s *store) mustMount(uname, aname string) *client.Fsys {
	s.t.Helper()
	fsys, err := s.mount(uname, aname)
	if err != nil {
		s.t.Fatalf("attach %s %q: %v", uname, aname, err)
	}
	return fsys
}

func readAll(t *testing.T, fsys *client.Fsys, name string) string {
	t.Helper()
	fid, err := fsys.Open(name, plan9.OREAD)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer fid.Close()
	b, err := io.ReadAll(fid)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// push writes push lines to /user/<id>/push in writes that each fit one
// 9P message, and returns the reply lines. The reply to a write is read
// before the next write, which replaces it.
func push(t *testing.T, fsys *client.Fsys, user string, recs []netstore.Record) []string {
	t.Helper()
	fid, err := fsys.Open("/user/"+user+"/push", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()
	const max = 60 << 10 // under the 64 KiB message less its header
	var out []string
	var buf []byte
	flush := func() {
		if len(buf) == 0 {
			return
		}
		if _, err := fid.Write(buf); err != nil {
			t.Fatalf("push: %v", err)
		}
		var reply []byte
		b := make([]byte, 64<<10)
		for {
			n, err := fid.ReadAt(b, int64(len(reply)))
			reply = append(reply, b[:n]...)
			if err == io.EOF || n < len(b) {
				break
			}
			if err != nil {
				t.Fatalf("push reply: %v", err)
			}
		}
		out = append(out, lines(string(reply))...)
		buf = buf[:0]
	}
	for i := range recs {
		line := append(netstore.AppendRecord(nil, &recs[i]), '\n')
		if len(buf)+len(line) > max {
			flush()
		}
		buf = append(buf, line...)
	}
	flush()
	return out
}

// unpackDirs decodes the whole stat entries of one directory read.
func unpackDirs(b []byte) ([]*plan9.Dir, error) {
	var out []*plan9.Dir
	for len(b) > 0 {
		if len(b) < 2 {
			return out, fmt.Errorf("%d stray bytes", len(b))
		}
		n := int(b[0]) | int(b[1])<<8
		if len(b) < n+2 {
			return out, fmt.Errorf("entry of %d bytes cut at %d", n+2, len(b))
		}
		d, err := plan9.UnmarshalDir(b[:n+2])
		if err != nil {
			return out, err
		}
		out = append(out, d)
		b = b[n+2:]
	}
	return out, nil
}

// A folder of 10,000 oplogs, pushed in a few big writes, lists completely
// and once each in 512-byte reads: every read holds whole entries, and
// each read's offset is the previous offset plus the previous count.
func TestPlan9_TenThousandOplogs(t *testing.T) {
	const N = 10000
	s := startStore(t, shmDir(t))
	fsys := s.mustMount("alice", "token "+s.user("alice"))

	recs := make([]netstore.Record, N)
	for i := range recs {
		recs[i] = netstore.Record{Type: "big", Path: fmt.Sprintf("/n%05d", i), Op: newOp(t, "bulk", 1, fmt.Sprint(i))}
	}
	start := time.Now()
	replies := push(t, fsys, "alice", recs)
	if len(replies) != N {
		t.Fatalf("%d push replies for %d lines", len(replies), N)
	}
	for i, r := range replies {
		if r != "accepted" {
			t.Fatalf("push line %d: %q", i+1, r)
		}
	}
	t.Logf("pushed %d oplogs in %v", N, time.Since(start))

	fid, err := fsys.Open("/user/alice/oplog/big", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()
	start = time.Now()
	seen := make(map[string]int)
	var order []string
	var offset int64
	buf := make([]byte, 512)
	for reads := 0; ; reads++ {
		if reads > 2*N {
			t.Fatal("the listing does not end")
		}
		// One Tread per call, at the fid's offset: the previous offset plus
		// the previous count.
		n, err := fid.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read %d at offset %d: %v", reads, offset, err)
		}
		dirs, err := unpackDirs(buf[:n])
		if err != nil || len(dirs) == 0 {
			t.Fatalf("read %d at offset %d: %d bytes, %d entries: %v", reads, offset, n, len(dirs), err)
		}
		for _, d := range dirs {
			seen[d.Name]++
			order = append(order, d.Name)
			if d.Qid.Type&plan9.QTDIR != 0 || d.Mode&plan9.DMAPPEND == 0 || d.Length == 0 {
				t.Fatalf("entry %s: qid %v mode %v length %d", d.Name, d.Qid, d.Mode, d.Length)
			}
		}
		offset += int64(n)
	}
	t.Logf("listed %d entries in %v", len(order), time.Since(start))
	if len(order) != N || len(seen) != N {
		t.Fatalf("listing: %d entries, %d names, want %d", len(order), len(seen), N)
	}
	for i := range N {
		name := fmt.Sprintf("n%05d", i)
		if seen[name] != 1 {
			t.Fatalf("%s listed %d times", name, seen[name])
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i-1] >= order[i] {
			t.Fatalf("listing not in order at %d: %s then %s", i, order[i-1], order[i])
		}
	}

	// A read from offset 0 on the same fid starts the listing again.
	// (Seek then Read: the client's ReadAt loops to fill its buffer, and a
	// read too small for the next entry is an error.)
	if _, err := fid.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	n, err := fid.Read(buf)
	if err != nil {
		t.Fatalf("rewind: %v", err)
	}
	if dirs, err := unpackDirs(buf[:n]); err != nil || len(dirs) == 0 || dirs[0].Name != order[0] {
		t.Fatalf("rewind: %v %v", dirs, err)
	}

	// Walks into the big folder, and stats of its oplogs.
	st, err := fsys.Stat("/user/alice/oplog/big/n09999")
	if err != nil {
		t.Fatal(err)
	}
	if want := opLines(oplog.Initial(), recs[N-1].Op); st.Length != uint64(len(want)) {
		t.Fatalf("stat n09999: length %d, want %d", st.Length, len(want))
	}
	if _, err := fsys.Stat("/user/alice/oplog/big/n10000"); err == nil {
		t.Fatal("stat of a missing oplog succeeded")
	}
}

// Stat of an oplog gives its current length, and its qid.vers moves on
// every change but not on a no-op; the qid path stays.
func TestPlan9_StatLengthAndVersion(t *testing.T) {
	s := startStore(t, "")
	fsys := s.mustMount("alice", "token "+s.user("alice"))
	const name = "/user/alice/oplog/counter/v"
	a := newOp(t, "v", 1, `1`)
	if r := push(t, fsys, "alice", []netstore.Record{{Type: "counter", Path: "/v", Op: a}}); len(r) != 1 || r[0] != "accepted" {
		t.Fatalf("push: %v", r)
	}
	stat := func() *plan9.Dir {
		t.Helper()
		d, err := fsys.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, fsys, name); d.Length != uint64(len(got)) {
			t.Fatalf("stat length %d, read %d bytes", d.Length, len(got))
		}
		return d
	}
	d1 := stat()
	if d1.Qid.Type&plan9.QTAPPEND == 0 || d1.Mode&plan9.DMAPPEND == 0 || d1.Uid != "alice" {
		t.Fatalf("stat: %v", d1)
	}

	// A write through an open fid: the fid's stat moves too.
	fid, err := fsys.Open(name, plan9.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()
	if fid.Qid().Vers != d1.Qid.Vers {
		t.Fatalf("open qid %v, stat qid %v", fid.Qid(), d1.Qid)
	}
	b := newOp(t, "v", 2, `2`)
	if _, err := fid.Write([]byte(opLines(b))); err != nil {
		t.Fatal(err)
	}
	d2 := stat()
	if d2.Qid.Vers == d1.Qid.Vers || d2.Qid.Path != d1.Qid.Path || d2.Length <= d1.Length {
		t.Fatalf("after a write: %v, before %v", d2, d1)
	}
	if fd, err := fid.Stat(); err != nil || fd.Qid != d2.Qid || fd.Length != d2.Length {
		t.Fatalf("fstat after a write: %v %v, want %v", fd, err, d2)
	}
	// A no-op (a duplicate) changes nothing.
	if _, err := fid.Write([]byte(opLines(b))); err != nil {
		t.Fatal(err)
	}
	if d3 := stat(); d3.Qid != d2.Qid || d3.Length != d2.Length {
		t.Fatalf("after a no-op: %v, before %v", d3, d2)
	}
	// A push to the same oplog moves it as well.
	push(t, fsys, "alice", []netstore.Record{{Type: "counter", Path: "/v", Op: newOp(t, "v", 3, `3`)}})
	d4 := stat()
	if d4.Qid.Vers == d2.Qid.Vers || d4.Length <= d2.Length {
		t.Fatalf("after a push: %v, before %v", d4, d2)
	}
	// The folder's listing agrees with stat.
	dir, err := fsys.Open("/user/alice/oplog/counter", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	ents, err := dir.Dirreadall()
	if err != nil || len(ents) != 1 || ents[0].Qid != d4.Qid || ents[0].Length != d4.Length {
		t.Fatalf("listing %v %v, stat %v", ents, err, d4)
	}
}

// Partial walks, through the client and as raw messages: a walk whose
// first name fails is an Rerror; one that fails later is a short Rwalk
// that leaves newfid unused.
func TestPlan9_PartialWalks(t *testing.T) {
	s := startStore(t, "")
	token := s.user("alice")
	fsys := s.mustMount("alice", "token "+token)
	for _, p := range []string{"/nope", "/user/nobody", "/user/alice/nope", "/user/alice/oplog/t/x", "/user/alice/ctl/x", "/user/alice/nope/a/b/c"} {
		if _, err := fsys.Stat(p); err == nil {
			t.Errorf("stat %s succeeded", p)
		}
		if _, err := fsys.Open(p, plan9.OREAD); err == nil {
			t.Errorf("open %s succeeded", p)
		}
	}
	if _, err := fsys.Stat("/user/alice/ctl"); err != nil {
		t.Fatal(err)
	}

	r := dialRaw(t, s.addr)
	r.rpc(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8192, Version: "9P2000"}, plan9.Rversion)
	r.rpc(&plan9.Fcall{Type: plan9.Tattach, Fid: 0, Afid: plan9.NOFID, Uname: "alice", Aname: "token " + token}, plan9.Rattach)

	walk := func(fid, newfid uint32, names ...string) *plan9.Fcall {
		return r.call(&plan9.Fcall{Type: plan9.Twalk, Fid: fid, Newfid: newfid, Wname: names})
	}
	// The second name is missing: one qid, and fid 1 is not made.
	rx := walk(0, 1, "user", "nobody")
	if rx.Type != plan9.Rwalk || len(rx.Wqid) != 1 || rx.Wqid[0].Type&plan9.QTDIR == 0 {
		t.Fatalf("walk user/nobody: %v", rx)
	}
	if rx := r.call(&plan9.Fcall{Type: plan9.Tstat, Fid: 1}); rx.Type != plan9.Rerror {
		t.Fatalf("stat of the newfid of a short walk: %v", rx)
	}
	// Deeper: three qids, then a missing name.
	if rx := walk(0, 1, "user", "alice", "oplog", "nope", "x"); rx.Type != plan9.Rwalk || len(rx.Wqid) != 3 {
		t.Fatalf("walk user/alice/oplog/nope/x: %v", rx)
	}
	// A walk through a file stops at the file.
	if rx := walk(0, 1, "user", "alice", "ctl", "x"); rx.Type != plan9.Rwalk || len(rx.Wqid) != 3 || rx.Wqid[2].Type&plan9.QTDIR != 0 {
		t.Fatalf("walk user/alice/ctl/x: %v", rx)
	}
	// The first name is missing: Rerror.
	if rx := walk(0, 1, "nope", "x"); rx.Type != plan9.Rerror || !strings.Contains(rx.Ename, "does not exist") {
		t.Fatalf("walk nope/x: %v", rx)
	}
	// The fid 1 is still free: a full walk makes it.
	if rx := walk(0, 1, "user", "alice", "ctl"); rx.Type != plan9.Rwalk || len(rx.Wqid) != 3 {
		t.Fatalf("walk user/alice/ctl: %v", rx)
	}
	if rx := r.call(&plan9.Fcall{Type: plan9.Tstat, Fid: 1}); rx.Type != plan9.Rstat {
		t.Fatalf("stat fid 1: %v", rx)
	}
	// A newfid in use is an error; nwname 0 clones; ".." climbs.
	if rx := walk(0, 1); rx.Type != plan9.Rerror {
		t.Fatalf("walk to a fid in use: %v", rx)
	}
	if rx := walk(0, 2); rx.Type != plan9.Rwalk || len(rx.Wqid) != 0 {
		t.Fatalf("clone: %v", rx)
	}
	if rx := walk(2, 3, "user", "alice", "..", ".."); rx.Type != plan9.Rwalk || len(rx.Wqid) != 4 || rx.Wqid[2] != rx.Wqid[0] || rx.Wqid[3] != r.rootQid {
		t.Fatalf("walk user/alice/../..: %v (root %v)", rx, r.rootQid)
	}

	// Directory reads: offset 0 or the previous offset plus the previous
	// count, whole entries only.
	r.rpc(&plan9.Fcall{Type: plan9.Twalk, Fid: 0, Newfid: 4, Wname: []string{"user", "alice"}}, plan9.Rwalk)
	r.rpc(&plan9.Fcall{Type: plan9.Topen, Fid: 4, Mode: plan9.OREAD}, plan9.Ropen)
	first := r.rpc(&plan9.Fcall{Type: plan9.Tread, Fid: 4, Offset: 0, Count: 100}, plan9.Rread)
	ents, err := unpackDirs(first.Data)
	if err != nil || len(ents) == 0 {
		t.Fatalf("first read of /user/alice: %d bytes: %v", len(first.Data), err)
	}
	if rx := r.call(&plan9.Fcall{Type: plan9.Tread, Fid: 4, Offset: uint64(len(first.Data)) + 1, Count: 4096}); rx.Type != plan9.Rerror {
		t.Fatalf("directory read at a bad offset: %v", rx)
	}
	rest := r.rpc(&plan9.Fcall{Type: plan9.Tread, Fid: 4, Offset: uint64(len(first.Data)), Count: 4096}, plan9.Rread)
	more, err := unpackDirs(rest.Data)
	if err != nil || len(ents)+len(more) != 6 { // calls, ctl, names, oplog, push, stream
		t.Fatalf("/user/alice in two reads: %v then %v (%v)", ents, more, err)
	}
}

// raw is a 9P connection driven message by message.
type raw struct {
	t       *testing.T
	nc      net.Conn
	tag     uint16
	rootQid plan9.Qid
}

func dialRaw(t *testing.T, addr string) *raw {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc}
}

// call sends one message and returns the reply.
func (r *raw) call(tx *plan9.Fcall) *plan9.Fcall {
	r.t.Helper()
	if tx.Type != plan9.Tversion {
		r.tag++
		tx.Tag = r.tag
	}
	r.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := plan9.WriteFcall(r.nc, tx); err != nil {
		r.t.Fatal(err)
	}
	rx, err := plan9.ReadFcall(r.nc)
	if err != nil {
		r.t.Fatal(err)
	}
	if rx.Tag != tx.Tag {
		r.t.Fatalf("reply tag %d to tag %d", rx.Tag, tx.Tag)
	}
	if tx.Type == plan9.Tattach && rx.Type == plan9.Rattach {
		r.rootQid = rx.Qid
	}
	return rx
}

// rpc is call, failing unless the reply has type want.
func (r *raw) rpc(tx *plan9.Fcall, want uint8) *plan9.Fcall {
	r.t.Helper()
	rx := r.call(tx)
	if rx.Type != want {
		r.t.Fatalf("%v: %v", tx, rx)
	}
	return rx
}

func TestPlan9_AttachRefused(t *testing.T) {
	s := startStore(t, "")
	token := s.user("alice")
	cases := []struct{ uname, aname, want string }{
		{"alice", "token " + storeID + ".forged.mac", "token refused"},
		{"alice", "token other.x.y", "another store"},
		{"nobody", "token " + token, "unknown user"},
		{"alice", token, "aname must be"},
		{"alice", "table wrong-secret", "bad table secret"},
		{"admin", "admin wrong-key", "permission denied"},
	}
	for _, c := range cases {
		_, err := s.mount(c.uname, c.aname)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("attach %s %q: %v, want one line with %q", c.uname, c.aname, err, c.want)
		}
	}
	s.mustMount("alice", "token "+token)
}

// A Twalk of more than 16 names breaks walk(5); the go9p client sends one
// for a path that deep. The server must not crash or stall: it answers
// Rerror or hangs up, within a bound, and goes on serving others.
func TestPlan9_WalkOver16Names(t *testing.T) {
	s := startStore(t, "")
	token := s.user("alice")
	r := dialRaw(t, s.addr)
	r.rpc(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8192, Version: "9P2000"}, plan9.Rversion)
	r.rpc(&plan9.Fcall{Type: plan9.Tattach, Fid: 0, Afid: plan9.NOFID, Uname: "alice", Aname: "token " + token}, plan9.Rattach)
	// plan9.Fcall refuses to encode it: build the message by hand.
	msg := []byte{0, 0, 0, 0, plan9.Twalk, 9, 0, 0, 0, 0, 0, 1, 0, 0, 0, 17, 0}
	for range 17 {
		msg = append(msg, 1, 0, 'x')
	}
	msg[0], msg[1] = byte(len(msg)), byte(len(msg)>>8)
	r.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.nc.Write(msg); err != nil {
		t.Fatal(err)
	}
	rx, err := plan9.ReadFcall(r.nc)
	switch {
	case err == nil && rx.Type == plan9.Rerror:
		t.Logf("walk of 17 names: Rerror %q", rx.Ename)
	case err == io.EOF:
		t.Logf("walk of 17 names: the server hung up")
	default:
		t.Fatalf("walk of 17 names: %v %v, want Rerror or a hang-up", rx, err)
	}
	s.mustMount("alice", "token "+token)
}
