package storefs

import (
	"strings"
	"testing"

	"9fans.net/go/plan9"

	"gigfs.io/gigfs/netstore"
)

func statusLine(t *testing.T, text, name string) string {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	t.Fatalf("status has no %s:\n%s", name, text)
	return ""
}

// /status at the root says what the store holds and does: users, open
// oplogs, records accepted and refused, open streams, push latency.
func TestStatus_Counts(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	token := ts.user("alice")
	ts.user("bob")
	fsys := ts.mustMount("alice", "token "+token)
	a := op(t, "o", 1, `1`)
	recs := []netstore.Record{{Type: "counter", Path: "/c/a", Op: a}, {Type: "counter", Path: "/c/b", Op: op(t, "o", 1, `2`)}}
	if err := writeFile(fsys, "/user/alice/push", pushLines(recs...)+pushLines(recs[0])); err != nil {
		t.Fatal(err)
	}
	// A refused record: an op whose seq another op holds.
	if err := writeFile(fsys, "/user/alice/oplog/counter/c/a", opLines(op(t, "o", 1, `3`))); err == nil {
		t.Fatal("a seq taken twice was accepted")
	}
	stream, err := fsys.Open("/user/alice/stream", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	st := readFile(t, fsys, "/status")
	for name, want := range map[string]string{"server": "gig-store", "users": "2", "oplogs_open": "2", "ops_accepted": "2", "ops_refused": "1", "streams": "1"} {
		if got := statusLine(t, st, name); got != want {
			t.Errorf("status %s = %q, want %q", name, got, want)
		}
	}
	if got := statusLine(t, st, "push_durable"); !strings.HasPrefix(got, "p50 ") || !strings.HasSuffix(got, "(n 2)") {
		t.Errorf("push_durable %q", got)
	}
	// Every fsync of the write-ahead log is timed.
	if n, got := statusLine(t, st, "fsyncs"), statusLine(t, st, "fsync_latency"); n == "0" || !strings.HasPrefix(got, "p50 ") || !strings.HasSuffix(got, "(n "+n+")") {
		t.Errorf("fsyncs %s, fsync_latency %q", n, got)
	}
	if got := statusLine(t, st, "memory"); !strings.Contains(got, "heap ") {
		t.Errorf("memory %q", got)
	}
	stream.Close()
	// The stream's close is counted once the server has handled the clunk.
	for statusLine(t, readFile(t, fsys, "/status"), "streams") != "0" {
	}
}
