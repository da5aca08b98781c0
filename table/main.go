package table

import (
	"context"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"gigfs.io/gigfs/internal/adminkey"
	"gigfs.io/gigfs/internal/daemon"
	"gigfs.io/gigfs/srv9p"
)

// DefaultAddr is where gig-table listens unless told otherwise.
const DefaultAddr = "tcp!127.0.0.1!5640"

// Main is the gig-table program: it parses args (without the program
// name), serves the table until SIGINT or SIGTERM, and returns the exit
// status: 0 after a clean shutdown, 1 on an error, 2 on bad usage.
//
//	gig-table [-addr tcp!127.0.0.1!5640] [-data $GIGFS_DATA] [-public-addr addr]
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stderr, nil)
}

// hooks are what tests change in run: listening, if set, is told the
// address once the server listens; bind, if set, makes its listener
// (daemon.Flags.Bind).
type hooks struct {
	listening func(addr string)
	bind      func(network, address string) (net.Listener, error)
}

// run is Main with its context, its error output, and the hooks of tests
// (nil: none).
func run(ctx context.Context, args []string, stderr io.Writer, h *hooks) int {
	logger := log.New(stderr, "gig-table: ", log.LstdFlags)
	fl := daemon.NewFlags("gig-table", DefaultAddr, usage, stderr)
	public := fl.Set.String("public-addr", "", "the table's address given to stores to check tokens with (default: -addr)")
	allowUnix := fl.Set.Bool("allow-unix-stores", false, "let store add take unix!/path store addresses (the default when -addr is a unix socket)")
	storeTimeout := fl.Set.Duration("store-timeout", DefaultStoreTimeout, "bound on each call to a store (confirm, revoke); a store add that fails other than by a refused code is answered once it has passed")
	if status, ok := fl.Parse(args, logger); !ok {
		return status
	}
	if *storeTimeout <= 0 {
		return fl.Fail("-store-timeout %v: want a positive duration", *storeTimeout)
	}
	if *public != "" {
		if _, _, err := srv9p.ParseAddr(*public); err != nil {
			return fl.Fail("-public-addr: %v", err)
		}
	}
	key, err := adminkey.Load(fl.Data)
	if err != nil {
		logger.Print(err)
		return daemon.ExitError
	}
	if h != nil {
		fl.Bind = h.bind
	}
	l, fp, err := fl.Listen(logger)
	if err != nil {
		logger.Printf("listen %s: %v", fl.Addr, err)
		return daemon.ExitError
	}
	defer l.Close()
	if *public == "" {
		*public = publicAddr(fl.Addr, l.Addr())
	}
	svc, err := Open(Config{
		DataDir:          fl.Data,
		TableAddr:        *public,
		TableFingerprint: fp,
		AllowUnixStores:  *allowUnix || isUnix(fl.Addr),
		StoreTimeout:     *storeTimeout,
		AdminKey:         key,
		Logf:             logger.Printf,
	})
	if err != nil {
		logger.Print(err)
		return daemon.ExitError
	}
	logger.Printf("listening on %s (%s); public address %s; data %s; admin key in %s",
		fl.Addr, l.Addr(), *public, fl.Data, adminkey.Path(fl.Data))
	if h != nil && h.listening != nil {
		h.listening(l.Addr().String())
	}
	srv := NewServer(svc)
	fl.Limits.Apply(srv)
	return daemon.Serve(ctx, logger, l, srv, svc.Close)
}

const usage = `usage: gig-table [-addr dialstring] [-data dir] [-public-addr dialstring] [-cert file -key file] [-allow-unix-stores] [-store-timeout 10s]

Serves the GiG.fs table over 9P2000: users and their masters, sessions,
store tokens and the mount table of each user (which stores serve which
channel). The admin key is made on first start in <data>/admin.key (mode
0600); gig-admin uses it to add users. Stores check tokens by dialling
the table at -public-addr. The table dials only store addresses of the
form tcp!host!port, tls!host!port or host:port (one machine, a numeric
port); unix!/path too with -allow-unix-stores, or when -addr is a unix
socket. A store add that fails other than by a refused code says only
"no store confirmed there", once -store-timeout has passed however the
dial failed. It runs until SIGINT or SIGTERM, then exits 0.

Example:

	gig-table -addr 'tcp!127.0.0.1!5640' -data ./table-data &
	gig-admin -addr 'tcp!127.0.0.1!5640' -data ./table-data user set alice 'a long master'
`

// publicAddr is the address given to stores when -public-addr is not
// set: -addr itself, but with the port the system chose if -addr asked
// for port 0.
func publicAddr(addr string, la net.Addr) string {
	ta, ok := la.(*net.TCPAddr)
	network, hostport, err := srv9p.ParseAddr(addr)
	if !ok || err != nil || !strings.HasPrefix(network, "tcp") && network != "tls" {
		return addr
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port != "0" {
		return addr
	}
	if host == "" {
		host = ta.IP.String()
	}
	if network == "tls" {
		return "tls!" + host + "!" + strconv.Itoa(ta.Port)
	}
	return "tcp!" + host + "!" + strconv.Itoa(ta.Port)
}

// isUnix reports whether the dial string addr is a unix socket: a table
// only this machine reaches dials stores on unix sockets too.
func isUnix(addr string) bool {
	network, _, err := srv9p.ParseAddr(addr)
	return err == nil && network == "unix"
}
