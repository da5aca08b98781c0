package tools

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"

	"gigfs.io/gigfs/srv9p"
)

// dialStarting dials a server that may be starting: while nothing listens
// at addr yet (connection refused), it tries again, for up to wait (and
// within ctx). So "gig-table ... & gig-admin ..." works without a sleep.
func dialStarting(ctx context.Context, wait time.Duration, addr string, trust srv9p.Trust, uname, aname string) (*srv9p.Client, error) {
	const every = 50 * time.Millisecond
	deadline := time.Now().Add(wait)
	for {
		c, err := srv9p.DialTrust(ctx, addr, trust, uname, aname)
		if err == nil || !notListening(err) || time.Now().After(deadline) {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(every):
		}
	}
}

// notListening reports whether a dial failed because nothing listens
// there (yet).
func notListening(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// waitKeyFile waits, for up to wait (and within ctx), for a server that is
// starting to make its admin key file (written whole, atomically).
func waitKeyFile(ctx context.Context, name string, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for {
		if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
