package srv9p_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"gigfs.io/gigfs/srv9p"
)

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in, network, address string
	}{
		{"tcp!localhost!564", "tcp", "localhost:564"},
		{"tcp!*!564", "tcp", ":564"},
		{"net!example.com!9fs", "tcp", "example.com:9fs"},
		{"tcp6!::1!564", "tcp6", "[::1]:564"},
		{"unix!/tmp/gig.sock", "unix", "/tmp/gig.sock"},
		{"/tmp/gig.sock", "unix", "/tmp/gig.sock"},
		{"./gig.sock", "unix", "./gig.sock"},
		{"localhost:564", "tcp", "localhost:564"},
		{":564", "tcp", ":564"},
		{"[::1]:564", "tcp", "[::1]:564"},
		{"", "", ""},
		{"tcp!host", "", ""},
		{"tcp!host!", "", ""},
		{"udp!host!564", "", ""},
		{"unix!", "", ""},
		{"localhost", "", ""},
		{"localhost:", "", ""},
	} {
		network, address, err := srv9p.ParseAddr(tc.in)
		if tc.network == "" {
			if err == nil {
				t.Errorf("ParseAddr(%q) = %q, %q; want an error", tc.in, network, address)
			}
			continue
		}
		if err != nil || network != tc.network || address != tc.address {
			t.Errorf("ParseAddr(%q) = %q, %q, %v; want %q, %q", tc.in, network, address, err, tc.network, tc.address)
		}
	}
}

func TestListen_Unix(t *testing.T) {
	dir, err := os.MkdirTemp("", "srv9p") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s")

	l, err := srv9p.Listen("unix!" + path)
	if err != nil {
		t.Fatal(err)
	}
	// A live socket is not taken over.
	if l2, err := srv9p.Listen("unix!" + path); err == nil {
		l2.Close()
		t.Error("Listen took over a live socket")
	}
	// A stale one is.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	l, err = srv9p.Listen("unix!" + path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l.Close()
	// A file that is not a socket is left alone.
	other := filepath.Join(dir, "f")
	os.WriteFile(other, []byte("data"), 0o644)
	if l, err := srv9p.Listen(other); err == nil {
		l.Close()
		t.Error("Listen replaced a regular file")
	}
	if data, _ := os.ReadFile(other); string(data) != "data" {
		t.Error("the regular file was changed")
	}
}
