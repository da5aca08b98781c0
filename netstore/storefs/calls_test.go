package storefs

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gigfs.io/gigfs/netstore"
)

func readCalls(t *testing.T, text string) []netstore.Call {
	t.Helper()
	var out []netstore.Call
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if line == "" {
			continue
		}
		var c netstore.Call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("calls line %q: %v", line, err)
		}
		out = append(out, c)
	}
	return out
}

// The store logs each user's calls with the session of their token, and
// the user reads the log in /user/<id>/calls: which session wrote what,
// and what a revoked one tried afterwards.
func TestCalls_SessionsAndRefusals(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	laptop := ts.user("alice") // session "session-alice"
	fsys := ts.mustMount("alice", "token "+laptop)
	recs := []netstore.Record{
		{Type: "counter", Path: "/c/a", Op: op(t, "o", 1, `1`)},
		{Type: "lww", Path: "/c/b", Op: op(t, "o", 1, `"b"`)},
	}
	if err := writeFile(fsys, "/user/alice/push", pushLines(recs...)+pushLines(recs[0])); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(fsys, "/user/alice/oplog/counter/c/a", opLines(op(t, "o", 2, `2`))); err != nil {
		t.Fatal(err)
	}

	// The laptop is revoked: its next attach is refused, and logged.
	if err := ts.svc.Revoke("alice", laptop); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.mount("alice", "token "+laptop); err == nil {
		t.Fatal("attach with a revoked token")
	}

	desk := testStoreID + ".desk.mac"
	ts.table.set("alice", desk, time.Now().Add(time.Hour))
	calls := readCalls(t, readFile(t, ts.mustMount("alice", "token "+desk), "/user/alice/calls"))
	var got []string
	for _, c := range calls {
		got = append(got, c.Session+" "+c.Call+" "+c.Result+" "+strings.Join(c.Paths, ","))
		if c.Time == 0 {
			t.Errorf("call without a time: %+v", c)
		}
	}
	want := []string{
		"session-alice attach ok ",
		"session-alice push accepted 2, duplicate 1 counter /c/a,lww /c/b",
		"session-alice write accepted 1 counter /c/a",
		"session-alice attach refused: permission: token revoked ",
		"desk attach ok ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if calls[1].Records != 3 {
		t.Errorf("push call: %d records, want 3", calls[1].Records)
	}
}

// The call log is bounded: the file shows the last CallLog calls, and
// its files hold at most twice that and two chunks (netstore's callChunk:
// 1 for 3) on disk.
func TestCalls_Bounded(t *testing.T) {
	ts := startStore(t, netstore.Config{CallLog: 3})
	token := ts.user("alice")
	for i := range 10 {
		ts.svc.LogCall("alice", netstore.Call{Session: "s", Call: "push", Records: i + 1, Result: "accepted 1"})
	}
	calls := readCalls(t, readFile(t, ts.mustMount("alice", "token "+token), "/user/alice/calls"))
	// The last three: two logged calls, then this attach.
	if len(calls) != 3 || calls[0].Records != 9 || calls[1].Records != 10 || calls[2].Call != "attach" {
		t.Fatalf("calls: %+v", calls)
	}
	files, _ := filepath.Glob(filepath.Join(ts.dir, "*", "alice", "calls.*"))
	if len(files) != 2 {
		t.Fatalf("call log files: %v", files)
	}
	lines := 0
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".zst") {
			b, err = exec.Command("zstdcat", name).Output()
			if err != nil {
				t.Skipf("zstdcat: %v", err)
			}
		}
		lines += strings.Count(string(b), "\n")
	}
	if lines > 8 {
		t.Fatalf("the call log's files hold %d lines, want at most 8", lines)
	}
}
