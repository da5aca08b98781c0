package storefs

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"gigfs.io/gigfs/internal/adminkey"
	"gigfs.io/gigfs/srv9p"
)

func TestMain_ServesAndShutsDownCleanly(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "tcp!127.0.0.1!0", "-data", dir}, &stderr, &fakeTable{}, &hooks{listening: func(a string) { addrc <- a }})
	}()
	var addr string
	select {
	case addr = <-addrc:
	case code := <-done:
		t.Fatalf("exited %d: %s", code, stderr.String())
	}
	key, err := readKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testStore{t: t, addr: addr}
	adm := ts.mustMount("admin", "admin "+key)
	if reply, err := ctl(adm, "/admin/ctl", "user add zoe"); err != nil || !strings.HasPrefix(reply, "code ") {
		t.Fatalf("user add: %q %v", reply, err)
	}
	if _, err := ts.mount("zoe", "token nope"); err == nil {
		t.Fatal("attach with a bad token")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after shutdown: %s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("no shutdown")
	}
	log := stderr.String()
	for _, want := range []string{"listening on", "refused", "stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "every interface") {
		t.Errorf("-addr tcp!127.0.0.1!0 said to bind every interface:\n%s", log)
	}
}

func TestMain_BadUsage(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-nope"}, &stderr, nil, nil); code != 2 {
		t.Fatalf("exit %d for a bad flag", code)
	}
	if code := run(context.Background(), []string{"-addr", "bogus", "-data", t.TempDir()}, &stderr, nil, nil); code != 2 {
		t.Fatalf("exit %d for a bad address", code)
	}
	if !strings.Contains(stderr.String(), "bogus") {
		t.Fatalf("error does not name the address: %s", stderr.String())
	}
}

func readKey(dir string) (string, error) {
	b, err := os.ReadFile(adminkey.Path(dir))
	return strings.TrimSpace(string(b)), err
}

// TestMain_SaysEveryInterface: gig-store, given an -addr of every
// interface, says so in its log before it listens (daemon.Flags.Listen,
// whose test covers the forms). Tests may not listen on every interface:
// a listener on 127.0.0.1 stands in for the one it asks for.
func TestMain_SaysEveryInterface(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	var asked string
	bind := func(network, address string) (net.Listener, error) {
		asked = network + " " + address
		return net.Listen("tcp", "127.0.0.1:0")
	}
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "tcp!*!0", "-data", t.TempDir()}, &stderr, &fakeTable{}, &hooks{listening: func(a string) { addrc <- a }, bind: bind})
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
