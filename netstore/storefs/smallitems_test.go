package storefs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/srv9p"
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
		err = fid.Close()
		if err == nil || !errors.Is(srv9p.ParseError(err.Error()), gig.ErrInvalid) || !strings.Contains(err.Error(), "partial line of 17 bytes dropped") {
			t.Errorf("close of a push fid left with a partial line: %v, want it refused (invalid)", err)
		}
		if s := "user ann: close /user/ann/push: invalid: partial line of 17 bytes dropped"; !ts.logs.has(s) {
			t.Errorf("no log line holds %q", s)
		}
	})

	t.Run("a partial line written to an oplog is refused at close", func(t *testing.T) {
		fid, err := fs.Create("/user/ann/oplog/counter/c/p", plan9.OWRITE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		whole, next := op(t, "p", 1, `2`), op(t, "p", 2, `3`)
		if _, err := fid.Write([]byte(opLines(whole) + opLines(next)[:30])); err != nil {
			t.Fatal(err)
		}
		err = fid.Close()
		if err == nil || !errors.Is(srv9p.ParseError(err.Error()), gig.ErrInvalid) || !strings.Contains(err.Error(), "partial line of 30 bytes dropped: an op must end with a newline") {
			t.Errorf("close of an oplog left with a partial line: %v, want it refused (invalid)", err)
		}
		if s := "user ann: close /user/ann/oplog/counter/c/p: invalid: partial line of 30 bytes dropped"; !ts.logs.has(s) {
			t.Errorf("no log line holds %q", s)
		}
		// The whole line before it is kept, nothing of the partial one.
		got := readFile(t, fs, "/user/ann/oplog/counter/c/p")
		if !strings.Contains(got, whole.Sha) || strings.Contains(got, next.Sha) || strings.Count(got, "\n") != 2 {
			t.Errorf("oplog after the refused close:\n%s\nwant the initial checkpoint and op %s alone", got, whole.Sha)
		}
		// The fid was clunked all the same: the connection goes on.
		if _, err := fs.Stat("/user/ann/oplog/counter/c/p"); err != nil {
			t.Errorf("stat after the refused close: %v", err)
		}

		// Our client says it too, with the kind.
		ctx := context.Background()
		m, err := srv9p.DialMux(ctx, "tcp!"+strings.Replace(ts.addr, ":", "!", 1), srv9p.Trust{}, "ann", "token "+tok)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		mf, err := m.OpenFile(ctx, "/user/ann/oplog/counter/c/p", plan9.OWRITE)
		if err != nil {
			t.Fatal(err)
		}
		if err := mf.Write(ctx, []byte(opLines(next)[:40])); err != nil {
			t.Fatal(err)
		}
		if err := mf.Close(); !errors.Is(err, gig.ErrInvalid) {
			t.Errorf("MuxFile.Close of an oplog left with a partial line: %v, want kind invalid", err)
		}
		if got2 := readFile(t, fs, "/user/ann/oplog/counter/c/p"); got2 != got {
			t.Errorf("the oplog changed with a partial line:\n%s", got2)
		}
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
