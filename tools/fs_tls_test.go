package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	"gigfs.io/gigfs/internal/cluster"
	"gigfs.io/gigfs/internal/tlscert"
	"gigfs.io/gigfs/srv9p"
)

// gig-fs over TLS end to end: its client reaches a TLS table and store,
// it serves the values over TLS with a self-signed certificate made in
// its data folder, a client pinning that certificate reads them, one
// pinning another is refused, and a 9P client that speaks no TLS reads
// them through a tunnel (which refuses a server failing its pin).
func TestTools_FsTLS(t *testing.T) {
	c, err := cluster.StartTLS(t.TempDir(), 1, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	session, err := c.User(ctx, "demo", testMaster)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddStore(ctx, "demo", testMaster, "demo", c.Stores[0], ""); err != nil {
		t.Fatal(err)
	}
	args := func(more ...string) []string {
		return append([]string{"-table", c.TableAddr, "-table-fingerprint", c.TableFP,
			"-user", "demo", "-session", session, "-timeout", "2s"}, more...)
	}
	if r := run(PushMain, "", args("demo", "counter", "/visits", "41")...); r.code != 0 {
		t.Fatalf("push over TLS: %+v", r)
	}

	data := t.TempDir()
	stderr := new(syncBuffer)
	done := make(chan int, 1)
	go func() {
		done <- FsMain(args("-data", data, "-addr", "tls!127.0.0.1!0"), strings.NewReader(""), io.Discard, stderr)
	}()
	serving := regexp.MustCompile(`serving the values of .* on tls!127\.0\.0\.1!0 \(127\.0\.0\.1:(\d+)\)`)
	var port string
	waitFor(t, "gig-fs to listen", func() bool {
		m := serving.FindStringSubmatch(stderr.String())
		if m != nil {
			port = m[1]
		}
		return m != nil
	})
	fp, err := tlscert.DataFingerprint(filepath.Join(data, "gig-fs"))
	if err != nil {
		t.Fatalf("no certificate in the data folder: %v", err)
	}
	if !strings.Contains(stderr.String(), "tls certificate "+fp+" (self-signed, made in ") {
		t.Errorf("gig-fs does not print its fingerprint %s:\n%s", fp, stderr)
	}
	addr := "tls!127.0.0.1!" + port

	// A client that pins the certificate reads the value.
	fc, err := srv9p.DialTrust(ctx, addr, srv9p.Trust{Fingerprint: fp}, "me", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := fc.ReadFile(ctx, "/demo/counter/visits")
	fc.Close()
	if err != nil || string(b) != "41\n" {
		t.Fatalf("value over TLS: %q, %v", b, err)
	}
	wrong := "sha256:" + strings.Repeat("0", 64)
	if _, err := srv9p.DialTrust(ctx, addr, srv9p.Trust{Fingerprint: wrong}, "me", ""); !errors.Is(err, srv9p.ErrUntrusted) {
		t.Errorf("a client pinning another certificate: %v, want untrusted", err)
	}
	// Without a pin or a CA, a self-signed certificate is not trusted.
	if _, err := srv9p.DialTrust(ctx, addr, srv9p.Trust{}, "me", ""); !errors.Is(err, srv9p.ErrUntrusted) {
		t.Errorf("a client trusting the system roots: %v, want untrusted", err)
	}

	// A plain 9P client through the tunnel.
	tunnel := func(pin string) (string, *syncBuffer) {
		sock := filepath.Join(t.TempDir(), "t.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		logs := new(syncBuffer)
		tctx, stop := context.WithCancel(context.Background())
		ended := make(chan error, 1)
		go func() {
			ended <- ServeTunnel(tctx, l, addr, srv9p.Trust{Fingerprint: pin}, func(f string, a ...any) {
				logs.Write([]byte(strings.TrimSpace(fmt.Sprintf(f, a...)) + "\n"))
			})
		}()
		t.Cleanup(func() {
			stop()
			if err := <-ended; err != nil {
				t.Errorf("tunnel: %v", err)
			}
		})
		return sock, logs
	}
	sock, _ := tunnel(fp)
	conn, err := client.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := conn.Attach(nil, "me", "")
	if err != nil {
		t.Fatal(err)
	}
	fid, err := fsys.Open("/demo/counter/visits", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fid.Write([]byte("1\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, _ := fid.ReadAt(buf, 0)
	fid.Close()
	conn.Close()
	if string(buf[:n]) != "42\n" {
		t.Fatalf("through the tunnel: %q", buf[:n])
	}

	sock, logs := tunnel(wrong)
	if conn, err := client.Dial("unix", sock); err == nil {
		conn.Close()
		t.Errorf("the tunnel carried a connection to a server that failed its pin")
	}
	if !strings.Contains(logs.String(), "untrusted certificate") {
		t.Errorf("the tunnel does not log the refused server:\n%s", logs)
	}

	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	if code := <-done; code != 0 {
		t.Fatalf("gig-fs exit %d: %s", code, stderr)
	}
}
