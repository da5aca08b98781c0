package table

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/internal/adminkey"
	"gigfs.io/gigfs/srv9p"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMain_ServesAndStops(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuf
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "tcp!127.0.0.1!0", "-data", dir}, &stderr, &hooks{listening: func(a string) { addrc <- a }})
	}()
	var addr string
	select {
	case addr = <-addrc:
	case code := <-done:
		t.Fatalf("gig-table exited %d: %s", code, stderr.String())
	}
	key, err := adminkey.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := srv9p.Dial(ctx, addr, "admin", "admin "+key)
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := admin.Ctl(ctx, "/admin/ctl", "user set alice a good master"); err != nil || reply != "ok" {
		t.Fatalf("user set: %q, %v", reply, err)
	}
	admin.Close()
	m, err := DialMaster(ctx, addr, "alice", "a good master")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.SessionNew(ctx, time.Hour, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := DialMaster(ctx, addr, "alice", "a bad master"); err == nil {
		t.Fatal("a bad master attached")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit status %d, want 0", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("gig-table did not stop")
	}
	logs := stderr.String()
	if n := strings.Count(logs, adminkey.Path(dir)); n != 1 {
		t.Errorf("the admin key path is printed %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs, "attach refused") || strings.Contains(logs, "a bad master") || strings.Contains(logs, "every interface") {
		t.Errorf("logs:\n%s", logs)
	}
	if port := addr[strings.LastIndex(addr, ":")+1:]; !strings.Contains(logs, "public address tcp!127.0.0.1!"+port+";") {
		t.Errorf("the public address is not the chosen port %s:\n%s", port, logs)
	}
	if _, err := os.Stat(filepath.Join(dir, "salt")); err != nil {
		t.Error(err)
	}
}

func TestMain_BadUsage(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-nope"}, 2, "gig-table: flag provided but not defined: -nope (gig-table -h for help)\n"},
		{[]string{"extra"}, 2, "gig-table: unexpected argument \"extra\""},
		{[]string{"-public-addr", "bad!addr", "-data", t.TempDir()}, 2, "-public-addr"},
		{[]string{"-store-timeout", "0s", "-data", t.TempDir()}, 2, "-store-timeout 0s: want a positive duration"},
		{[]string{"-addr", "bad!addr", "-data", t.TempDir()}, 2, "-addr: "},
		{[]string{"-addr", "unix!/nonexistent/dir/sock", "-data", t.TempDir()}, 1, "listen unix!/nonexistent/dir/sock"},
		{[]string{"-addr", "tcp!127.0.0.1!0", "-data", file}, 1, "admin key"},
	} {
		var stderr syncBuf
		if code := run(context.Background(), tc.args, &stderr, nil); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("gig-table %q: exit %d, want %d; stderr %q, want %q", tc.args, code, tc.code, stderr.String(), tc.want)
		}
	}
}

func TestMain_SecondTableOnFolderRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var first syncBuf
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "tcp!127.0.0.1!0", "-data", dir}, &first, &hooks{listening: func(a string) { addrc <- a }})
	}()
	select {
	case <-addrc:
	case code := <-done:
		t.Fatalf("gig-table exited %d: %s", code, first.String())
	}
	var second syncBuf
	code := run(context.Background(), []string{"-addr", "tcp!127.0.0.1!0", "-data", dir}, &second, nil)
	out := strings.TrimSpace(second.String())
	if code != 1 || strings.Count(out, "\n") != 0 || !strings.Contains(out, "data folder "+dir+" is in use by another process") {
		t.Fatalf("second gig-table on %s: exit %d, stderr %q; want 1 and one line naming the folder in use", dir, code, out)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("first gig-table: exit %d", code)
	}
	// The lock dies with the table that held it.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	var third syncBuf
	go func() {
		done <- run(ctx2, []string{"-addr", "tcp!127.0.0.1!0", "-data", dir}, &third, &hooks{listening: func(a string) { addrc <- a }})
	}()
	select {
	case <-addrc:
	case code := <-done:
		t.Fatalf("gig-table after the first stopped: exit %d: %s", code, third.String())
	}
	cancel2()
	<-done
}

// TestMain_SaysEveryInterface: gig-table, given an -addr of every
// interface, says so in its log before it listens (daemon.Flags.Listen,
// whose test covers the forms). Tests may not listen on every interface:
// a listener on 127.0.0.1 stands in for the one it asks for.
func TestMain_SaysEveryInterface(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuf
	var asked string
	bind := func(network, address string) (net.Listener, error) {
		asked = network + " " + address
		return net.Listen("tcp", "127.0.0.1:0")
	}
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "tcp!*!0", "-data", t.TempDir()}, &stderr, &hooks{listening: func(a string) { addrc <- a }, bind: bind})
	}()
	select {
	case <-addrc:
	case code := <-done:
		t.Fatalf("exited %d: %s", code, stderr.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
	log := stderr.String()
	said := strings.Index(log, srv9p.EverywhereWarning("-addr", "tcp!*!0"))
	if asked != "tcp :0" || said < 0 || said > strings.Index(log, "listening on") {
		t.Errorf("-addr tcp!*!0: listened on %q (want \"tcp :0\"), said it at %d (want before listening):\n%s", asked, said, log)
	}
}
