package tools

import (
	"fmt"
	"net"
	"path/filepath"

	"gigfs.io/gigfs/internal/tlscert"
	"gigfs.io/gigfs/srv9p"
)

// listenFs listens for gig-fs on addr: over TLS for tls!host!port, with
// the certificate in certFile and keyFile, else the self-signed one of
// the state folder (certDir), made on first start.
func (e *env) listenFs(addr, certFile, keyFile string) (net.Listener, error) {
	lc := e.listenConfig("-addr")
	if !srv9p.IsTLS(addr) {
		if certFile != "" || keyFile != "" {
			return nil, usageErr("-cert and -cert-key need -addr tls!host!port")
		}
		return lc.Listen(addr, nil)
	}
	dir := ""
	if certFile == "" {
		if dir = e.set.certDir(); dir == "" {
			return nil, usageErr("no folder for a certificate: give -data, or -cert and -cert-key")
		}
	}
	_, hostport, err := srv9p.ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(hostport)
	cert, err := tlscert.Load(dir, certFile, keyFile, host)
	if err != nil {
		return nil, err
	}
	how := "from"
	if cert.Made {
		how = "self-signed, made in"
	}
	fmt.Fprintf(e.stderr, "%s: tls certificate %s (%s %s)\n", e.name(), cert.Fingerprint, how, cert.CertFile)
	return lc.Listen(addr, &cert.TLS)
}

// certDir is the folder of gig-fs's self-signed certificate: gig-fs in
// the data folder, else in the state folder ($XDG_STATE_HOME/gigfs, else
// ~/.local/state/gigfs); empty if there is none.
func (s *Settings) certDir() string {
	switch {
	case s.Data != "":
		return filepath.Join(s.Data, "gig-fs")
	case s.getenv != nil && s.getenv("XDG_STATE_HOME") != "":
		return filepath.Join(s.getenv("XDG_STATE_HOME"), "gigfs", "gig-fs")
	case s.getenv != nil && s.getenv("HOME") != "":
		return filepath.Join(s.getenv("HOME"), ".local", "state", "gigfs", "gig-fs")
	}
	return ""
}
