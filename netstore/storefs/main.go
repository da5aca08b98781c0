package storefs

import (
	"context"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gigfs.io/gigfs/internal/adminkey"
	"gigfs.io/gigfs/internal/daemon"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
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
func Main(args []string, checker netstore.TokenChecker) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stderr, checker, nil)
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
func run(ctx context.Context, args []string, stderr io.Writer, checker netstore.TokenChecker, h *hooks) int {
	logger := log.New(stderr, "gig-store: ", log.LstdFlags)
	fl := daemon.NewFlags("gig-store", DefaultAddr, usage, stderr)
	horizon := fl.Set.Duration("date-horizon", oplog.DefaultHorizon, "refuse ops dated further ahead of this store's clock")
	flushEvery := fl.Set.Duration("flush-interval", netstore.DefaultFlushInterval, "how often the oplogs' files are brought up to date from the write-ahead log")
	walMax := fl.Set.Int64("wal-max", netstore.DefaultWALMaxBytes, "bytes of write-ahead log past which a flush starts at once")
	walPrealloc := fl.Set.Int64("wal-prealloc", netstore.DefaultWALPrealloc, "most bytes a write-ahead log segment is preallocated with, zeros written ahead of need (0: none, segments are appended to)")
	walRecord := fl.Set.Int("wal-max-record", oplog.MaxJournalRecord, "most bytes of one push's accepted ops to one oplog (a write-ahead log record); past it they are refused (limit)")
	flushWorkers := fl.Set.Int("flush-workers", netstore.DefaultFlushWorkers, "oplogs' files a flush writes and fsyncs at once")
	mem := fl.Set.Int64("mem", netstore.DefaultMemBudget, "bytes of oplogs kept in memory; colder ones are dropped and read again from disk when used")
	memLimit := fl.Set.Int64("mem-limit", 0, "the process's soft memory limit in bytes (0: -mem + 64 MiB; GOMEMLIMIT, if set, wins)")
	callLog := fl.Set.Int("call-log", netstore.DefaultCallLog, "calls per user kept in the user's call log (/user/<id>/calls)")
	callFlush := fl.Set.Duration("call-log-flush", netstore.DefaultCallFlush, "how long a call's line may wait in memory before it is written with those queued meanwhile (0 or negative: written at once)")
	streamWants := fl.Set.Int("stream-wants", netstore.DefaultStreamWants, "oplogs, channels and origins one stream reader may name to be spared other events; past it the reader gets every event")
	allowUnix := fl.Set.Bool("allow-unix-table", false, "let a confirm name a table on a unix socket (the default when -addr is a unix socket)")
	if status, ok := fl.Parse(args, logger); !ok {
		return status
	}
	if *horizon <= 0 {
		return fl.Fail("-date-horizon %v: want a positive duration", *horizon)
	}
	if *mem <= 0 {
		return fl.Fail("-mem %d: want a positive number of bytes", *mem)
	}
	if *memLimit < 0 || (*memLimit > 0 && *memLimit <= *mem) {
		return fl.Fail("-mem-limit %d: want 0 or more bytes than -mem (%d)", *memLimit, *mem)
	}
	if *streamWants <= 0 {
		return fl.Fail("-stream-wants %d: want a positive count", *streamWants)
	}
	if *callLog <= 0 {
		return fl.Fail("-call-log %d: want a positive count", *callLog)
	}
	if *callFlush == 0 {
		*callFlush = -1 // at once
	}
	if *walPrealloc < 0 {
		return fl.Fail("-wal-prealloc %d: want 0 (none) or a number of bytes", *walPrealloc)
	}
	if *walRecord <= 0 || *walRecord > oplog.MaxJournalRecord {
		return fl.Fail("-wal-max-record %d: want 1 to %d bytes", *walRecord, oplog.MaxJournalRecord)
	}
	prealloc := *walPrealloc
	if prealloc == 0 {
		prealloc = -1 // none
	}
	if *flushEvery <= 0 || *walMax <= 0 || *flushWorkers <= 0 {
		return fl.Fail("-flush-interval %v, -wal-max %d, -flush-workers %d: want positive values", *flushEvery, *walMax, *flushWorkers)
	}
	key, err := adminkey.Load(fl.Data)
	if err != nil {
		logger.Print(err)
		return daemon.ExitError
	}
	limit, limitFrom := netstore.SetMemoryLimit(*mem, *memLimit)
	svc, err := netstore.Open(netstore.Config{Dir: fl.Data, Checker: checker, DateHorizon: *horizon, FlushInterval: *flushEvery, WALMaxBytes: *walMax, WALPrealloc: prealloc, WALMaxRecord: *walRecord, FlushWorkers: *flushWorkers,
		MemBudget: *mem, MemLimit: limit, CallLog: *callLog, CallFlush: *callFlush, StreamWants: *streamWants, AllowUnixTable: *allowUnix || isUnix(fl.Addr), Logf: logger.Printf})
	if err != nil {
		logger.Print(err)
		return daemon.ExitError
	}
	if h != nil {
		fl.Bind = h.bind
	}
	l, _, err := fl.Listen(logger)
	if err != nil {
		logger.Printf("listen %s: %v", fl.Addr, err)
		svc.Close()
		return daemon.ExitError
	}
	logger.Printf("listening on %s (%s); data %s; admin key in %s; epoch %s; memory: oplogs %d MiB (-mem), soft limit %d MiB (%s)",
		fl.Addr, l.Addr(), fl.Data, adminkey.Path(fl.Data), svc.Epoch(), *mem>>20, limit>>20, limitFrom)
	if h != nil && h.listening != nil {
		h.listening(l.Addr().String())
	}
	tree := &Tree{S: svc, AdminKey: key, Started: time.Now()}
	srv := &srv9p.Server{Attach: tree.Attach, Logf: logger.Printf}
	tree.Server = srv
	fl.Limits.Apply(srv)
	return daemon.Serve(ctx, logger, l, srv, svc.Close)
}

const usage = `usage: gig-store [-addr dialstring] [-data dir] [-date-horizon 24h] [-flush-interval 1s] [-wal-max bytes] [-wal-prealloc bytes] [-wal-max-record bytes] [-flush-workers 16] [-mem bytes] [-mem-limit bytes] [-call-log 1000] [-call-log-flush 100ms] [-cert file -key file] [-allow-unix-table]

Serves a GiG.fs store over 9P2000: per user, oplogs on disk and the
stream of accepted ops. The admin key is made on first start in
<data>/admin.key (mode 0600). The store's admin adds a user with gig-admin
(or by attaching as "admin" with aname "admin <key>" and writing
"user add <id>" to /admin/ctl); the reply is the confirmation code the
user gives the table (gig-channel add). The store checks tokens with the
table the confirm names, which must be tcp!host!port, tls!host!port or
host:port (unix!/path too with -allow-unix-table, or when -addr is a unix
socket). It runs until SIGINT or SIGTERM, then exits 0.

Example:

	gig-store -addr 'tcp!127.0.0.1!5641' -data ./store-data &
	gig-admin -addr 'tcp!127.0.0.1!5641' -data ./store-data user add alice
`

// isUnix reports whether the dial string addr is a unix socket: a store
// only this machine reaches may check tokens with a table on one too.
func isUnix(addr string) bool {
	network, _, err := srv9p.ParseAddr(addr)
	return err == nil && network == "unix"
}
