package table

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"gigfs.io/gigfs/internal/adminkey"
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

// run is Main with its context, its error output, and a callback told the
// address once the table listens (for tests).
func run(ctx context.Context, args []string, stderr io.Writer, listening func(addr string)) int {
	logger := log.New(stderr, "gig-table: ", log.LstdFlags)
	fl := flag.NewFlagSet("gig-table", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", DefaultAddr, "listen on this dial string (tcp!host!port, unix!/path or host:port)")
	dataDir := fl.String("data", defaultData(), "data folder (default $GIGFS_DATA, else ./gigfs-data)")
	public := fl.String("public-addr", "", "the table's address given to stores to check tokens with (default: -addr)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: gig-table [-addr dialstring] [-data dir] [-public-addr dialstring]")
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
	if _, _, err := srv9p.ParseAddr(*addr); err != nil {
		logger.Printf("-addr: %v", err)
		return 2
	}
	if *public != "" {
		if _, _, err := srv9p.ParseAddr(*public); err != nil {
			logger.Printf("-public-addr: %v", err)
			return 2
		}
	}

	key, err := adminkey.Load(*dataDir)
	if err != nil {
		logger.Print(err)
		return 1
	}
	l, err := srv9p.Listen(*addr)
	if err != nil {
		logger.Printf("listen %s: %v", *addr, err)
		return 1
	}
	defer l.Close()
	if *public == "" {
		*public = publicAddr(*addr, l.Addr())
	}
	svc, err := Open(Config{
		DataDir:   *dataDir,
		TableAddr: *public,
		AdminKey:  key,
		Logf:      logger.Printf,
	})
	if err != nil {
		logger.Print(err)
		return 1
	}
	logger.Printf("listening on %s (%s); public address %s; data %s; admin key in %s",
		*addr, l.Addr(), *public, *dataDir, adminkey.Path(*dataDir))
	if listening != nil {
		listening(l.Addr().String())
	}
	srv := NewServer(svc)
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
	return 0
}

// publicAddr is the address given to stores when -public-addr is not
// set: -addr itself, but with the port the system chose if -addr asked
// for port 0.
func publicAddr(addr string, la net.Addr) string {
	ta, ok := la.(*net.TCPAddr)
	network, hostport, err := srv9p.ParseAddr(addr)
	if !ok || err != nil || !strings.HasPrefix(network, "tcp") {
		return addr
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port != "0" {
		return addr
	}
	if host == "" {
		host = ta.IP.String()
	}
	return "tcp!" + host + "!" + strconv.Itoa(ta.Port)
}

func defaultData() string {
	if d := os.Getenv("GIGFS_DATA"); d != "" {
		return d
	}
	return "./gigfs-data"
}
