package valuefs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	"gigfs.io/gigfs"
	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

func serveValues(t *testing.T, key string) (*gigfs.Client, *client.Fsys) {
	t.Helper()
	c, err := gigfs.New(gigfs.Config{
		LocalTable: map[string][]gigfs.LocalStore{"chan": {{InMemory: true}}},
		Logf:       t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	srv := NewServer(&FS{C: c, Key: key})
	srv.Logf = t.Logf
	go func() { srv.Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := client.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	aname := ""
	if key != "" {
		aname = "key " + key
	}
	fsys, err := conn.Attach(nil, "me", aname)
	if err != nil {
		t.Fatal(err)
	}
	return c, fsys
}

func read(t *testing.T, fsys *client.Fsys, name string) string {
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

func write(fsys *client.Fsys, name, data string) error {
	fid, err := fsys.Open(name, plan9.OWRITE)
	if err != nil {
		return err
	}
	defer fid.Close()
	_, err = fid.Write([]byte(data))
	return err
}

func TestValues_ReadWriteThroughFiles(t *testing.T) {
	c, fsys := serveValues(t, "")
	// Make /chan/counter/hits as a plain 9P client would, and write to it.
	d, err := fsys.Create("/chan/counter", plan9.OREAD, plan9.DMDIR|0o700)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	f, err := fsys.Create("/chan/counter/hits", plan9.OWRITE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := read(t, fsys, "/chan/counter/hits"); got != "0\n" {
		t.Fatalf("new file reads %q", got)
	}
	if err := write(fsys, "/chan/counter/hits", "1\n2\n"); err != nil {
		t.Fatal(err)
	}
	if err := write(fsys, "/chan/counter/hits", "3"); err != nil { // echo -n
		t.Fatal(err)
	}
	if got := read(t, fsys, "/chan/counter/hits"); got != "6\n" {
		t.Fatalf("after writes: %q", got)
	}
	// The client sees the same value, and a push by the client shows in the file.
	if v, _ := c.Get(context.Background(), "chan", "counter", "/hits"); string(v) != "6" {
		t.Fatalf("client reads %s", v)
	}
	c.Push(context.Background(), "chan", "counter", "/hits", json.RawMessage("4"))
	if got := read(t, fsys, "/chan/counter/hits"); got != "10\n" {
		t.Fatalf("after a client push: %q", got)
	}
	st, err := fsys.Stat("/chan/counter/hits")
	if err != nil || st.Length != 3 {
		t.Fatalf("stat: %v %v", st, err)
	}
	// Bad JSON is refused with a clear error and changes nothing.
	if err := write(fsys, "/chan/counter/hits", "{oops\n"); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("bad JSON: %v", err)
	}
	if err := write(fsys, "/chan/counter/hits", `"text"`+"\n"); err == nil {
		t.Fatal("a string pushed to a counter")
	}
	if got := read(t, fsys, "/chan/counter/hits"); got != "10\n" {
		t.Fatalf("after refused writes: %q", got)
	}
	// A line left unfinished at close is dropped, and the close says so;
	// the whole line before it is pushed.
	f, err = fsys.Open("/chan/counter/hits", plan9.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("5\n{\"add\"")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err == nil || !errors.Is(srv9p.ParseError(err.Error()), gig.ErrInvalid) {
		t.Errorf("close after a partial line: %v, want it refused (invalid)", err)
	}
	if got := read(t, fsys, "/chan/counter/hits"); got != "15\n" {
		t.Fatalf("after a partial line: %q, want the whole line's 5 alone added", got)
	}
	// Deeper paths and listings.
	c.Push(context.Background(), "chan", "set", "/a/b", json.RawMessage(`{"add":"x"}`))
	if got := read(t, fsys, "/chan/set/a/b"); got != `["x"]`+"\n" {
		t.Fatalf("set: %q", got)
	}
	fid, _ := fsys.Open("/chan", plan9.OREAD)
	ents, _ := fid.Dirreadall()
	fid.Close()
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	if got := strings.Join(names, ","); !strings.Contains(got, "events") || !strings.Contains(got, "counter") || !strings.Contains(got, "set") {
		t.Fatalf("/chan lists %s", got)
	}
	if _, err := fsys.Stat("/chan/nope/x"); err == nil {
		t.Fatal("stat of a missing path")
	}
	if _, err := fsys.Stat("/nochan"); err == nil {
		t.Fatal("stat of a missing channel")
	}
}

func TestValues_Events(t *testing.T) {
	c, fsys := serveValues(t, "")
	fid, err := fsys.Open("/chan/events", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()
	got := make(chan string, 10)
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := fid.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	// The open subscribed to the channel: the push cannot be missed,
	// whether the read is blocked yet or not.
	c.Push(context.Background(), "chan", "lww", "/greeting", json.RawMessage(`"hello"`))
	select {
	case line := <-got:
		if line != `{"type":"lww","path":"/greeting","value":"hello"}`+"\n" {
			t.Fatalf("event %q", line)
		}
	case <-time.After(time.Minute):
		t.Fatal("no event")
	}
}

func TestValues_Key(t *testing.T) {
	serveValues(t, "sekrit") // attaches with the key
	c, err := gigfs.New(gigfs.Config{LocalTable: map[string][]gigfs.LocalStore{"x": {{InMemory: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := (&FS{C: c, Key: "sekrit"}).attach(context.Background(), "me", "key wrong", ""); err == nil {
		t.Fatal("attach with a wrong key")
	}
}

// What gig-fs made (a file or folder with no op yet) it remembers only
// until the stores list it: a mount that creates many files does not keep
// one entry per file for good.
func TestValues_CreatedForgottenOnceListed(t *testing.T) {
	c, _ := serveValues(t, "")
	f := &FS{C: c}
	ctx := context.Background()
	f.create("chan", gigfs.TypePath{Type: "lww", Path: "/a"})
	f.create("chan", gigfs.TypePath{Type: "lww", Path: "/d/"})
	f.create("chan", gigfs.TypePath{Type: "lww", Path: "/empty"})
	for _, p := range []string{"/a", "/d/x"} {
		if _, err := c.Push(ctx, "chan", "lww", p, json.RawMessage(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	got := f.paths(ctx, "chan", true)
	if len(got) != 3 {
		t.Fatalf("listing %v, want /a, /d/x and /empty", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if made := f.created["chan"]; len(made) != 1 || !made[gigfs.TypePath{Type: "lww", Path: "/empty"}] {
		t.Fatalf("remembered as made here: %v, want only /empty (no store lists it)", made)
	}
}
