package srv9p_test

import (
	"errors"
	"strings"
	"testing"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

func TestCheckPeerAddr(t *testing.T) {
	for _, tc := range []struct {
		addr      string
		allowUnix bool
		why       string // "" means accepted; else a word of the error
	}{
		{"tcp!store.example.com!5641", false, ""},
		{"tls!store.example.com!5641", false, ""},
		{"tcp4!10.0.0.1!5641", false, ""},
		{"tcp6!::1!5641", false, ""},
		{"net!store!1", false, ""},
		{"store.example.com:65535", false, ""},
		{"[2001:db8::1]:5641", false, ""},
		{"tcp!my_host.example.!5641", false, ""},
		{"unix!/run/gig.sock", true, ""},
		{"/run/gig.sock", true, ""},

		{"unix!/run/gig.sock", false, "unix sockets"},
		{"/run/gig.sock", false, "unix sockets"},
		{"./gig.sock", false, "unix sockets"},
		{"tcp!*!5641", false, "no host"},
		{":5641", false, "no host"},
		{"tcp!0.0.0.0!5641", false, "unspecified"},
		{"[::]:5641", false, "unspecified"},
		{"tcp!224.0.0.1!5641", false, "multicast"},
		{"tcp!255.255.255.255!5641", false, "broadcast"},
		{"tcp!store!9fs", false, "port"},
		{"tcp!store!0", false, "port"},
		{"tcp!store!65536", false, "port"},
		{"tcp!store!05641", false, "port"},
		{"tcp!store!-1", false, "port"},
		{"tcp!-store!1", false, "DNS name"},
		{"tcp!st ore!1", false, "DNS name"},
		{"tcp!st%6fre!1", false, "DNS name"},
		{"[fe80::1%eth0]:5641", false, "DNS name"},
		{"tcp!" + strings.Repeat("a", 64) + "!1", false, "DNS name"},
		{"tcp!a..b!1", false, "DNS name"},
		{"udp!store!1", false, "unknown network"},
		{"store", false, "want"},
		{"", false, "empty"},
	} {
		err := srv9p.CheckPeerAddr(tc.addr, tc.allowUnix)
		switch {
		case tc.why == "" && err != nil:
			t.Errorf("CheckPeerAddr(%q, %v): %v, want nil", tc.addr, tc.allowUnix, err)
		case tc.why != "" && err == nil:
			t.Errorf("CheckPeerAddr(%q, %v) = nil, want an error about %q", tc.addr, tc.allowUnix, tc.why)
		case tc.why != "" && (!errors.Is(err, gig.ErrInvalid) || !strings.Contains(err.Error(), tc.why)):
			t.Errorf("CheckPeerAddr(%q, %v) = %v, want an invalid error about %q", tc.addr, tc.allowUnix, err, tc.why)
		}
	}
}

func TestEverywhere(t *testing.T) {
	for addr, want := range map[string]bool{
		"tcp!*!5640": true, ":5640": true, "tcp!0.0.0.0!5640": true, "[::]:5640": true, "tls!*!5640": true,
		"tcp!127.0.0.1!5640": false, "localhost:5640": false, "unix!/tmp/s": false, "tcp!10.0.0.1!1": false, "bogus": false,
	} {
		if got := srv9p.Everywhere(addr); got != want {
			t.Errorf("Everywhere(%q) = %v, want %v", addr, got, want)
		}
	}
}
