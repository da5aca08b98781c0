package storefs

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
	"gigfs.io/gigfs/oplog"
)

func TestTree_WriteAndReadOplog(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("alice")
	fs := ts.mustMount("alice", "token "+token)

	// Make the type folder and the oplog as a plain 9P client would.
	dir, err := fs.Create("/user/alice/oplog/counter", plan9.OREAD, plan9.DMDIR|0o700)
	if err != nil {
		t.Fatal(err)
	}
	dir.Close()
	f, err := fs.Create("/user/alice/oplog/counter/x", plan9.OWRITE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	a, b := op(t, "c1", 1, `1`), op(t, "c1", 2, `0`)
	if err := writeFile(fs, "/user/alice/oplog/counter/x", opLines(a, b)); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, fs, "/user/alice/oplog/counter/x")
	init := oplog.Initial()
	want := opLines(init, a, b)
	if got != want {
		t.Fatalf("read back:\n%s\nwant\n%s", got, want)
	}
	// A duplicate is a no-op, not an error.
	if err := writeFile(fs, "/user/alice/oplog/counter/x", opLines(a)); err != nil {
		t.Fatalf("duplicate: %v", err)
	}
	// A write without a trailing newline is one whole op (echo -n).
	c := op(t, "c1", 3, `2`)
	if err := writeFile(fs, "/user/alice/oplog/counter/x", strings.TrimSuffix(opLines(c), "\n")); err != nil {
		t.Fatal(err)
	}
	// qid.vers and length follow the log.
	st, err := fs.Stat("/user/alice/oplog/counter/x")
	if err != nil {
		t.Fatal(err)
	}
	if want := opLines(init, a, b, c); st.Length != uint64(len(want)) {
		t.Fatalf("length %d, want %d", st.Length, len(want))
	}
	if err := writeFile(fs, "/user/alice/oplog/counter/x", opLines(op(t, "c1", 4, `3`))); err != nil {
		t.Fatal(err)
	}
	st2, _ := fs.Stat("/user/alice/oplog/counter/x")
	if st2.Qid.Vers == st.Qid.Vers {
		t.Fatalf("qid.vers did not move: %d", st.Qid.Vers)
	}
	// Listing.
	fid, _ := fs.Open("/user/alice/oplog/counter", plan9.OREAD)
	ents, err := fid.Dirreadall()
	fid.Close()
	if err != nil || len(ents) != 1 || ents[0].Name != "x" {
		t.Fatalf("listing: %v %v", ents, err)
	}
}

func TestTree_PushFile(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	fs := ts.mustMount("bob", "token "+ts.user("bob"))
	a := op(t, "o", 1, `{"add":"x"}`)
	bad := op(t, "o", 2, `1`)
	bad.Payload = []byte(`2`) // sha no longer matches
	in := pushLines(
		netstore.Record{Type: "set", Path: "/deep/er/path", Op: a},
		netstore.Record{Type: "set", Path: "/deep/er/path", Op: a},
		netstore.Record{Type: "lww", Path: "other", Op: op(t, "o", 1, `null`)},
		netstore.Record{Type: "set", Path: "/p", Op: bad},
		netstore.Record{Type: "set", Path: "/../etc", Op: op(t, "o", 1, `1`)},
	) + "{not json\n"
	reply, err := ctl(fs, "/user/bob/push", in)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(reply, "\n"), "\n")
	want := []string{"accepted", "duplicate: already present", "accepted", "invalid: sha mismatch", "invalid: bad path", "invalid: malformed op"}
	if len(lines) != len(want) {
		t.Fatalf("reply:\n%s", reply)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d: %q, want prefix %q", i+1, lines[i], want[i])
		}
	}
	if got := readFile(t, fs, "/user/bob/oplog/set/deep/er/path"); !strings.Contains(got, a.Sha) {
		t.Fatalf("pushed op not in the oplog: %s", got)
	}
}

