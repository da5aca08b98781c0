package daemon

import (
	"flag"
	"time"

	"gigfs.io/gigfs/srv9p"
)

// Limits are the per-connection and per-address limits every server
// takes as flags; their defaults are srv9p's (README, "Limits").
type Limits struct {
	Msize            uint
	MaxFids          int
	MaxBlockedReads  int
	IdleTimeout      time.Duration
	MaxInFlight      int
	MaxPending       int64
	MaxUnauth        int
	MaxUnauthPerAddr int
	AuthTimeout      time.Duration
	AttachDelay      time.Duration
	AttachMaxDelay   time.Duration
}

// addLimitFlags adds the limit flags to fs.
func addLimitFlags(fs *flag.FlagSet) *Limits {
	l := &Limits{}
	fs.UintVar(&l.Msize, "msize", srv9p.DefaultMsize, "largest 9P message, bytes (a client may ask for less)")
	fs.IntVar(&l.MaxFids, "max-fids", srv9p.DefaultMaxFids, "fids one connection may hold")
	fs.IntVar(&l.MaxBlockedReads, "max-blocked-reads", srv9p.DefaultMaxBlockedReads,
		"stream reads one connection may have waiting")
	fs.DurationVar(&l.IdleTimeout, "idle-timeout", srv9p.DefaultIdleTimeout,
		"a connection that sends nothing with no request in progress, or takes no reply, for this long is closed (negative: never)")
	fs.IntVar(&l.MaxInFlight, "max-inflight", srv9p.DefaultMaxInFlight,
		"requests in flight per connection; past it the server stops reading from the connection")
	fs.Int64Var(&l.MaxPending, "max-pending-bytes", srv9p.DefaultMaxPending,
		"bytes of requests and replies pending per connection; past it the server stops reading from the connection")
	fs.IntVar(&l.MaxUnauth, "max-unauth", srv9p.DefaultMaxUnauth,
		"connections open without a successful attach; more are closed at once")
	fs.IntVar(&l.MaxUnauthPerAddr, "max-unauth-per-addr", srv9p.DefaultMaxUnauthPerAddr,
		"connections open without a successful attach from one address (IPv4 address, IPv6 /64)")
	fs.DurationVar(&l.AuthTimeout, "auth-timeout", srv9p.DefaultAuthTimeout,
		"a connection that has not attached within this long is closed")
	fs.DurationVar(&l.AttachDelay, "attach-delay", srv9p.DefaultAttachDelay,
		"after 5 failed attaches from an address, its attaches take turns this far apart, doubling with each failure (negative: off)")
	fs.DurationVar(&l.AttachMaxDelay, "attach-delay-max", srv9p.DefaultAttachMaxDelay,
		"the longest delay between attaches of an address that keeps failing")
	return l
}

// Apply sets the limits on srv.
func (l *Limits) Apply(srv *srv9p.Server) {
	srv.Msize = uint32(min(l.Msize, 1<<24))
	srv.MaxFids = l.MaxFids
	srv.MaxBlockedReads = l.MaxBlockedReads
	srv.IdleTimeout = l.IdleTimeout
	srv.MaxInFlight = l.MaxInFlight
	srv.MaxPending = l.MaxPending
	srv.MaxUnauth = l.MaxUnauth
	srv.MaxUnauthPerAddr = l.MaxUnauthPerAddr
	srv.AuthTimeout = l.AuthTimeout
	srv.AttachDelay = l.AttachDelay
	srv.AttachMaxDelay = l.AttachMaxDelay
}
