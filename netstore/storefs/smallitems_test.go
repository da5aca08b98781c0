package storefs

import (
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"

	"gigfs.io/gigfs/netstore"
)

// The small holes hostile testing found in the store's tree, each closed.
func TestTree_HostileSmall(t *testing.T) {
	ts := startStore(t, netstore.Config{})
	tok := ts.user("ann")
	fs := ts.mustMount("ann", "token "+tok)
	o := op(t, "o", 1, `1`)
	line := pushLines(netstore.Record{Type: "counter", Path: "/c/a", Op: o})

	t.Run("invalid UTF-8 in a push path is refused, not mended", func(t *testing.T) {
		i := strings.Index(line, "/c/a") + 3 // the "a"
		raw := line[:i] + "\xff" + line[i+1:]
		if r, err := ctl(fs, "/user/ann/push", raw); err != nil || !strings.HasPrefix(r, "invalid: ") || !strings.Contains(r, "not valid UTF-8") {
			t.Errorf("push of a path with a byte 0xff: %q, %v", r, err)
		}
		esc := strings.Replace(line, "/c/a", `/c/\ud800`, 1) // a lone surrogate: no character
		if r, err := ctl(fs, "/user/ann/push", esc); err != nil || !strings.HasPrefix(r, "invalid: ") || !strings.Contains(r, "lone surrogate") {
			t.Errorf("push of a path with a lone surrogate: %q, %v", r, err)
		}
		if _, err := fs.Stat("/user/ann/oplog/counter/c/\uFFFD"); err == nil {
			t.Error("a mended name was stored")
		}
		ok := pushLines(netstore.Record{Type: "counter", Path: "/c/\uFFFD", Op: o}) // U+FFFD written as itself is a name like any
		if r, err := ctl(fs, "/user/ann/push", ok); err != nil || strings.TrimSpace(r) != "accepted" {
			t.Errorf("push of a path with U+FFFD itself: %q, %v", r, err)
		}
	})

	t.Run("C1 control characters are refused in paths", func(t *testing.T) {
		r, err := ctl(fs, "/user/ann/push", pushLines(netstore.Record{Type: "counter", Path: "/c/a\u0085b", Op: o}))
		if err != nil || !strings.HasPrefix(r, "invalid: ") {
			t.Errorf("push of a path with U+0085: %q, %v", r, err)
		}
	})

	t.Run("an unterminated push line gets a reply", func(t *testing.T) {
		fid, err := fs.Open("/user/ann/push", plan9.ORDWR)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fid.Write([]byte(line[:20])); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1000)
		n, _ := fid.ReadAt(buf, 0)
		if want := "invalid: an unterminated line of 20 bytes, not a whole op yet: end it with a newline\n"; string(buf[:n]) != want {
			t.Errorf("reply to a partial line: %q, want %q", buf[:n], want)
		}
		// The rest of the line completes it.
		if _, err := fid.Write([]byte(line[20:] + "\n")); err != nil {
			t.Fatal(err)
		}
		n, _ = fid.ReadAt(buf, 0)
		if got := string(buf[:n]); got != "accepted\n" && !strings.HasPrefix(got, "duplicate") {
			t.Errorf("reply once the line is whole: %q", got)
		}
		fid.Write([]byte(`{"type":"counter"`))
		fid.Close()
		waitLog(t, ts, "user ann: push: an unterminated line of 17 bytes, not a whole op, dropped at close")
	})

	t.Run("a partial line written to an oplog is reported at close", func(t *testing.T) {
		fid, err := fs.Open("/user/ann/oplog/counter/c/a", plan9.OWRITE)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fid.Write([]byte(opLines(o)[:30])); err != nil {
			t.Fatal(err)
		}
		fid.Close()
		waitLog(t, ts, "user ann: oplog counter /c/a: an unterminated line of 30 bytes, not a whole op, dropped at close")
	})

	t.Run("an oplog's mtime is its last op's date", func(t *testing.T) {
		d, err := fs.Stat("/user/ann/oplog/counter/c/a")
		if err != nil {
			t.Fatal(err)
		}
		if want := uint32(time.UnixMilli(o.Date).Unix()); d.Mtime != want || d.Atime != want {
			t.Errorf("mtime %d atime %d, want the op's date %d", d.Mtime, d.Atime, want)
		}
	})

	t.Run("clear messages", func(t *testing.T) {
		if _, err := ctl(fs, "/user/ann/ctl", "cursor x"); err == nil || !strings.Contains(err.Error(), "usage: cursor (it takes no argument)") {
			t.Errorf("cursor x: %v", err)
		}
		if _, err := ts.mount("ann", "token garbage"); err == nil || !strings.Contains(err.Error(), "not a store token") {
			t.Errorf("a garbage token: %v", err)
		}
		if _, err := ts.mount("ann", "token otherstore.x.y"); err == nil || !strings.Contains(err.Error(), "token for another store") {
			t.Errorf("another store's token: %v", err)
		}
	})
}

// waitLog waits until the store has logged a line holding s (a clunk's
// Close runs after its reply).
func waitLog(t *testing.T, ts *testStore, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ts.logs.has(s) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line holds %q", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
