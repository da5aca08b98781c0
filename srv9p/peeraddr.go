package srv9p

import (
	"net"
	"strconv"
	"strings"

	"gigfs.io/gigfs/gig"
)

// CheckPeerAddr checks a dial string that a server is told to dial by
// someone else: a store's address given to the table in `store add`, the
// table's address given to a store in `confirm`. Such a server dials only
// what the address of another server may be:
//
//   - tcp!host!port, tcp4!host!port, tcp6!host!port, tls!host!port or
//     host:port (TCP);
//   - host is a DNS name (labels of letters, digits, '-' and '_', dots
//     between them, at most 253 bytes) or an IP address; not empty, not
//     "*", not an unspecified address (0.0.0.0, ::) nor a multicast or
//     broadcast one: it names one machine;
//   - port is a number from 1 to 65535 (no service names);
//   - unix!/path (or /path, ./path) only if allowUnix.
//
// The error is of kind gig.ErrInvalid and says which rule the address
// breaks.
func CheckPeerAddr(addr string, allowUnix bool) error {
	bad := func(why string) error {
		return gig.Errorf(gig.ErrInvalid, "address %q: %s", clipText(addr), why)
	}
	network, address, err := ParseAddr(addr)
	if err != nil {
		return err
	}
	if network == "unix" {
		if !allowUnix {
			return bad("unix sockets are not dialled here (want tcp!host!port or tls!host!port)")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return bad("want host and port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return bad("the port must be a number from 1 to 65535")
	}
	if host == "" {
		return bad("no host (every interface is not a machine to dial)")
	}
	if ip := net.ParseIP(host); ip != nil {
		switch {
		case ip.IsUnspecified():
			return bad("an unspecified address is not a machine to dial")
		case ip.IsMulticast() || ip.Equal(net.IPv4bcast):
			return bad("a multicast or broadcast address is not a machine to dial")
		}
		return nil
	}
	if !validHostName(host) {
		return bad("the host must be a DNS name or an IP address")
	}
	return nil
}

// validHostName reports whether h is a DNS name: labels of 1–63 letters,
// digits, '-' or '_', not starting or ending with '-', joined by dots
// (one trailing dot allowed), 253 bytes at most.
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Everywhere reports whether listening on the dial string addr binds every
// interface of the machine (tcp!*!port, :port, 0.0.0.0, ::), so that a
// server can say so when it starts.
func Everywhere(addr string) bool {
	network, address, err := ParseAddr(addr)
	if err != nil || network == "unix" {
		return false
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
