package srv9p_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

func dialMux(t *testing.T, ts *testServer) *srv9p.Mux {
	t.Helper()
	m, err := srv9p.DialMux(context.Background(), "tcp!"+strings.Replace(ts.addr, ":", "!", 1), srv9p.Trust{}, testUser, testKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestMux_InFlight: 16 stream reads block at the server at once on one
// connection (a client that runs one call at a time has one there), and a
// call goes through beside them.
func TestMux_InFlight(t *testing.T) {
	ts := startServer(t, nil)
	m := dialMux(t, ts)
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	got := make(chan string, n)
	for i := 0; i < n; i++ {
		f, err := m.Open(ctx, "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 100)
			k, err := f.Read(ctx, buf)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(buf[:k])
		}()
	}
	waitFor(t, patience, "16 blocked reads on one connection", func() bool { return ts.tree.hub.waiting() == n })
	if reply, err := m.Ctl(ctx, "/ctl", "echo beside"); err != nil || reply != "beside" {
		t.Fatalf("ctl beside blocked reads: %q %v", reply, err)
	}
	ts.tree.hub.publish("rec\n")
	wg.Wait()
	close(got)
	for s := range got {
		if s != "rec\n" {
			t.Errorf("read: %q", s)
		}
	}
}

// TestMux_FlushOwnTag: a call whose context ends flushes its own request
// (the server sees its read cancelled); the connection and the other
// calls on it go on.
func TestMux_FlushOwnTag(t *testing.T) {
	ts := startServer(t, nil)
	m := dialMux(t, ts)
	bg := context.Background()
	other, err := m.Open(bg, "/stream")
	if err != nil {
		t.Fatal(err)
	}
	otherGot := make(chan error, 1)
	go func() {
		_, err := other.Read(bg, make([]byte, 100))
		otherGot <- err
	}()
	waitFor(t, patience, "a blocked read", func() bool { return ts.tree.hub.waiting() == 1 })

	f, err := m.Open(bg, "/stream")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() {
		_, err := f.Read(ctx, make([]byte, 100))
		done <- err
	}()
	waitFor(t, patience, "two blocked reads", func() bool { return ts.tree.hub.waiting() == 2 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v, want context.Canceled", err)
	}
	waitFor(t, patience, "the server to see the flush", func() bool { return ts.tree.hub.cancelled.Load() == 1 })
	if reply, err := m.Ctl(bg, "/ctl", "echo still up"); err != nil || reply != "still up" {
		t.Fatalf("ctl after a flush: %q %v", reply, err)
	}
	ts.tree.hub.publish("rec\n")
	if err := <-otherGot; err != nil {
		t.Fatalf("the other read: %v", err)
	}
	// The flushed fid reads on.
	buf := make([]byte, 100)
	if k, err := f.Read(bg, buf); err != nil || string(buf[:k]) != "rec\n" {
		t.Fatalf("read after the flush: %q %v", buf[:k], err)
	}
}

// TestMux_Hangup: closing the Mux ends a blocked call with a transport
// error, and later calls fail the same way.
func TestMux_Hangup(t *testing.T) {
	ts := startServer(t, nil)
	m := dialMux(t, ts)
	bg := context.Background()
	f, err := m.Open(bg, "/stream")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.Read(bg, make([]byte, 100))
		done <- err
	}()
	waitFor(t, patience, "a blocked read", func() bool { return ts.tree.hub.waiting() == 1 })
	m.Close()
	if err := <-done; !errors.Is(err, gig.ErrTransport) {
		t.Fatalf("read on a closed Mux: %v, want a transport error", err)
	}
	if _, err := m.ReadFile(bg, "/static"); !errors.Is(err, gig.ErrTransport) {
		t.Fatalf("call after Close: %v, want a transport error", err)
	}
}

// TestMux_Files: reads, listings, walks and errors with their kinds.
func TestMux_Files(t *testing.T) {
	ts := startServer(t, nil)
	m := dialMux(t, ts)
	ctx := context.Background()
	if data, err := m.ReadFile(ctx, "/static"); err != nil || string(data) != "hello, static\n" {
		t.Errorf("read /static: %q %v", data, err)
	}
	if data, err := m.ReadFile(ctx, "sub/leaf"); err != nil || string(data) != "leaf\n" {
		t.Errorf("read sub/leaf: %q %v", data, err)
	}
	if _, err := m.ReadFile(ctx, "/nothing"); !errors.Is(err, gig.ErrNotExist) {
		t.Errorf("read /nothing: %v, want not-exist", err)
	}
	deep := "/sub/deeper" + strings.Repeat("/x", 20) // more names than one walk takes
	if _, err := m.ReadFile(ctx, deep); !errors.Is(err, gig.ErrNotExist) {
		t.Errorf("read %s: %v, want not-exist", deep, err)
	}
	if _, err := m.Ctl(ctx, "/ctl", "missing x"); !errors.Is(err, gig.ErrNotExist) {
		t.Errorf("ctl missing: %v, want not-exist", err)
	}
	if _, err := m.Ctl(ctx, "/ctl", "nonsense"); !errors.Is(err, gig.ErrInvalid) {
		t.Errorf("ctl nonsense: %v, want invalid", err)
	}
	big := 300 << 10 // several reads
	if reply, err := m.Ctl(ctx, "/ctl", fmt.Sprintf("big %d", big)); err != nil || len(reply) != big {
		t.Errorf("ctl big: %d bytes, %v", len(reply), err)
	}
	ents, err := m.ReadDir(ctx, "/big")
	if err != nil || len(ents) != bigN {
		t.Fatalf("list /big: %d entries, %v", len(ents), err)
	}
	if ents[0].Name != "f00000" || ents[bigN-1].Name != "f09999" || ents[0].Dir {
		t.Errorf("list /big: first %v, last %v", ents[0], ents[bigN-1])
	}
	root, err := m.ReadDir(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{}
	for _, e := range root {
		dirs[e.Name] = e.Dir
	}
	if !dirs["sub"] || dirs["static"] {
		t.Errorf("list /: %v", root)
	}
	// No fid is left open on the server by any of it.
	waitFor(t, patience, "every handle closed", func() bool { return ts.tree.opens.Load() == ts.tree.closes.Load() })
}

// TestMux_BadCredential: the attach's refusal keeps its kind.
func TestMux_BadCredential(t *testing.T) {
	ts := startServer(t, nil)
	_, err := srv9p.DialMux(context.Background(), "tcp!"+strings.Replace(ts.addr, ":", "!", 1), srv9p.Trust{}, testUser, "wrong")
	if !errors.Is(err, gig.ErrPermission) {
		t.Fatalf("attach with a bad key: %v, want a permission error", err)
	}
}

// TestMux_MaxTags: with MuxConfig.MaxTags 3, three blocked reads hold every
// tag; a fourth call waits for one, says so through Logf, and goes
// through once a read ends.
func TestMux_MaxTags(t *testing.T) {
	ts := startServer(t, nil)
	var mu sync.Mutex
	var logged []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, fmt.Sprintf(format, args...))
	}
	m, err := srv9p.DialMuxConfig(context.Background(), "tcp!"+strings.Replace(ts.addr, ":", "!", 1), srv9p.Trust{}, testUser, testKey, srv9p.MuxConfig{MaxTags: 3, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	reads := make(chan error, 3)
	for range 3 {
		f, err := m.Open(ctx, "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		go func() {
			_, err := f.Read(ctx, make([]byte, 100))
			reads <- err
		}()
	}
	waitFor(t, patience, "3 blocked reads", func() bool { return ts.tree.hub.waiting() == 3 })
	ctl := make(chan error, 1)
	go func() {
		_, err := m.Ctl(ctx, "/ctl", "echo after")
		ctl <- err
	}()
	waitFor(t, patience, "the bound logged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(logged) == 1 && strings.Contains(logged[0], "3 requests in flight (MaxTags)")
	})
	if n := ts.tree.hub.waiting(); n != 3 {
		t.Fatalf("%d reads at the server, want 3", n)
	}
	ts.tree.hub.publish("rec\n")
	for range 3 {
		if err := <-reads; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-ctl; err != nil {
		t.Fatalf("the call that waited for a tag: %v", err)
	}
	if _, err := srv9p.DialMuxConfig(ctx, "tcp!"+strings.Replace(ts.addr, ":", "!", 1), srv9p.Trust{}, testUser, testKey, srv9p.MuxConfig{MaxTags: 70000}); !errors.Is(err, gig.ErrInvalid) {
		t.Fatalf("MaxTags 70000: %v, want an invalid-input error", err)
	}
}

// TestMux_ReadFileWhateverItsStatSays: ReadFile reads the reads ahead of
// the length the file's stat tells, and gets the content whole whether
// the file holds that, less (its end is found among the reads in flight)
// or more (read on past the length told).
func TestMux_ReadFileWhateverItsStatSays(t *testing.T) {
	content := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i%23)
		}
		return b
	}
	cases := []struct {
		name        string
		told, holds int
	}{
		{"exact", 700 << 10, 700 << 10},
		{"less", 2 << 20, 300<<10 + 5},
		{"none", 1 << 20, 0},
		{"more", 100 << 10, 900<<10 + 3},
		{"untold", 0, 200 << 10},
	}
	var files []srv9p.Node
	for i, c := range cases {
		data := content(c.holds)
		files = append(files, srv9p.NewFile(srv9p.Info{Name: c.name, Mode: 0o444, Path: uint64(100 + i), Length: int64(c.told)},
			func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) { return srv9p.NewStatic(data), nil }))
	}
	root := srv9p.NewDir(srv9p.Info{Mode: 0o555, Path: 1}, files...)
	ts := startServer(t, func(s *srv9p.Server) {
		s.Attach = func(context.Context, string, string, string) (srv9p.Node, error) { return root, nil }
	})
	m := dialMux(t, ts)
	for _, c := range cases {
		got, err := m.ReadFile(context.Background(), c.name)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !bytes.Equal(got, content(c.holds)) {
			t.Errorf("%s (stat says %d bytes, holds %d): read %d bytes, not the content", c.name, c.told, c.holds, len(got))
		}
	}
}
