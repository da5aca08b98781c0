package srv9p_test

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"

	"gigfs.io/gigfs/internal/tlscert"
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

// A ListenConfig says, before it listens, when an address binds every
// interface of the machine, and asks its Bind for what the address means.
// The Bind of the test listens on 127.0.0.1 in its place: tests may not
// listen on every interface.
func TestListenConfig_Everywhere(t *testing.T) {
	cert, err := tlscert.Load(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "s")
	for _, tc := range []struct {
		addr, asked string
		tls, said   bool
	}{
		{"tcp!*!5640", "tcp :5640", false, true},
		{":5640", "tcp :5640", false, true},
		{"tcp!0.0.0.0!5640", "tcp 0.0.0.0:5640", false, true},
		{"[::]:5640", "tcp [::]:5640", false, true},
		{"tls!*!5640", "tcp :5640", true, true},
		{"tcp!127.0.0.1!5640", "tcp 127.0.0.1:5640", false, false},
		{"tls!localhost!5640", "tcp localhost:5640", true, false},
		{"unix!" + sock, "unix " + sock, false, false},
	} {
		var said []string
		var asked string
		lc := srv9p.ListenConfig{
			Name: "-addr",
			Warn: func(line string) {
				if asked != "" {
					t.Errorf("%s: said after listening", tc.addr)
				}
				said = append(said, line)
			},
			Bind: func(network, address string) (net.Listener, error) {
				asked = network + " " + address
				if network == "unix" {
					return net.Listen(network, address)
				}
				return net.Listen("tcp", "127.0.0.1:0")
			},
		}
		var c *tls.Certificate
		if tc.tls {
			c = &cert.TLS
		}
		l, err := lc.Listen(tc.addr, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.addr, err)
		}
		l.Close()
		if asked != tc.asked {
			t.Errorf("%s: listened on %q, want %q", tc.addr, asked, tc.asked)
		}
		want := 0
		if tc.said {
			want = 1
		}
		if len(said) != want || (want == 1 && said[0] != srv9p.EverywhereWarning("-addr", tc.addr)) {
			t.Errorf("%s: said %q, want %d line(s)", tc.addr, said, want)
		}
	}
	// A certificate for a plain address, or none for tls!, is refused
	// before anything listens.
	lc := srv9p.ListenConfig{Bind: func(string, string) (net.Listener, error) {
		t.Error("bound for a refused address")
		return nil, os.ErrInvalid
	}}
	if _, err := lc.Listen("tls!127.0.0.1!0", nil); err == nil {
		t.Error("tls without a certificate: no error")
	}
	if _, err := lc.Listen("tcp!127.0.0.1!0", &cert.TLS); err == nil {
		t.Error("a certificate for tcp: no error")
	}
}
