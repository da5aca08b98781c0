package tools

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"gigfs.io/gigfs/srv9p"
)

// The tools that serve (gig-fs, gig-tunnel, gig-quickstart) say before
// they listen when an address binds every interface of the machine, as
// gig-store and gig-table do. Tests may not listen on every interface: a
// listener on 127.0.0.1 stands in for the one asked for, and the test
// checks what was asked.
func TestTools_SayEveryInterface(t *testing.T) {
	type listener func(e *env, out *bytes.Buffer, addr string) (net.Listener, error)
	servers := []struct {
		cmd    *command
		name   string // what gave the address, in the line
		listen listener
	}{
		{fsCmd, "-addr", func(e *env, _ *bytes.Buffer, addr string) (net.Listener, error) {
			return e.listenFs(addr, "", "")
		}},
		{tunnelCmd, "the tunnel's end", func(e *env, _ *bytes.Buffer, addr string) (net.Listener, error) {
			return e.listenTunnel(addr)
		}},
		{quickstartCmd, "-stores", func(e *env, out *bytes.Buffer, addr string) (net.Listener, error) {
			q := &quickstart{e: e, out: out}
			l, _, err := q.listen(addr, "-stores", t.TempDir())
			return l, err
		}},
	}
	for _, s := range servers {
		for _, tc := range []struct {
			addr, asked string
			said        bool
		}{
			{"tcp!*!0", "tcp :0", true},
			{":0", "tcp :0", true},
			{"tcp!0.0.0.0!0", "tcp 0.0.0.0:0", true},
			{"tcp!127.0.0.1!0", "tcp 127.0.0.1:0", false},
		} {
			var stderr, stdout bytes.Buffer
			var asked string
			e := &env{cmd: s.cmd, stderr: &stderr, stdout: &stdout, set: &Settings{}, bind: func(network, address string) (net.Listener, error) {
				asked = network + " " + address
				return net.Listen("tcp", "127.0.0.1:0")
			}}
			l, err := s.listen(e, &stdout, tc.addr)
			if err != nil {
				t.Fatalf("%s %s: %v", s.cmd.prog(), tc.addr, err)
			}
			l.Close()
			if asked != tc.asked {
				t.Errorf("%s %s: listened on %q, want %q", s.cmd.prog(), tc.addr, asked, tc.asked)
			}
			out := stderr.String() + stdout.String()
			line := srv9p.EverywhereWarning(s.name, tc.addr)
			if strings.Contains(out, line) != tc.said || strings.Contains(out, "every interface") != tc.said {
				t.Errorf("%s %s: said %q, want %q: %v", s.cmd.prog(), tc.addr, out, line, tc.said)
			}
		}
	}
}
