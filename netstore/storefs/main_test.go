package storefs

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"time"

	"gigfs.io/gigfs/internal/adminkey"
)

func TestMain_ServesAndShutsDownCleanly(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "tcp!127.0.0.1!0", "-data", dir}, &stderr, &fakeTable{}, func(a string) { addrc <- a })
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
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown")
	}
	log := stderr.String()
	for _, want := range []string{"listening on", "refused", "stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
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
