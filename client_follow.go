package gigfs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
	"gigfs.io/gigfs/table"
)

// followPoll is how often a client re-reads a mount table whose table
// serves no tablewait file (an older table).
const followPoll = 10 * time.Second

// followTable keeps the remote mount table current until the client
// closes: on a connection of its own, it waits on the table's tablewait
// file for the version to move past the one it knows, and applies each
// new table (setMountTable). A table that cannot be reached is dialled
// again with a backoff; one that refuses the session ends the following.
func (c *Client) followTable() {
	c.spawn(func() {
		rt := c.cfg.RemoteTable
		backoff := 100 * time.Millisecond
		version := int64(-1) // the first wait answers at once
		lost := false        // OnTable was told the table no longer answers
		for c.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.CallTimeout)
			tc, err := table.DialTrust(ctx, rt.Addr, rt.trust(), rt.User, "session "+rt.Session)
			cancel()
			if err == nil {
				backoff = 100 * time.Millisecond
				if lost {
					lost = false
					c.onTable(nil)
				}
				err = c.waitTable(tc, &version)
				tc.Close()
			}
			if c.ctx.Err() != nil {
				return
			}
			c.cfg.Logf("gigfs: table %s: following the mount table: %v", rt.Addr, err)
			if !lost && errors.Is(err, gig.ErrTransport) {
				lost = true
				c.onTable(fmt.Errorf("%w: %w", ErrTableLost, err))
			}
			if isRefusal(err) {
				return
			}
			select {
			case <-c.ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	})
}

// waitTable applies the changes of the mount table, as tc reports them,
// until a call fails.
func (c *Client) waitTable(tc *table.Client, version *int64) error {
	for c.ctx.Err() == nil {
		mt, v, err := tc.WaitTable(c.ctx, *version)
		if err != nil && errors.Is(srv9p.ParseError(err.Error()), gig.ErrNotExist) {
			return c.pollTable(tc)
		}
		if err != nil {
			return err
		}
		if int64(v) != *version {
			*version = int64(v)
			c.setMountTable(mt)
		}
	}
	return c.ctx.Err()
}

// pollTable re-reads the mount table every followPoll, for a table
// without tablewait.
func (c *Client) pollTable(tc *table.Client) error {
	for {
		select {
		case <-c.ctx.Done():
			return c.ctx.Err()
		case <-time.After(followPoll):
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.CallTimeout)
		mt, err := tc.Table(ctx)
		cancel()
		if err != nil {
			return err
		}
		c.setMountTable(mt)
	}
}

// refreshTable reads the mount table now (a channel the client does not
// know may have just been added) and applies it. It reports whether it
// could.
func (c *Client) refreshTable(ctx context.Context) bool {
	if c.cfg.RemoteTable == nil || !c.knowsAllStores() {
		return false
	}
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.tableMu.Lock()
	tc := c.table
	c.tableMu.Unlock()
	if tc == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	mt, err := tc.Table(ctx)
	if err != nil {
		c.cfg.Logf("gigfs: table %s: %v", c.cfg.RemoteTable.Addr, err)
		return false
	}
	c.setMountTable(mt)
	return true
}