// Bad paths are refused: "..", empty segments, names over 255 bytes, NUL,
// control characters.
func TestTree_BadPaths(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	fs := ts.mustMount("carol", "token "+ts.user("carol"))
	bad := []string{"/../x", "/a/../b", "/a//b", "", "/", "/" + strings.Repeat("n", 256), "/a\x00b", "/a\x01b", "/a\nb", "/.hidden", "/a/./b"}
	for _, p := range bad {
		reply, err := ctl(fs, "/user/carol/push", pushLines(netstore.Record{Type: "lww", Path: p, Op: op(t, "o", 1, `1`)}))
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if !strings.HasPrefix(reply, "invalid: bad path") {
			t.Errorf("path %q: %q, want invalid: bad path", p, reply)
		}
	}
	for _, typ := range []string{"..", "", "a/b", strings.Repeat("t", 256)} {
		reply, _ := ctl(fs, "/user/carol/push", pushLines(netstore.Record{Type: typ, Path: "/x", Op: op(t, "o", 1, `1`)}))
		if !strings.HasPrefix(reply, "invalid: bad type") {
			t.Errorf("type %q: %q", typ, reply)
		}
	}
	if _, err := fs.Create("/user/carol/oplog/.x", plan9.OREAD, plan9.DMDIR|0o700); err == nil {
		t.Error("created a folder named .x")
	}
	// Nothing was made on disk.
	ents, err := ts.svc.List("carol", nil)
	if err != nil || len(ents) != 0 {
		t.Fatalf("root after bad pushes: %v %v", ents, err)
	}
	// A path through an oplog is refused.
	ctl(fs, "/user/carol/push", pushLines(netstore.Record{Type: "lww", Path: "/f", Op: op(t, "o", 1, `1`)}))
	reply, _ := ctl(fs, "/user/carol/push", pushLines(netstore.Record{Type: "lww", Path: "/f/g", Op: op(t, "o", 1, `1`)}))
	if !strings.HasPrefix(reply, "invalid:") || !strings.Contains(reply, "not a folder") {
		t.Fatalf("path through an oplog: %q", reply)
	}
}

