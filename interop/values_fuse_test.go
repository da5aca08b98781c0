package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gigfs.io/gigfs"
	"gigfs.io/gigfs/valuefs"
)

// The values tree (gig-fs) through a FUSE mount: a mounted GiG.fs looks
// like plain files that stay current.
func TestFUSE_ValuesTree(t *testing.T) {
	needFUSE(t)
	c, err := gigfs.New(gigfs.Config{
		LocalTable: map[string][]gigfs.LocalStore{"chan": {{StoragePath: filepath.Join(t.TempDir(), "disk")}, {InMemory: true}}},
		Logf:       t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := valuefs.NewServer(&valuefs.FS{C: c})
	srv.Logf = t.Logf
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	defer func() { cancel(); <-done }()

	m := startMount9pAt(t, l.Addr().String(), "me", "")
	m.waitListing(t, "chan\n")

	// mount9p cannot append to a file it creates in the same call (it
	// writes 0 bytes forever), so make the file first, as the README says.
	m.mustSh(t, `mkdir chan/counter && : >> chan/counter/x`)
	m.mustSh(t, `echo '{"add":1}' >> chan/counter/x; echo 41 >> chan/counter/x`)
	if got := m.mustSh(t, `cat chan/counter/x`); got != "42\n" {
		t.Fatalf("cat chan/counter/x: %q, want 42", got)
	}
	if v, _ := c.Get(ctx, "chan", "counter", "/x"); string(v) != "42" {
		t.Fatalf("the client reads %s", v)
	}
	// A refused payload: the write fails and the value stays.
	if r := m.sh(t, `echo '"forty"' >> chan/counter/x`); r.code == 0 {
		t.Fatal("a string appended to a counter succeeded")
	}
	// A value the client changes shows in the file.
	c.Push(ctx, "chan", "lww", "/deep/name", json.RawMessage(`"ada"`))
	waitFor(fuseTimeout, func() bool { return m.sh(t, `cat chan/lww/deep/name`).stdout == "\"ada\"\n" })
	if got := m.mustSh(t, `cat chan/lww/deep/name`); got != "\"ada\"\n" {
		t.Fatalf("cat chan/lww/deep/name: %q", got)
	}
	if got := m.mustSh(t, `ls chan`); !strings.Contains(got, "counter") || !strings.Contains(got, "events") || !strings.Contains(got, "lww") {
		t.Fatalf("ls chan: %q", got)
	}

	// The events file: one line per change.
	// head may open the file after a push, and then waits for the next
	// one: push until it prints.
	ev := make(chan shResult, 1)
	go func() { ev <- m.sh(t, `head -n 1 chan/events`) }()
	deadline := time.After(fuseTimeout)
	for i := 1; ; i++ {
		c.Push(ctx, "chan", "lww", "/deep/name", json.RawMessage(fmt.Sprintf(`"grace %d"`, i)))
		select {
		case r := <-ev:
			if !regexp.MustCompile(`^\{"type":"lww","path":"/deep/name","value":"grace \d+"\}\n$`).MatchString(r.stdout) {
				t.Fatalf("events: %+v", r)
			}
			return
		case <-deadline:
			t.Fatal("no event through the mount")
		case <-time.After(250 * time.Millisecond):
		}
	}
}
