package gigfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// ErrPending reports a push that no store accepted yet: the op is applied
// in the client and will be sent again when a store comes back.
var ErrPending = errors.New("not yet accepted by any store")

// ErrRefused reports an op that every store of the channel answered and
// refused (an op over a store's date horizon or size bound, an (origin,
// seq) taken by another op): it will never be accepted, so the client
// takes it back: its log and the path's value are as they were before
// it, and it is not sent again. The error also wraps the first store's
// refusal, whose kind (gig.KindOf: invalid, limit, conflict) says why.
var ErrRefused = errors.New("refused by every store")

// Push applies payload to (channel, typ, path) at once and returns the new
// value once one store of the channel, local or remote, has durably
// accepted the op. If none has when ctx ends or every store failed, it
// returns the value with an error wrapping ErrPending: the op stays in the
// client and is sent again when a store comes back. Any JSON value is a
// valid payload, but one the type's reducer refuses (a string pushed to a
// counter) is refused before any op is made, so it can never break the
// path's value.
func (c *Client) Push(ctx context.Context, channel, typ, path string, payload json.RawMessage) (json.RawMessage, error) {
	a, err := c.PushAck(ctx, channel, typ, path, payload)
	return a.Value, err
}

// An Ack says what became of a pushed op.
type Ack struct {
	Value json.RawMessage // the value of the path with the op
	Op    oplog.Op        // the op
	// Stored is true once a store durably holds the op: a remote store, or
	// an on-disk local one (in a channel of in-memory stores only, one of
	// them). An op that only an in-memory store took, in a channel with
	// other stores, is not stored: it is gone if the client ends before
	// one of those takes it.
	Stored bool
}

// PushAck is Push, saying whether the op is stored. Its error wraps
// ErrPending when no store at all took the op; an op that only in-memory
// stores took has a nil error and Stored false.
func (c *Client) PushAck(ctx context.Context, channel, typ, path string, payload json.RawMessage) (Ack, error) {
	p, err := c.load(ctx, channel, typ, path)
	if err != nil {
		return Ack{}, err
	}
	stores, err := c.stores(ctx, channel)
	if err != nil {
		return Ack{}, err
	}
	p.mu.Lock()
	origin := c.originFor(stores)
	o, err := oplog.NewOp(c.clock.Date(), origin, c.nextSeq(p, origin), payload)
	var value json.RawMessage
	if err == nil {
		// The new op is dated after every op seen, so it comes last: the
		// value with it is the value of the log once it is merged.
		var cur json.RawMessage
		if p.valErr == nil {
			cur = p.value
		}
		value, err = c.reg.ReduceNext(p.key.typ, p.key.path, p.log, cur, o.Payload)
	}
	if err == nil {
		err = c.made(p, o)
	}
	if err != nil {
		p.mu.Unlock()
		return Ack{}, fmt.Errorf("push %s %s %s: %w", channel, typ, path, err)
	}
	p.log.Merge(o)
	if p.clean == p.ver+1 {
		p.heldIf = p.ver + 1
	}
	p.ver++
	p.setValue(value, nil, &o)
	p.mu.Unlock()
	c.publishOp(p.key, o)

	stored, err := c.deliver(ctx, p, stores, o)
	if errors.Is(err, ErrRefused) {
		return Ack{Op: o}, err
	}
	if c.pruneDue(p) {
		c.scheduleSync(p, c.cfg.SyncDelay)
	}
	return Ack{Value: value, Op: o, Stored: stored}, err
}