func TestTree_OversizedWrite(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	fs := ts.mustMount("dan", "token "+ts.user("dan"))
	fid, err := fs.Open("/user/dan/push", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	var werr error
	for i := 0; i < 2*maxLine/len(chunk) && werr == nil; i++ {
		_, werr = fid.Write(chunk)
	}
	if werr == nil || !strings.HasPrefix(werr.Error(), "limit: ") {
		t.Fatalf("write of a %d-byte line: %v", 2*maxLine, werr)
	}
	// An op over the op size limit is refused on its own line.
	big := `{"type":"lww","path":"/big","op":{"date":1,"origin":"o","seq":1,"sha":"x","payload":"` + strings.Repeat("y", oplog.MaxOpSize) + `"}}` + "\n"
	reply, err := func() (string, error) {
		f, err := fs.Open("/user/dan/push", plan9.ORDWR)
		if err != nil {
			return "", err
		}
		defer f.Close()
		for b := []byte(big); len(b) > 0; {
			n := min(len(b), 32<<10)
			if _, err := f.Write(b[:n]); err != nil {
				return "", err
			}
			b = b[n:]
		}
		r := make([]byte, 4096)
		n, _ := f.ReadAt(r, 0)
		return string(r[:n]), nil
	}()
	if err != nil || !strings.HasPrefix(reply, "limit: op too large") {
		t.Fatalf("oversized op: %q, %v", reply, err)
	}
}

// A refused write leaves the path usable for the next writer: no lock or
// state is left behind on any error path.
func TestTree_RefusedWriteLeavesPathUsable(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("erin")
	fs1 := ts.mustMount("erin", "token "+token)
	fs2 := ts.mustMount("erin", "token "+token)
	good := op(t, "o", 1, `1`)
	if reply, _ := ctl(fs1, "/user/erin/push", pushLines(netstore.Record{Type: "counter", Path: "/x", Op: good})); reply != "accepted\n" {
		t.Fatalf("first push: %q", reply)
	}
	forged := op(t, "o", 2, `1`)
	forged.Sha = strings.Repeat("0", 64)
	garbage := []string{opLines(forged), "{\"date\":1}\n", "\x00\x01\x02\n", "[]\n", "null\n"}
	for _, g := range garbage {
		if err := writeFile(fs1, "/user/erin/oplog/counter/x", g); err == nil || !strings.Contains(err.Error(), "line 1 refused") {
			t.Errorf("write %q: %v, want line 1 refused", g, err)
		}
	}
	conflict := op(t, "o", 1, `99`) // same origin and seq as good
	if err := writeFile(fs1, "/user/erin/oplog/counter/x", opLines(conflict)); err == nil {
		t.Error("conflicting op accepted")
	}
	// The next writer, on another connection, goes through at once.
	done := make(chan error, 1)
	go func() { done <- writeFile(fs2, "/user/erin/oplog/counter/x", opLines(op(t, "o", 2, `5`))) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the path hangs after refused writes")
	}
	if got := readFile(t, fs2, "/user/erin/oplog/counter/x"); strings.Count(got, "\n") != 3 {
		t.Fatalf("log:\n%s", got)
	}
}

func TestTree_UsersIsolated(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	ta := ts.user("ann")
	tb := ts.user("ben")
	fa := ts.mustMount("ann", "token "+ta)
	if _, err := fa.Stat("/user/ben"); err == nil {
		t.Fatal("ann sees /user/ben")
	}
	fid, _ := fa.Open("/user", plan9.OREAD)
	ents, _ := fid.Dirreadall()
	fid.Close()
	if len(ents) != 1 || ents[0].Name != "ann" {
		t.Fatalf("ann lists /user as %v", ents)
	}
	if _, err := ts.mount("ben", "token "+ta); err == nil {
		t.Fatal("ben's tree opened with ann's token")
	}
	if _, err := ts.mount("ann", "token "+tb); err == nil {
		t.Fatal("ann's tree opened with ben's token")
	}
}

func TestTree_AttachRefused(t *testing.T) {
	now := time.Now()
	ts := startStore(t, netstore.Config{Now: func() time.Time { return now }, CheckTimeout: 200 * time.Millisecond})
	token := ts.user("fay")
	expired := testStoreID + ".old.mac"
	ts.table.set("fay", expired, time.Time{})
	cases := []struct{ uname, aname, want string }{
		{"fay", "token " + testStoreID + ".unknown.mac", "token refused"},
		{"fay", "token " + expired, "token refused"},
		{"fay", "token otherstore.x.y", "another store"},
		{"nobody", "token " + token, "unknown user"},
		{"fay", token, "aname must be"},
		{"fay", "table wrong-secret", "bad table secret"},
		{"fay", "confirm wrong-code", "bad or expired confirmation code"},
		{"admin", "admin wrong", "permission"},
		{"FAY", "token " + token, "invalid: bad user id"},
	}
	for _, c := range cases {
		_, err := ts.mount(c.uname, c.aname)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("attach %s %q: %v, want %q", c.uname, c.aname, err, c.want)
		}
	}
	// The table being down refuses new tokens within the check timeout,
	// with a clear error, and does not hang the store.
	ts.table.mu.Lock()
	ts.table.down = true
	ts.table.mu.Unlock()
	_, err := ts.mount("fay", "token "+testStoreID+".new.mac")
	if err == nil || !strings.Contains(err.Error(), "table unreachable") {
		t.Fatalf("table down: %v", err)
	}
	// A cached token still works.
	ts.table.mu.Lock()
	ts.table.down = false
	ts.table.mu.Unlock()
}

// Tokens are cached for a bounded time; a revocation written by the table
// takes effect at once.
func TestTree_TokenCacheAndRevocation(t *testing.T) {
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	now := time.Now()
	clk := func() time.Time { <-mu; defer func() { mu <- struct{}{} }(); return now }
	advance := func(d time.Duration) { <-mu; now = now.Add(d); mu <- struct{}{} }
	ts := startStore(t, netstore.Config{Now: clk, TokenCacheTTL: 30 * time.Second})
	token := ts.user("gus")
	ts.mustMount("gus", "token "+token)
	calls := ts.table.calls
	ts.mustMount("gus", "token "+token)
	if ts.table.calls != calls {
		t.Fatal("a fresh check was not cached")
	}
	// The table revokes the session but cannot tell the store: the cache
	// holds until its bound, then the store asks again and refuses.
	ts.table.set("gus", token, time.Time{})
	ts.mustMount("gus", "token "+token)
	advance(31 * time.Second)
	if _, err := ts.mount("gus", "token "+token); err == nil {
		t.Fatal("token accepted past the cache bound after revocation")
	}
	// A revocation written to the store's ctl takes effect at once.
	token2 := testStoreID + ".s2.mac"
	ts.table.set("gus", token2, now.Add(time.Hour))
	ts.mustMount("gus", "token "+token2)
	tf := ts.mustMount("gus", "table "+testSecret)
	if reply, err := ctl(tf, "/user/gus/ctl", "revoke "+token2); err != nil || reply != "ok" {
		t.Fatalf("revoke: %q %v", reply, err)
	}
	if _, err := ts.mount("gus", "token "+token2); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked token: %v", err)
	}
	// The table's ctl takes nothing else.
	if _, err := ctl(tf, "/user/gus/ctl", "confirm a b c"); err == nil {
		t.Fatal("table credential ran confirm")
	}
}

