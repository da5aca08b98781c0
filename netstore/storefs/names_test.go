package storefs

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"9fans.net/go/plan9"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
)

// Listing names/ gives the names of oplog/ and opens no oplog; a listing
// of oplog/ gives every oplog's true length (FUSE clients read no further
// than it), loading those the store does not hold.
func TestNames_ListOpensNoOplog(t *testing.T) {
	dir := t.TempDir()
	ts := startStore(t, netstore.Config{Dir: dir})
	token := ts.user("alice")
	var recs []netstore.Record
	for i := range 5 {
		recs = append(recs, netstore.Record{Type: "lww", Path: fmt.Sprintf("/c/notes/n%d", i), Op: op(t, "o", 1, `1`)})
	}
	recs = append(recs, netstore.Record{Type: "counter", Path: "/c/x", Op: op(t, "o", 1, `1`)})
	if _, err := ts.svc.Push(t.Context(), "alice", recs); err != nil {
		t.Fatal(err)
	}
	ts.stop()

	// Again, with nothing open.
	ts = startStore(t, netstore.Config{Dir: dir})
	ts.table.set("alice", token, time.Now().Add(time.Hour))
	if n := ts.svc.OpenOplogs(); n != 0 {
		t.Fatalf("%d oplogs open after a restart", n)
	}
	r, err := remote.Dial(t.Context(), ts.addr, "alice", token)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.List(t.Context(), []string{"lww", "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/notes/n0", "/notes/n1", "/notes/n2", "/notes/n3", "/notes/n4"}
	if !slices.Equal(got, want) {
		t.Fatalf("list lww c: %q, want %q", got, want)
	}
	if got, err := r.List(t.Context(), []string{"lww", "c", "notes", "nothing"}); err != nil || len(got) != 0 {
		t.Fatalf("list of a missing folder: %q %v", got, err)
	}
	if n := ts.svc.OpenOplogs(); n != 0 {
		t.Fatalf("listing names/ opened %d oplogs", n)
	}

	fsys := ts.mustMount("alice", "token "+token)
	// A name cannot be read.
	if _, err := fsys.Open("/user/alice/names/lww/c/notes/n0", plan9.OREAD); err == nil {
		t.Fatal("a name opened")
	}
	d, err := fsys.Stat("/user/alice/names/counter/c/x")
	if err != nil || d.Length != 0 || d.Qid.Type&plan9.QTDIR != 0 {
		t.Fatalf("stat of a name: %v %v", d, err)
	}
	if n := ts.svc.OpenOplogs(); n != 0 {
		t.Fatalf("walks and stats of names/ opened %d oplogs", n)
	}
	// A stat of one loads that one and gives its length.
	d, err = fsys.Stat("/user/alice/oplog/lww/c/notes/n0")
	if err != nil || d.Length == 0 {
		t.Fatalf("stat of an oplog: %v %v", d, err)
	}
	if n := ts.svc.OplogLoads(); n != 1 {
		t.Fatalf("a stat of one oplog loaded %d", n)
	}
	// A listing of oplog/ gives each oplog's length, loaded or not.
	fid, err := fsys.Open("/user/alice/oplog/lww/c/notes", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := fid.Dirreadall()
	fid.Close()
	if err != nil || len(ents) != 5 {
		t.Fatalf("ls oplog/lww/c/notes: %d entries, %v", len(ents), err)
	}
	for _, e := range ents {
		if e.Length != d.Length { // the five oplogs hold the same records
			t.Fatalf("listed %s with length %d, want %d", e.Name, e.Length, d.Length)
		}
	}
}
