package netstore

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"gigfs.io/gigfs/internal/adminkey"
	"gigfs.io/gigfs/srv9p"
)

// DefaultAddr is where gig-store listens unless told otherwise.
const DefaultAddr = "tcp!127.0.0.1!5641"

// Main is the gig-store program: it parses args (without the program name),
// serves the store until SIGINT or SIGTERM, and returns the exit status: 0
// after a clean shutdown, 1 on an error, 2 on bad usage. checker checks
// store tokens with the tables users confirmed; cmd/gig-store passes the
// table client's.
//
//	gig-store [-addr tcp!127.0.0.1!5641] [-data $GIGFS_DATA]
func Main(args []string, checker TokenChecker) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stderr, checker, nil)
}

// run is Main with its context, its error output, and a callback told the
// address once the store listens (for tests).
func run(ctx context.Context, args []string, stderr io.Writer, checker TokenChecker, listening func(addr string)) int {
	logger := log.New(stderr, "gig-store: ", log.LstdFlags)
	fl := flag.NewFlagSet("gig-store", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", DefaultAddr, "listen on this dial string (tcp!host!port, unix!/path or host:port)")
	dataDir := fl.String("data", defaultData(), "data folder (default $GIGFS_DATA, else ./gigfs-data)")
	fl.Usage = func() {
		fmt.Fprint(stderr, `usage: gig-store [-addr dialstring] [-data dir]

Serves a GiG.fs store over 9P2000. The admin key is made on first start in
<data>/admin.key (mode 0600). The store's admin adds a user by attaching as
"admin" with aname "admin <key>" and writing "user add <id>" to /admin/ctl;
the reply is the confirmation code the user gives the table. Example:

	gig-store -addr tcp!127.0.0.1!5641 -data ./store-data

`)
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return 2
	}
	key, err := adminkey.Load(*dataDir)
	if err != nil {
		logger.Print(err)
		return 1
	}
	svc, err := Open(Config{Dir: *dataDir, Checker: checker, Logf: logger.Printf})
	if err != nil {
		logger.Print(err)
		return 1
	}
	l, err := srv9p.Listen(*addr)
	if err != nil {
		logger.Printf("listen %s: %v", *addr, err)
		svc.Close()
		return 1
	}
	logger.Printf("listening on %s (%s); data %s; admin key in %s; epoch %s",
		*addr, l.Addr(), *dataDir, adminkey.Path(*dataDir), svc.Epoch())
	if listening != nil {
		listening(l.Addr().String())
	}
	srv := &srv9p.Server{Attach: (&Tree{S: svc, AdminKey: key}).Attach, Logf: logger.Printf}
	serveErr := srv.Serve(ctx, l)
	closeErr := svc.Close()
	switch {
	case serveErr != nil:
		logger.Printf("serve: %v", serveErr)
		return 1
	case closeErr != nil:
		logger.Printf("close: %v", closeErr)
		return 1
	}
	logger.Printf("stopped")
	return 0
}

func defaultData() string {
	if d := os.Getenv("GIGFS_DATA"); d != "" {
		return d
	}
	return "./gigfs-data"
}