func TestTree_AdminAndConfirm(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	adm := ts.mustMount("admin", "admin "+testAdminKey)
	reply, err := ctl(adm, "/admin/ctl", "user add hal")
	if err != nil || !strings.HasPrefix(reply, "code ") {
		t.Fatalf("user add: %q %v", reply, err)
	}
	code := strings.TrimSpace(strings.TrimPrefix(reply, "code "))
	if _, err := ctl(adm, "/admin/ctl", "user add hal"); err == nil {
		t.Fatal("user added twice")
	}
	if _, err := ctl(adm, "/admin/ctl", "frobnicate"); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("bad admin command: %v", err)
	}
	if list, _ := ctl(adm, "/admin/ctl", "user list"); list != "hal\n" {
		t.Fatalf("user list: %q", list)
	}
	cf := ts.mustMount("hal", "confirm "+code)
	if _, err := ctl(cf, "/user/hal/ctl", "confirm tcp!127.0.0.1!5640 "+testStoreID+" short"); err == nil {
		t.Fatal("short secret accepted")
	}
	if reply, err := ctl(cf, "/user/hal/ctl", "confirm tcp!127.0.0.1!5640 "+testStoreID+" "+testSecret); err != nil || reply != "ok" {
		t.Fatalf("confirm: %q %v", reply, err)
	}
	// The code is used up.
	if _, err := ts.mount("hal", "confirm "+code); err == nil {
		t.Fatal("code worked twice")
	}
	// The store now trusts that table: its tokens are accepted.
	token := testStoreID + ".s.mac"
	ts.table.set("hal", token, time.Now().Add(time.Hour))
	ts.mustMount("hal", "token "+token)
	// Restart: users and their tables survive.
	ts.stop()
	ts2 := startStore(t, netstore.Config{Dir: ts.dir})
	ts2.table.set("hal", token, time.Now().Add(time.Hour))
	ts2.mustMount("hal", "token "+token)
}

