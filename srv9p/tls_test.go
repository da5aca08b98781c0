package srv9p_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/tlscert"
	"gigfs.io/gigfs/srv9p"
)

// startTLSServer serves the test tree over TLS with a self-signed
// certificate made in a temporary folder, and returns its dial string and
// the certificate.
func startTLSServer(t *testing.T) (string, *tlscert.Cert) {
	t.Helper()
	cert, err := tlscert.Load(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	tree := newTestTree()
	s := &srv9p.Server{
		Attach: func(_ context.Context, uname, aname, _ string) (srv9p.Node, error) {
			if uname != testUser || aname != testKey {
				return nil, gig.ErrPermission
			}
			return tree.root, nil
		},
		Logf: t.Logf,
	}
	l, err := srv9p.ListenTLS("tls!127.0.0.1!0", cert.TLS)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	_, port, _ := strings.Cut(l.Addr().String(), ":")
	return "tls!127.0.0.1!" + port, cert
}

func TestTLS_Trust(t *testing.T) {
	addr, cert := startTLSServer(t)
	ctx := context.Background()
	other, err := tlscert.Load(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}

	// Pinned: the right fingerprint attaches and reads; the client sees it.
	c, err := srv9p.DialTrust(ctx, addr, srv9p.Trust{Fingerprint: cert.Fingerprint}, testUser, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Fingerprint(); got != cert.Fingerprint {
		t.Errorf("Fingerprint() = %s, want %s", got, cert.Fingerprint)
	}
	if _, err := c.ReadFile(ctx, "static"); err != nil {
		t.Errorf("read over TLS: %v", err)
	}
	c.Close()

	// The openssl spelling of the same fingerprint works too.
	hexfp := strings.TrimPrefix(cert.Fingerprint, "sha256:")
	var pairs []string
	for i := 0; i < len(hexfp); i += 2 {
		pairs = append(pairs, strings.ToUpper(hexfp[i:i+2]))
	}
	if c, err := srv9p.DialTrust(ctx, addr, srv9p.Trust{Fingerprint: "SHA256 Fingerprint=" + strings.Join(pairs, ":")}, testUser, testKey); err != nil {
		t.Errorf("openssl-style fingerprint: %v", err)
	} else {
		c.Close()
	}

	// A wrong pin is refused, naming both fingerprints.
	_, err = srv9p.DialTrust(ctx, addr, srv9p.Trust{Fingerprint: other.Fingerprint}, testUser, testKey)
	if !errors.Is(err, srv9p.ErrUntrusted) || !strings.Contains(errText(err), cert.Fingerprint) || !strings.Contains(errText(err), "not the pinned "+other.Fingerprint) {
		t.Errorf("wrong pin: got %v, want an untrusted certificate error naming both fingerprints", err)
	}

	t.Logf("wrong pin: %v", err)

	// The system roots do not know a self-signed certificate.
	if _, err := srv9p.Dial(ctx, addr, testUser, testKey); !errors.Is(err, srv9p.ErrUntrusted) {
		t.Errorf("system roots: got %v, want ErrUntrusted", err)
	}

	// The certificate file itself serves as a CA file; another's does not.
	if c, err := srv9p.DialTrust(ctx, addr, srv9p.Trust{CAFile: cert.CertFile}, testUser, testKey); err != nil {
		t.Errorf("CA file: %v", err)
	} else {
		c.Close()
	}
	if _, err := srv9p.DialTrust(ctx, addr, srv9p.Trust{CAFile: other.CertFile}, testUser, testKey); !errors.Is(err, srv9p.ErrUntrusted) {
		t.Errorf("another CA file: got %v, want ErrUntrusted", err)
	}

	// Learn accepts the certificate and reports it.
	c, err = srv9p.DialTrust(ctx, addr, srv9p.Trust{Learn: true}, testUser, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if c.Fingerprint() != cert.Fingerprint {
		t.Errorf("learned %s, want %s", c.Fingerprint(), cert.Fingerprint)
	}
	c.Close()

	// A plain client speaking 9P to the TLS port gets nowhere.
	plain := "tcp!" + strings.TrimPrefix(addr, "tls!")
	if _, err := srv9p.Dial(ctx, plain, testUser, testKey); err == nil {
		t.Error("plain 9P to a TLS port attached")
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestTLS_SelfSignedReused(t *testing.T) {
	dir := t.TempDir()
	a, err := tlscert.Load(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Made {
		t.Error("first Load did not make a certificate")
	}
	for _, name := range []string{tlscert.CertName, tlscert.KeyName} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	b, err := tlscert.Load(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Made || b.Fingerprint != a.Fingerprint {
		t.Errorf("second Load: made %v, fingerprint %s; want the first one, %s", b.Made, b.Fingerprint, a.Fingerprint)
	}
	if fp, err := tlscert.DataFingerprint(dir); err != nil || fp != a.Fingerprint {
		t.Errorf("DataFingerprint = %s, %v; want %s", fp, err, a.Fingerprint)
	}
	// Given files are used as they are.
	c, err := tlscert.Load(t.TempDir(), filepath.Join(dir, tlscert.CertName), filepath.Join(dir, tlscert.KeyName))
	if err != nil || c.Fingerprint != a.Fingerprint || c.Made {
		t.Errorf("Load with -cert and -key: %+v, %v", c, err)
	}
	if _, err := tlscert.Load(t.TempDir(), filepath.Join(dir, tlscert.CertName), ""); err == nil {
		t.Error("-cert without -key: no error")
	}
	// A key without its certificate is not overwritten.
	lone := t.TempDir()
	os.WriteFile(filepath.Join(lone, tlscert.KeyName), []byte("x"), 0o600)
	if _, err := tlscert.Load(lone, "", ""); err == nil {
		t.Error("a lone key file: no error")
	}
}

func TestParseFingerprint(t *testing.T) {
	good := "sha256:" + strings.Repeat("ab", 32)
	for _, in := range []string{good, strings.ToUpper(good), strings.Repeat("AB:", 31) + "AB", "SHA256 Fingerprint=" + strings.Repeat("ab", 32)} {
		if got, err := srv9p.ParseFingerprint(in); err != nil || got != good {
			t.Errorf("ParseFingerprint(%q) = %q, %v; want %q", in, got, err, good)
		}
	}
	for _, in := range []string{"", "sha256:", "sha256:abcd", "md5:" + strings.Repeat("ab", 32), strings.Repeat("zz", 32)} {
		if _, err := srv9p.ParseFingerprint(in); !errors.Is(err, gig.ErrInvalid) {
			t.Errorf("ParseFingerprint(%q): got %v, want gig.ErrInvalid", in, err)
		}
	}
	if _, _, err := srv9p.ParseAddr("tls!host"); err == nil {
		t.Error("ParseAddr(tls!host): no error")
	}
	if n, a, err := srv9p.ParseAddr("tls!example.com!5640"); n != "tls" || a != "example.com:5640" || err != nil {
		t.Errorf("ParseAddr(tls!example.com!5640) = %q, %q, %v", n, a, err)
	}
	if _, err := srv9p.Listen("tls!127.0.0.1!0"); err == nil {
		t.Error("Listen(tls!...) without a certificate: no error")
	}
}
