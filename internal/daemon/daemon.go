// Package daemon holds what the server programs (gig-table, gig-store)
// share: the standard flags, the data folder default, and serving until the
// context ends with one log line per start and stop and a clean exit status.
package daemon

import (
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"os"

	"gigfs.io/gigfs/internal/tlscert"
	"gigfs.io/gigfs/srv9p"
)

// Exit statuses of the servers.
const (
	ExitOK    = 0 // clean shutdown
	ExitError = 1 // failed to start or serve
	ExitUsage = 2 // bad flags
)

// DefaultData is the data folder unless -data says otherwise: $GIGFS_DATA,
// else ./gigfs-data.
func DefaultData() string {
	if d := os.Getenv("GIGFS_DATA"); d != "" {
		return d
	}
	return "./gigfs-data"
}

// Flags are the flags every server takes.
type Flags struct {
	Set  *flag.FlagSet
	Addr string
	Data string
	Cert string // -cert: PEM certificate for tls!host!port
	Key  string // -key: its PEM key
}

// NewFlags makes the flag set of a server program: -addr (default
// defaultAddr) and -data (default DefaultData), usage text on stderr.
func NewFlags(name, defaultAddr, usage string, stderr io.Writer) *Flags {
	f := &Flags{Set: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.Set.SetOutput(stderr)
	f.Set.StringVar(&f.Addr, "addr", defaultAddr, "listen on this dial string (tcp!host!port, unix!/path or host:port)")
	f.Set.StringVar(&f.Data, "data", DefaultData(), "data folder (default $GIGFS_DATA, else ./gigfs-data)")
	f.Set.StringVar(&f.Cert, "cert", "", "TLS certificate (PEM) for a tls!host!port -addr (default: a self-signed one made in the data folder)")
	f.Set.StringVar(&f.Key, "key", "", "the TLS certificate's key (PEM), with -cert")
	f.Set.Usage = func() {
		io.WriteString(stderr, usage)
		f.Set.PrintDefaults()
	}
	return f
}

// Parse parses args and checks -addr. ok false means the program must exit
// with status.
func (f *Flags) Parse(args []string, logger *log.Logger) (status int, ok bool) {
	if err := f.Set.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	if f.Set.NArg() > 0 {
		f.Set.Usage()
		return ExitUsage, false
	}
	if _, _, err := srv9p.ParseAddr(f.Addr); err != nil {
		logger.Printf("-addr: %v", err)
		return ExitUsage, false
	}
	return ExitOK, true
}

// Serve serves srv on l until ctx ends, then closes the service with
// closeService, and returns the exit status; it logs a failure and the
// stop.
func Serve(ctx context.Context, logger *log.Logger, l net.Listener, srv *srv9p.Server, closeService func() error) int {
	serveErr := srv.Serve(ctx, l)
	closeErr := closeService()
	switch {
	case serveErr != nil:
		logger.Printf("serve: %v", serveErr)
		return ExitError
	case closeErr != nil:
		logger.Printf("close: %v", closeErr)
		return ExitError
	}
	logger.Printf("stopped")
	return ExitOK
}

// Listen listens on -addr. For tls!host!port it serves TLS with -cert and
// -key, or the self-signed certificate of the data folder (made on first
// start), logs the certificate's fingerprint and returns it.
func (f *Flags) Listen(logger *log.Logger) (l net.Listener, fingerprint string, err error) {
	if !srv9p.IsTLS(f.Addr) {
		if f.Cert != "" || f.Key != "" {
			logger.Printf("-cert and -key are unused: -addr %s is not tls!host!port", f.Addr)
		}
		l, err := srv9p.Listen(f.Addr)
		return l, "", err
	}
	_, hostport, _ := srv9p.ParseAddr(f.Addr)
	host, _, _ := net.SplitHostPort(hostport)
	cert, err := tlscert.Load(f.Data, f.Cert, f.Key, host)
	if err != nil {
		return nil, "", err
	}
	how := "from"
	if cert.Made {
		how = "self-signed, made in"
	}
	logger.Printf("tls certificate %s (%s %s)", cert.Fingerprint, how, cert.CertFile)
	l, err = srv9p.ListenTLS(f.Addr, cert.TLS)
	return l, cert.Fingerprint, err
}