func TestTree_Stream(t *testing.T) {
	ts := startStore(t, netstore.Config{StreamBuffer: 8})
	token := ts.user("ida")
	reader := ts.mustMount("ida", "token "+token)
	writer := ts.mustMount("ida", "token "+token)
	sfid, err := reader.Open("/user/ida/stream", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan netstore.Event, 100)
	errs := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<20)
		for {
			n, err := sfid.Read(buf)
			if err != nil {
				errs <- err
				return
			}
			evs, err := netstore.ParseEvents(buf[:n]) // a read holds every event ready
			for _, ev := range evs {
				events <- ev
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	ops := []oplog.Op{op(t, "w", 1, `1`), op(t, "w", 2, `2`), op(t, "w", 3, `3`)}
	for _, o := range ops {
		if reply, _ := ctl(writer, "/user/ida/push", pushLines(netstore.Record{Type: "counter", Path: "/s", Op: o})); reply != "accepted\n" {
			t.Fatalf("push: %q", reply)
		}
	}
	// A no-op is not an event.
	ctl(writer, "/user/ida/push", pushLines(netstore.Record{Type: "counter", Path: "/s", Op: ops[0]}))
	var last netstore.Event
	for i := range ops {
		select {
		case ev := <-events:
			o, err := oplog.Decode(ev.Op)
			if err != nil || o.Sha != ops[i].Sha || ev.Type != "counter" || ev.Path != "/s" || ev.Seq != uint64(i+1) {
				t.Fatalf("event %d: %+v %v", i, ev, err)
			}
			last = ev
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(time.Minute):
			t.Fatalf("event %d did not arrive", i)
		}
	}
	ctl(writer, "/user/ida/push", pushLines(netstore.Record{Type: "counter", Path: "/t", Op: op(t, "w", 1, `4`)}))
	select {
	case ev := <-events:
		if ev.Path != "/t" {
			t.Fatalf("event after the no-op: %+v", ev)
		}
	case <-time.After(time.Minute):
		t.Fatal("no event after the no-op")
	}

	// Resume after a disconnect: events pushed meanwhile come first.
	missed := op(t, "w", 4, `5`)
	ctl(writer, "/user/ida/push", pushLines(netstore.Record{Type: "counter", Path: "/s", Op: missed}))
	r2 := ts.mustMount("ida", "token "+token)
	f2, _ := r2.Open("/user/ida/stream", plan9.ORDWR)
	if _, err := f2.Write([]byte(fmt.Sprintf("since %s %d\n", last.Epoch, last.Seq))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	n, err := f2.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if evs, _ := netstore.ParseEvents(buf[:n]); len(evs) == 0 || evs[0].Seq != last.Seq+1 || evs[0].Path != "/t" {
		t.Fatalf("resumed at %+v, want seq %d first", evs, last.Seq+1)
	}
	// Another epoch, a cursor too old, a cursor from the future: explicit errors.
	bad := []struct{ line, want string }{
		{"since other-epoch 1", "epoch changed"},
		{fmt.Sprintf("since %s %d", last.Epoch, last.Seq+1000), "ahead"},
		{"since x", "usage"},
	}
	for _, b := range bad {
		if _, err := f2.Write([]byte(b.line)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: %v, want %q", b.line, err, b.want)
		}
	}
	for i := 2; i <= 20; i++ { // overflow the 8-event buffer
		ctl(writer, "/user/ida/push", pushLines(netstore.Record{Type: "counter", Path: "/u", Op: op(t, "w", uint64(i), `1`)}))
	}
	if _, err := f2.Write([]byte(fmt.Sprintf("since %s 1", last.Epoch))); err == nil || !strings.Contains(err.Error(), "too old") {
		t.Errorf("old cursor: %v", err)
	}
	// The ctl answers the cursor to resume from after a read.
	reply, err := ctl(writer, "/user/ida/ctl", "cursor")
	if f := strings.Fields(reply); err != nil || len(f) != 2 || f[0] != last.Epoch {
		t.Fatalf("cursor: %q %v", reply, err)
	} else if seq, _ := strconv.Atoi(f[1]); seq < int(last.Seq)+20 {
		t.Fatalf("cursor seq %d", seq)
	}
}

// The remote client speaks the same tree.
func TestRemote(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("jo")
	ctx := context.Background()
	r, err := remote.Dial(ctx, ts.addr, "jo", token)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, err := r.Read(ctx, "counter", "/none")
	if err != nil || l.Len() != 1 {
		t.Fatalf("read of a missing oplog: %v, %v", l, err)
	}
	var recs []netstore.Record
	for i := 1; i <= 2000; i++ { // more than one write of the push file
		recs = append(recs, netstore.Record{Type: "counter", Path: "/n", Op: op(t, "r", uint64(i), `1`)})
	}
	res, err := r.Push(ctx, recs)
	if err != nil || len(res) != 2000 {
		t.Fatalf("push: %d results, %v", len(res), err)
	}
	for i, x := range res {
		if x.Outcome() != oplog.Accepted {
			t.Fatalf("record %d: %v", i, x)
		}
	}
	l, err = r.Read(ctx, "counter", "/n")
	if err != nil || l.Len() != 2001 {
		t.Fatalf("read: %d records, %v", l.Len(), err)
	}
	epoch, seq, err := r.Cursor(ctx)
	if err != nil || epoch != ts.svc.Epoch() || seq != 2000 {
		t.Fatalf("cursor %q %d %v; store epoch %q", epoch, seq, err, ts.svc.Epoch())
	}
	sr, err := remote.OpenStream(ctx, ts.addr, "jo", token, epoch, seq-1)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	ev, err := sr.Next(ctx)
	if err != nil || ev.Seq != seq {
		t.Fatalf("stream: %+v %v", ev, err)
	}
	// A cancelled context ends a blocked Next.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := sr.Next(cctx); err == nil {
		t.Fatal("Next returned without an event")
	}
}

// A revocation also stops connections attached before it: opens and stream
// events check the token again.
func TestTree_RevocationStopsLiveConnections(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("liv")
	live := ts.mustMount("liv", "token "+token)
	sfid, err := live.Open("/user/liv/stream", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	pfid, err := live.Open("/user/liv/push", plan9.ORDWR) // kept open, as the remote client does
	if err != nil {
		t.Fatal(err)
	}
	tf := ts.mustMount("liv", "table "+testSecret)
	if _, err := ctl(tf, "/user/liv/ctl", "revoke "+token); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl(live, "/user/liv/push", pushLines(netstore.Record{Type: "lww", Path: "/x", Op: op(t, "o", 1, `1`)})); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("push on a connection whose token was revoked: %v", err)
	}
	if _, err := pfid.Write([]byte(pushLines(netstore.Record{Type: "lww", Path: "/z", Op: op(t, "o", 3, `3`)}))); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("write on a push fid opened before the revocation: %v", err)
	}
	// An op accepted afterwards is not delivered on the revoked stream.
	if _, err := ts.svc.Push(context.Background(), "liv", []netstore.Record{{Type: "lww", Path: "/y", Op: op(t, "o", 2, `2`)}}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := sfid.Read(buf); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("stream read after revocation: %v", err)
	}
}