// deliver sends o to every store and returns when one durable store
// accepted it (stored; in a channel of in-memory stores only, any), or
// when every store answered and only in-memory ones accepted it (not
// stored, nil error). The others go on in the
// background; a store that fails leaves the path to be synced when it
// comes back.
func (c *Client) deliver(ctx context.Context, p *pathState, stores []Store, o oplog.Op) (stored bool, err error) {
	rec := []netstore.Record{{Type: p.key.typ, Path: storePath(p.key.channel, p.key.path), Op: o}}
	type answer struct {
		s       Store
		err     error
		refused bool // the store answered: it will not take the op
	}
	answers := make(chan answer, len(stores))
	for _, s := range stores {
		if !c.startDelivery() {
			answers <- answer{s, ErrClosed, false}
			continue
		}
		ok := c.spawn(func() {
			defer c.inflight.Done()
			cctx, cancel := context.WithTimeout(c.ctx, c.cfg.CallTimeout)
			defer cancel()
			res, err := s.Push(cctx, rec)
			var refused bool // for good: not a failure to store it now
			if err == nil && res[0].Outcome() == oplog.Refused {
				err, refused = res[0].Err(), res[0].Code.Final()
			}
			if err == nil {
				c.accepted(p, s, o)
			}
			answers <- answer{s, err, refused}
		})
		if !ok {
			c.inflight.Done()
			answers <- answer{s, ErrClosed, false}
		}
	}
	anyDurable := false
	for _, s := range stores {
		anyDurable = anyDurable || durable(s)
	}
	var errs []error
	refusals := 0
	volatile := false // an in-memory store took it
	for range stores {
		select {
		case a := <-answers:
			if a.err == nil {
				if durable(a.s) || !anyDurable {
					return true, nil
				}
				volatile = true
				continue
			}
			if a.refused {
				refusals++
			}
			errs = append(errs, fmt.Errorf("%s: %w", a.s.Name(), a.err))
		case <-ctx.Done():
			if volatile {
				return false, nil
			}
			return false, fmt.Errorf("push %s: %w (%v)", p.key, ErrPending, ctx.Err())
		}
	}
	if volatile {
		return false, nil
	}
	if refusals == len(stores) {
		// Every store answered, and none took it: none holds it, and
		// none ever will.
		if err := c.takeBack(p, o); err != nil {
			c.cfg.Logf("gigfs: push %s: take back a refused op: %v", p.key, err)
		}
		return false, fmt.Errorf("push %s: %w: %w", p.key, ErrRefused, errs[0])
	}
	return false, fmt.Errorf("push %s: %w: %w", p.key, ErrPending, errors.Join(errs...))
}

// takeBack removes from p the op o that every store refused: the value is
// again what it was without it, and the lease forgets it (its seq is free
// again when it was the last one used).
func (c *Client) takeBack(p *pathState, o oplog.Op) error {
	p.mu.Lock()
	if p.log.Drop(&o) {
		p.ver++
		p.revalue(nil)
	}
	p.mu.Unlock()
	if c.lease != nil && o.Origin == c.origin {
		return c.lease.drop(p.key, o.Seq)
	}
	return nil
}

// PushOp merges an op made elsewhere (read from another channel's watch,
// say) into (channel, typ, path), keeping its date, origin and sha, and
// sends it to the channel's stores as Push does. It reports whether the op
// was new to the client; pushing an op the client already holds is a no-op.
// An op whose (origin, seq) another op holds, in the client or in every
// store, is refused: the error wraps ErrRefused and a gig.ErrConflict.
func (c *Client) PushOp(ctx context.Context, channel, typ, path string, o oplog.Op) (bool, error) {
	isNew, _, err := c.PushOpAck(ctx, channel, typ, path, o)
	return isNew, err
}

// PushOpAck is PushOp, saying also whether a store durably took the op
// (see Ack.Stored). An op the client already held is not sent again and
// reported stored: the client read it from its stores, or pushed it
// before (a caller that saw that push pending knows better).
func (c *Client) PushOpAck(ctx context.Context, channel, typ, path string, o oplog.Op) (isNew, stored bool, err error) {
	if o.Kind() != oplog.KindOp {
		// A checkpoint stands for ops of its own channel: taken elsewhere
		// it would replace this channel's value.
		return false, false, fmt.Errorf("push op to %s %s %s: a checkpoint cannot be mirrored, only ops", channel, typ, path)
	}
	if err := o.Check(); err != nil {
		return false, false, fmt.Errorf("push op to %s %s %s: %w", channel, typ, path, err)
	}
	if err := c.checkHorizon(&o); err != nil {
		return false, false, fmt.Errorf("push op to %s %s %s: %w (Config.DateHorizon)", channel, typ, path, err)
	}
	p, err := c.load(ctx, channel, typ, path)
	if err != nil {
		return false, false, err
	}
	stores, err := c.stores(ctx, channel)
	if err != nil {
		return false, false, err
	}
	switch r := p.mergeOp(o); r.Outcome() {
	case oplog.NoOp:
		return false, true, nil
	case oplog.Refused:
		// Another op holds its (origin, seq): the client refuses it as a
		// store would, and no store is asked.
		return false, false, fmt.Errorf("push op to %s %s %s: %w: %w", channel, typ, path, ErrRefused, r.Err())
	}
	stored, err = c.deliver(ctx, p, stores, o)
	if errors.Is(err, ErrRefused) {
		return false, false, err
	}
	c.observe(&o)
	if c.pruneDue(p) {
		c.scheduleSync(p, c.cfg.SyncDelay)
	}
	return true, stored, err
}
