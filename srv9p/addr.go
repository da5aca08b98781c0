package srv9p

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"gigfs.io/gigfs/gig"
)

// ParseAddr parses a dial string into the network and address of package net.
// It accepts the Plan 9 forms tcp!host!port (also tcp4, tcp6, and net as
// tcp; a host of * means every interface) and unix!/path, a bare /path or
// ./path (unix), and Go's host:port (tcp). tls!host!port is 9P over TLS
// over TCP: its network is "tls" (see IsTLS, ListenTLS and DialTrust).
func ParseAddr(s string) (network, address string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", gig.Errorf(gig.ErrInvalid, "address %q: %s", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if strings.Contains(s, "!") {
		f := strings.Split(s, "!")
		switch f[0] {
		case "unix":
			if len(f) != 2 || f[1] == "" {
				return bad("want unix!/path")
			}
			return "unix", f[1], nil
		case "tcp", "tcp4", "tcp6", "net", "tls":
			if len(f) != 3 || f[2] == "" {
				return bad("want " + f[0] + "!host!port")
			}
			network, host := f[0], f[1]
			if network == "net" {
				network = "tcp"
			}
			if host == "*" {
				host = ""
			}
			return network, net.JoinHostPort(host, f[2]), nil
		default:
			return bad("unknown network " + f[0])
		}
	}
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") {
		return "unix", s, nil
	}
	if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
		return bad("want tcp!host!port, unix!/path or host:port")
	}
	return "tcp", s, nil
}

// Listen listens on a dial string (see ParseAddr). For a unix socket, a
// stale socket file that no server answers on is removed first.
func Listen(addr string) (net.Listener, error) { return ListenConfig{}.Listen(addr, nil) }

// A ListenConfig listens on dial strings as Listen and ListenTLS do, and
// says so when an address binds every interface of the machine. The zero
// value listens and says nothing.
type ListenConfig struct {
	// Name is what gave the address, for the warning: "-addr".
	Name string
	// Warn, if not nil, is told one line (EverywhereWarning) before the
	// listener binds every interface of the machine.
	Warn func(line string)
	// Bind makes the listener of a network and address of package net;
	// nil means net.Listen. A test binds 127.0.0.1 in its place, to see
	// what a server does with an address it may not bind.
	Bind func(network, address string) (net.Listener, error)
}

// Listen listens on addr: 9P over TLS with cert for tls!host!port (which
// needs one), plain for the others (which take none). For a unix socket, a
// stale socket file that no server answers on is removed first.
func (lc ListenConfig) Listen(addr string, cert *tls.Certificate) (net.Listener, error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	switch {
	case network == "tls" && cert == nil:
		return nil, fmt.Errorf("%w: address %q: tls needs a certificate (ListenTLS)", gig.ErrInvalid, addr)
	case network != "tls" && cert != nil:
		return nil, fmt.Errorf("%w: address %q: want tls!host!port", gig.ErrInvalid, addr)
	}
	if lc.Warn != nil && Everywhere(addr) {
		lc.Warn(EverywhereWarning(lc.Name, addr))
	}
	bind := lc.Bind
	if bind == nil {
		bind = net.Listen
	}
	if network == "tls" {
		l, err := bind("tcp", address)
		if err != nil {
			return nil, err
		}
		return tls.NewListener(l, ServerTLSConfig(*cert)), nil
	}
	l, err := bind(network, address)
	if err == nil || network != "unix" || !errors.Is(err, syscall.EADDRINUSE) {
		return l, err
	}
	if c, derr := net.Dial("unix", address); derr == nil {
		c.Close()
		return nil, err // someone is serving there
	}
	if fi, serr := os.Lstat(address); serr != nil || fi.Mode()&os.ModeSocket == 0 {
		return nil, err // not a socket: leave it alone
	}
	if rerr := os.Remove(address); rerr != nil {
		return nil, err
	}
	return bind(network, address)
}

// EverywhereWarning is the line a server says before it listens on addr,
// an address that binds every interface of the machine (Everywhere); name
// is what gave it ("-addr").
func EverywhereWarning(name, addr string) string {
	return fmt.Sprintf("%s %s listens on every interface of this machine: whoever reaches it can connect (tcp!127.0.0.1!port is this machine only)", name, addr)
}