func TestRemote_ListAndTypes(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("lia")
	ctx := context.Background()
	r, err := remote.Dial(ctx, ts.addr, "lia", token)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Push(ctx, []netstore.Record{
		{Type: "lww", Path: "/ch/a", Op: op(t, "o", 1, `1`)},
		{Type: "lww", Path: "/ch/b/c", Op: op(t, "o", 1, `1`)},
		{Type: "set", Path: "/other/x", Op: op(t, "o", 1, `{"add":1}`)},
	}); err != nil {
		t.Fatal(err)
	}
	types, err := r.Types(ctx)
	if err != nil || strings.Join(types, ",") != "lww,set" {
		t.Fatalf("types %v %v", types, err)
	}
	paths, err := r.List(ctx, []string{"lww", "ch"})
	if err != nil || strings.Join(paths, ",") != "/a,/b/c" {
		t.Fatalf("paths %v %v", paths, err)
	}
	if paths, err := r.List(ctx, []string{"set", "ch"}); err != nil || len(paths) != 0 {
		t.Fatalf("a folder that does not exist: %v %v", paths, err)
	}
}

// A revocation cuts listing and stat too: a connection attached before it
// can no longer walk to an oplog, stat one, or read a folder it had open
// (its next read from offset 0 lists again), and learns nothing of names,
// lengths or versions.
func TestTree_RevocationStopsListingAndStat(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("lis")
	if _, err := ts.svc.Push(context.Background(), "lis", []netstore.Record{{Type: "lww", Path: "/ch/x", Op: op(t, "o", 1, `1`)}}); err != nil {
		t.Fatal(err)
	}
	live := ts.mustMount("lis", "token "+token)
	dfid, err := live.Open("/user/lis/oplog/lww/ch", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer dfid.Close()
	if ents, err := dfid.Dirreadall(); err != nil || len(ents) != 1 || ents[0].Name != "x" {
		t.Fatalf("listing before the revocation: %v %v", ents, err)
	}
	if _, err := live.Stat("/user/lis/oplog/lww/ch/x"); err != nil {
		t.Fatalf("stat before the revocation: %v", err)
	}
	tf := ts.mustMount("lis", "table "+testSecret)
	if _, err := ctl(tf, "/user/lis/ctl", "revoke "+token); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/user/lis/oplog/lww/ch/x", "/user/lis/oplog/lww/ch", "/user/lis/oplog"} {
		if d, err := live.Stat(name); err == nil || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("stat %s after the revocation: %v, %v; want a revoked error", name, d, err)
		}
	}
	if d, err := dfid.Stat(); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("stat of a fid walked before the revocation: %v, %v; want a revoked error", d, err)
	}
	buf := make([]byte, 8192)
	if n, err := dfid.ReadAt(buf, 0); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("re-reading a folder opened before the revocation: %d bytes, %v; want a revoked error", n, err)
	}
	if _, err := live.Open("/user/lis/oplog/lww", plan9.OREAD); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("open a folder after the revocation: %v", err)
	}
}
