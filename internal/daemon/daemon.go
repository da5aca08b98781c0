// Package daemon holds what the server programs (gig-table, gig-store)
// share: the standard flags, the data folder default, and serving until the
// context ends with one log line per start and stop and a clean exit status.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"

	"gigfs.io/gigfs/internal/tlscert"
	"gigfs.io/gigfs/internal/version"
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
	Set    *flag.FlagSet
	Addr   string
	Data   string
	Cert   string  // -cert: PEM certificate for tls!host!port
	Key    string  // -key: its PEM key
	Limits *Limits // the limit flags; Limits.Apply sets them on a server
	// Stdout gets the help (-h) and the version (-version); os.Stdout
	// unless set. Usage errors go to the stderr of NewFlags.
	Stdout io.Writer
	// Bind, if set, makes Listen's listener in place of net.Listen (see
	// srv9p.ListenConfig): tests see what -addr tcp!*!port does without
	// binding every interface.
	Bind func(network, address string) (net.Listener, error)

	name    string
	help    string
	stderr  io.Writer
	version bool
}

// NewFlags makes the flag set of a server program: -addr (default
// defaultAddr), -data (default DefaultData) and -version. help is the
// usage line, what the program does and an example; -h prints it and the
// flags on stdout. A bad flag or argument is one line on stderr, status 2.
func NewFlags(name, defaultAddr, help string, stderr io.Writer) *Flags {
	f := &Flags{Set: flag.NewFlagSet(name, flag.ContinueOnError), Stdout: os.Stdout,
		name: name, help: help, stderr: stderr}
	f.Set.SetOutput(io.Discard)
	f.Set.Usage = func() {}
	f.Set.StringVar(&f.Addr, "addr", defaultAddr, "listen on this dial string (tcp!host!port, unix!/path or host:port)")
	// No default in the flag itself: the help says where it comes from once.
	f.Set.StringVar(&f.Data, "data", "", "data folder (default $GIGFS_DATA, else ./gigfs-data)")
	f.Set.StringVar(&f.Cert, "cert", "", "TLS certificate (PEM) for a tls!host!port -addr (default: a self-signed one made in the data folder)")
	f.Set.StringVar(&f.Key, "key", "", "the TLS certificate's key (PEM), with -cert")
	f.Set.BoolVar(&f.version, "version", false, "print the version and exit")
	f.Limits = addLimitFlags(f.Set)
	return f
}

// Parse parses args and checks -addr. ok false means the program must exit
// with status: after -h or -version (0), or a usage error (2) said on
// stderr in one line.
func (f *Flags) Parse(args []string, logger *log.Logger) (status int, ok bool) {
	if err := f.Set.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.printHelp()
			return ExitOK, false
		}
		return f.Fail("%v", err), false
	}
	if f.version {
		fmt.Fprintln(f.Stdout, version.Line(f.name))
		return ExitOK, false
	}
	if f.Set.NArg() > 0 {
		return f.Fail("unexpected argument %q: %s takes only flags", f.Set.Arg(0), f.name), false
	}
	if _, _, err := srv9p.ParseAddr(f.Addr); err != nil {
		return f.Fail("-addr: %v", err), false
	}
	if f.Data == "" {
		f.Data = DefaultData()
	}
	return ExitOK, true
}

// Fail says a usage error in one line on stderr, pointing at -h, and
// returns ExitUsage.
func (f *Flags) Fail(format string, args ...any) int {
	fmt.Fprintf(f.stderr, "%s: %s (%s -h for help)\n", f.name, fmt.Sprintf(format, args...), f.name)
	return ExitUsage
}

func (f *Flags) printHelp() {
	fmt.Fprintf(f.Stdout, "%s\n\nFlags:\n", strings.TrimSpace(f.help))
	f.Set.SetOutput(f.Stdout)
	f.Set.PrintDefaults()
	f.Set.SetOutput(io.Discard)
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

// Listen listens on -addr, logging first when it binds every interface
// of the machine. For tls!host!port it serves TLS with -cert and -key, or
// the self-signed certificate of the data folder (made on first start),
// logs the certificate's fingerprint and returns it.
func (f *Flags) Listen(logger *log.Logger) (l net.Listener, fingerprint string, err error) {
	lc := srv9p.ListenConfig{Name: "-addr", Warn: func(line string) { logger.Print(line) }, Bind: f.Bind}
	if !srv9p.IsTLS(f.Addr) {
		if f.Cert != "" || f.Key != "" {
			logger.Printf("-cert and -key are unused: -addr %s is not tls!host!port", f.Addr)
		}
		l, err := lc.Listen(f.Addr, nil)
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
	l, err = lc.Listen(f.Addr, &cert.TLS)
	return l, cert.Fingerprint, err
}
