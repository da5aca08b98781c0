package srv9p

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"gigfs.io/gigfs/gig"
)

// ErrUntrusted is the kind of a dial refused because the TLS server's
// certificate is not trusted: it does not match the pinned fingerprint,
// or no trusted authority signed it for that host.
var ErrUntrusted = gig.Errorf(gig.ErrPermission, "untrusted certificate")

// Trust says how a client verifies a TLS server (a tls!host!port dial
// string); other networks ignore it. The zero value verifies the server's
// certificate chain and host name with the system roots.
type Trust struct {
	// Fingerprint, if set, pins the server: only a certificate whose
	// SHA-256 fingerprint (see Fingerprint) is this one is accepted,
	// whoever signed it and whatever names it holds.
	Fingerprint string
	// CAFile, if set and Fingerprint is not, is a PEM file of the
	// certificate authorities to verify the server with, instead of the
	// system roots.
	CAFile string
	// Learn accepts any certificate (trust on first use): the caller
	// records Client.Fingerprint and pins it from then on.
	Learn bool
}

// IsTLS reports whether the dial string addr is 9P over TLS.
func IsTLS(addr string) bool {
	network, _, err := ParseAddr(addr)
	return err == nil && network == "tls"
}

// Fingerprint returns the fingerprint of a DER-encoded certificate:
// "sha256:" and the lowercase hex SHA-256 of the bytes (what
// `openssl x509 -noout -fingerprint -sha256` prints, in another spelling).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint reads a fingerprint as Fingerprint writes it, or as
// openssl prints it (upper case hex in pairs with colons, with or without
// "sha256:" or "SHA256 Fingerprint="), and returns it as Fingerprint
// writes it.
func ParseFingerprint(s string) (string, error) {
	t := strings.TrimSpace(s)
	for _, p := range []string{"sha256 fingerprint=", "sha256:"} {
		if len(t) >= len(p) && strings.EqualFold(t[:len(p)], p) {
			t = t[len(p):]
			break
		}
	}
	t = strings.ToLower(strings.ReplaceAll(t, ":", ""))
	if b, err := hex.DecodeString(t); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%w: fingerprint %q: want sha256: and 64 hex digits", gig.ErrInvalid, clipText(s))
	}
	return "sha256:" + t, nil
}

// ServerTLSConfig is the TLS configuration of our servers: cert, TLS 1.2
// or later, no client certificates.
func ServerTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// ListenTLS listens on the dial string addr, which must be tls!host!port,
// and serves TLS with cert on each connection. The handshake happens on a
// connection's first read, so it runs under the server's deadlines.
func ListenTLS(addr string, cert tls.Certificate) (net.Listener, error) {
	return ListenConfig{}.Listen(addr, &cert)
}

// dialConn connects to the dial string addr; over TLS it verifies the
// server as trust says, and returns the fingerprint of its certificate.
func dialConn(ctx context.Context, addr string, trust Trust) (net.Conn, string, error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, "", err
	}
	tcp := network
	if network == "tls" {
		tcp = "tcp"
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, tcp, address)
	if err != nil {
		return nil, "", fmt.Errorf("dial %s: %w", addr, err)
	}
	if network != "tls" {
		return nc, "", nil
	}
	cfg, err := clientTLSConfig(address, trust)
	if err != nil {
		nc.Close()
		return nil, "", fmt.Errorf("dial %s: %w", addr, err)
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		if untrusted(err) && !errors.Is(err, ErrUntrusted) {
			err = fmt.Errorf("%w: %w (pin the server's fingerprint or give the CA file that signed it)", ErrUntrusted, err)
		}
		return nil, "", fmt.Errorf("dial %s: %w", addr, err)
	}
	fp := ""
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		fp = Fingerprint(certs[0].Raw)
	}
	return tc, fp, nil
}

// clientTLSConfig is the configuration to dial address (host:port) with.
func clientTLSConfig(address string, trust Trust) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	switch {
	case trust.Fingerprint != "":
		want, err := ParseFingerprint(trust.Fingerprint)
		if err != nil {
			return nil, err
		}
		cfg.InsecureSkipVerify = true // the pin below replaces the chain
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: the server sent no certificate", ErrUntrusted)
			}
			if got := Fingerprint(cs.PeerCertificates[0].Raw); got != want {
				return fmt.Errorf("%w: the server's certificate is %s, not the pinned %s (its certificate changed, or someone is in between)", ErrUntrusted, got, want)
			}
			return nil
		}
	case trust.Learn:
		cfg.InsecureSkipVerify = true // the caller records the fingerprint
	case trust.CAFile != "":
		pem, err := os.ReadFile(trust.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s: no PEM certificate in it", gig.ErrInvalid, trust.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// untrusted reports whether a handshake error is a refused certificate.
func untrusted(err error) bool {
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		ve *tls.CertificateVerificationError
	)
	return errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &ve)
}

// Fingerprint returns the fingerprint of the TLS server's certificate
// (see Fingerprint), or "" if the connection is not TLS.
func (c *Client) Fingerprint() string { return c.fp }

func clipText(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// DialTLS connects to the dial string addr, which must be tls!host!port,
// and verifies the server as trust says. It returns the connection after
// the handshake and the fingerprint of the server's certificate. It is
// the transport of Dial, for programs that carry 9P themselves (a tunnel
// for a 9P client that speaks no TLS).
func DialTLS(ctx context.Context, addr string, trust Trust) (net.Conn, string, error) {
	if !IsTLS(addr) {
		return nil, "", fmt.Errorf("%w: address %q: want tls!host!port", gig.ErrInvalid, addr)
	}
	nc, fp, err := dialConn(ctx, addr, trust)
	if err != nil {
		return nil, "", classify(err)
	}
	return nc, fp, nil
}
