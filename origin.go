package gigfs

import (
	"context"

	"gigfs.io/gigfs/oplog"
)

// originFor is the origin of the client's ops on a channel served by
// stores: the lease's when one of them outlives the process, else one of
// this run's own (ops only in memory die with the run; the lease's seqs,
// continued in a fresh memory store, would start after a gap that never
// fills, and nothing there could ever be pruned).
func (c *Client) originFor(stores []Store) string {
	if c.lease == nil {
		return c.origin
	}
	for _, s := range stores {
		if durable(s) {
			return c.origin
		}
	}
	return c.runOrigin
}

// nextSeq is the seq of the client's next op of origin on p: after every
// seq of the origin the log holds and, for the lease's origin, every seq
// it ever used there (ops still pending, or made by a run whose ops the
// stores this run reached do not have). Called with p.mu held.
func (c *Client) nextSeq(p *pathState, origin string) uint64 {
	n := p.log.NextSeq(origin)
	if c.lease != nil && origin == c.origin {
		n = max(n, c.lease.nextSeq(p.key))
	}
	return n
}

// made records an op the client made before it leaves the process: for
// the lease's origin, it is written to the journal so that its seq is
// never used again and a later run sends it if this one cannot. The op
// leaves the process only once madeDurable says the line is on disk.
// Called with p.mu held.
func (c *Client) made(p *pathState, o oplog.Op) error {
	if c.lease == nil || o.Origin != c.origin {
		return nil
	}
	return c.lease.record(p.key, o)
}

// madeDurable returns once every op made so far is durably in the lease's
// journal (one fsync for all the ops made meanwhile); at once without a
// lease or with nothing new.
func (c *Client) madeDurable() error {
	if c.lease == nil {
		return nil
	}
	return c.lease.durable()
}

// durable reports whether a store keeps what it accepts past the
// process: a remote store or an on-disk one, not a store in memory.
func durable(s Store) bool {
	_, mem := s.(*memStore)
	return !mem
}

// accepted notes that the store s took (or already had) the client's op
// o of p: once a durable store holds it, the lease need not send it again.
func (c *Client) accepted(p *pathState, s Store, o oplog.Op) {
	if durable(s) {
		p.mu.Lock()
		if p.heldIf != 0 && p.heldIf == p.ver && p.log.Has(&o) {
			p.clean = p.ver + 1 // all else was held already
		}
		p.mu.Unlock()
	}
	if c.lease != nil && o.Origin == c.origin && o.Kind() == oplog.KindOp && durable(s) {
		c.lease.ack(p.key, o.Seq)
	}
}

// held notes, after a sync, which of the lease's pending ops of p a
// durable store now holds (every op of snap, for a store that answered
// and took all it lacked).
func (c *Client) held(p *pathState, s Store, snap *oplog.Log) {
	if c.lease == nil || !durable(s) {
		return
	}
	for _, o := range c.lease.pending(p.key) {
		if snap.Has(&o) {
			c.lease.ack(p.key, o.Seq)
		}
	}
}

// mergePending puts the lease's pending ops of a new path state into its
// log: they were made, so they count, and syncs send them to the stores.
func (c *Client) mergePending(p *pathState) {
	if c.lease == nil {
		return
	}
	for _, o := range c.lease.pending(p.key) {
		p.log.Merge(o)
	}
}

// resendPending sends again, in the background, the ops an earlier run of
// the lease left pending (it ended, or crashed, before a durable store
// took them). Close waits for these sends as for pushes.
func (c *Client) resendPending() {
	if c.lease == nil {
		return
	}
	for _, k := range c.lease.pendingPaths() {
		p := c.pathState(k)
		c.spawn(func() {
			stores, err := c.stores(c.ctx, k.channel)
			if err != nil {
				c.cfg.Logf("gigfs: resend pending ops of %s: %v", k, err)
				return
			}
			for _, o := range c.lease.pending(k) {
				if _, err := c.deliver(context.WithoutCancel(c.ctx), p, stores, o); err != nil {
					c.cfg.Logf("gigfs: resend pending op of %s: %v", k, err)
					return
				}
			}
		})
	}
}
