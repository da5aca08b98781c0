package daemon

import (
	"bytes"
	"io"
	"log"
	"net"
	"strings"
	"testing"

	"gigfs.io/gigfs/srv9p"
)

// Listen says, before it listens, when -addr binds every interface of the
// machine (tcp!*!port, :port, 0.0.0.0, tls!*!port), and asks Bind for what
// -addr means. Tests may not listen on every interface: the Bind of the
// test listens on 127.0.0.1 in its place. gig-table and gig-store both
// listen through it (their TestMain_SaysEveryInterface).
func TestListen_SaysEveryInterface(t *testing.T) {
	for _, tc := range []struct {
		addr, asked string
		said        bool
	}{
		{"tcp!*!0", "tcp :0", true},
		{":0", "tcp :0", true},
		{"tcp!0.0.0.0!0", "tcp 0.0.0.0:0", true},
		{"tls!*!0", "tcp :0", true},
		{"tcp!127.0.0.1!0", "tcp 127.0.0.1:0", false},
		{"tls!127.0.0.1!0", "tcp 127.0.0.1:0", false},
	} {
		var logs bytes.Buffer
		var asked string
		f := NewFlags("gig-test", "tcp!127.0.0.1!0", "usage", io.Discard)
		if status, ok := f.Parse([]string{"-addr", tc.addr, "-data", t.TempDir()}, log.New(&logs, "", 0)); !ok {
			t.Fatalf("%s: parse: status %d", tc.addr, status)
		}
		f.Bind = func(network, address string) (net.Listener, error) {
			if asked != "" {
				t.Errorf("%s: bound twice", tc.addr)
			}
			asked = network + " " + address
			return net.Listen("tcp", "127.0.0.1:0")
		}
		l, _, err := f.Listen(log.New(&logs, "", 0))
		if err != nil {
			t.Fatalf("%s: %v", tc.addr, err)
		}
		l.Close()
		if asked != tc.asked {
			t.Errorf("%s: listened on %q, want %q", tc.addr, asked, tc.asked)
		}
		line := srv9p.EverywhereWarning("-addr", tc.addr)
		if got := logs.String(); strings.Contains(got, line) != tc.said || strings.Contains(got, "every interface") != tc.said {
			t.Errorf("%s: logged %q, want %q: %v", tc.addr, got, line, tc.said)
		}
	}
}
