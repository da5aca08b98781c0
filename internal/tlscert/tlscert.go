// Package tlscert gives a server its TLS certificate: the one it is
// given (-cert, -key), or a self-signed one it makes in its data folder on
// first start and reuses after. It holds no GiG.fs logic.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"gigfs.io/gigfs/internal/atomicfile"
	"gigfs.io/gigfs/srv9p"
)

// The files of a self-signed certificate in a data folder (mode 0600).
const (
	CertName = "tls-cert.pem"
	KeyName  = "tls-key.pem"
)

// validity of a self-signed certificate. Clients pin its fingerprint, so
// its dates are not what they check; it lasts until the files are removed.
const validity = 20 * 365 * 24 * time.Hour

// A Cert is a server's certificate.
type Cert struct {
	TLS         tls.Certificate
	Fingerprint string // of the leaf, see srv9p.Fingerprint
	CertFile    string // where it was read from
	Made        bool   // made now, on this start
}

// Load returns the certificate in certFile and keyFile (PEM) if they are
// given (both or neither), else the self-signed one in dataDir, making it
// on first start: an ECDSA P-256 key, names localhost, the host name and
// hosts (host names or IP addresses the server listens on), 127.0.0.1 and
// ::1.
func Load(dataDir, certFile, keyFile string, hosts ...string) (*Cert, error) {
	switch {
	case certFile != "" && keyFile != "":
		return load(certFile, keyFile, false)
	case certFile != "" || keyFile != "":
		return nil, errors.New("tls: give both -cert and -key, or neither")
	}
	certFile, keyFile = filepath.Join(dataDir, CertName), filepath.Join(dataDir, KeyName)
	_, cerr := os.Stat(certFile)
	_, kerr := os.Stat(keyFile)
	switch {
	case cerr == nil && kerr == nil:
		return load(certFile, keyFile, false)
	case !errors.Is(cerr, fs.ErrNotExist):
		if kerr != nil {
			return nil, fmt.Errorf("tls: %s is there but not %s: remove it to make a new certificate", certFile, keyFile)
		}
		return nil, fmt.Errorf("tls: %w", cerr)
	case !errors.Is(kerr, fs.ErrNotExist):
		return nil, fmt.Errorf("tls: %s is there but not %s: remove it to make a new certificate", keyFile, certFile)
	}
	certPEM, keyPEM, err := selfSigned(hosts)
	if err != nil {
		return nil, fmt.Errorf("tls: make a certificate: %w", err)
	}
	if err := atomicfile.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if err := atomicfile.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if err := atomicfile.WriteFile(certFile, certPEM, 0o600); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return load(certFile, keyFile, true)
}

func load(certFile, keyFile string, made bool) (*Cert, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load %s and %s: %w", certFile, keyFile, err)
	}
	return &Cert{TLS: c, Fingerprint: srv9p.Fingerprint(c.Certificate[0]), CertFile: certFile, Made: made}, nil
}

// selfSigned makes a self-signed certificate and its key, PEM-encoded.
func selfSigned(hosts []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	name, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "gigfs " + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so that the file itself works as a CA file
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range append([]string{name}, hosts...) {
		switch ip := net.ParseIP(h); {
		case h == "" || h == "localhost" || h == "*":
		case ip != nil:
			if !ip.IsUnspecified() && !ip.IsLoopback() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}

// DataFingerprint returns the fingerprint of the certificate kept in the
// data folder dataDir, or "" if it has none (for a tool on the server's
// machine, such as gig-admin, to pin it).
func DataFingerprint(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, CertName))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("tls: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("tls: %s: no PEM certificate", filepath.Join(dataDir, CertName))
	}
	return srv9p.Fingerprint(block.Bytes), nil
}
