package gigfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"gigfs.io/gigfs/internal/stack"
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
	Value json.RawMessage // the value of the path with the op (a payload's push)
	Op    oplog.Op        // the op
	// Stored is true once a store durably holds the op: a remote store, or
	// an on-disk local one (in a channel of in-memory stores only, one of
	// them). An op that only an in-memory store took, in a channel with
	// other stores, is not stored: it is gone if the client ends before
	// one of those takes it.
	Stored bool
	// New is false for a mirrored op (PushOpStart) the client already
	// held: it was not sent again.
	New bool
}

// PushAck is Push, saying whether the op is stored. Its error wraps
// ErrPending when no store at all took the op; an op that only in-memory
// stores took has a nil error and Stored false.
func (c *Client) PushAck(ctx context.Context, channel, typ, path string, payload json.RawMessage) (Ack, error) {
	pp, err := c.PushStart(ctx, channel, typ, path, payload)
	if err != nil {
		return Ack{}, err
	}
	return pp.Wait(ctx)
}

// A Pushing is a push on its way: its op is made and applied in the
// client (it is in the path's value and its watches), and is being sent
// to the channel's stores. Wait says what became of it. Pushes started one
// after another are made in that order (dates and seqs grow) and travel
// together: their stores' group commits, and the client's origin lease,
// share one fsync among them.
type Pushing struct {
	c      *Client
	p      *pathState
	ack    Ack
	d      *delivery // nil when nothing was sent (an op the client held)
	mirror bool      // PushOpStart: observe the op's date once accepted
}

// PushStart makes the op of payload on (channel, typ, path), applies it,
// and starts sending it to the channel's stores; it returns without
// waiting for them. Its errors are Push's before an op is made: a payload
// the type's reducer refuses, a path no store answered a read of
// (ErrNoAnswer), an unknown channel.
func (c *Client) PushStart(ctx context.Context, channel, typ, path string, payload json.RawMessage) (*Pushing, error) {
	p, err := c.load(ctx, channel, typ, path)
	if err != nil {
		return nil, err
	}
	stores, err := c.stores(ctx, channel)
	if err != nil {
		return nil, err
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
		return nil, fmt.Errorf("push %s %s %s: %w", channel, typ, path, err)
	}
	p.log.MergeChecked(o) // NewOp checked it
	if p.clean == p.ver+1 {
		p.heldIf = p.ver + 1
	}
	p.ver++
	p.setValue(value, nil, &o)
	p.mu.Unlock()
	c.publishOp(p.key, o)
	return &Pushing{c: c, p: p, ack: Ack{Value: value, Op: o, New: true}, d: c.send(p, stores, o)}, nil
}

// Op is the op the push made or mirrors.
func (pp *Pushing) Op() oplog.Op { return pp.ack.Op }

// Wait returns once one store of the channel, local or remote, has durably
// accepted the op, or every store answered, as Push and PushOp do. When
// ctx ends first its error wraps ErrPending: the op stays in the client and
// the stores it was sent to may still take it. An op every store refused
// is taken back (ErrRefused); pushes started after it, on the same path,
// were made with it in their values.
func (pp *Pushing) Wait(ctx context.Context) (Ack, error) {
	c, p := pp.c, pp.p
	a := pp.ack
	if pp.d == nil {
		return a, nil
	}
	stored, err := pp.d.wait(ctx)
	if errors.Is(err, ErrRefused) {
		return Ack{Op: a.Op}, err
	}
	if pp.mirror {
		c.observe(&a.Op)
	}
	if !p.syncScheduled() && c.pruneDue(p) {
		c.schedulePrune(p)
	}
	a.Stored = stored
	return a, err
}

// deliver sends o to every store and waits as delivery.wait does.
func (c *Client) deliver(ctx context.Context, p *pathState, stores []Store, o oplog.Op) (stored bool, err error) {
	return c.send(p, stores, o).wait(ctx)
}

// A delivery is an op on its way to every store of its channel.
type delivery struct {
	c       *Client
	p       *pathState
	o       oplog.Op
	stores  []Store
	answers chan answer
}

// answer is one store's answer to a delivery.
type answer struct {
	s       Store
	err     error
	refused bool // the store answered: it will not take the op
}

// send starts sending o to every store, each on a goroutine of its own
// that Close waits for; the client's own op leaves once its lease line is
// on disk.
func (c *Client) send(p *pathState, stores []Store, o oplog.Op) *delivery {
	d := &delivery{c: c, p: p, o: o, stores: stores, answers: make(chan answer, len(stores))}
	rec := []netstore.Record{{Type: p.key.typ, Path: storePath(p.key.channel, p.key.path), Op: o}}
	own := o.Origin == c.origin
	for _, s := range stores {
		if !c.startDelivery() {
			d.answers <- answer{s, ErrClosed, false}
			continue
		}
		ok := c.spawn(func() {
			stack.Reserve() // a push goes deep: one growth, now
			defer c.inflight.Done()
			if own {
				if err := c.madeDurable(); err != nil {
					d.answers <- answer{s, err, false}
					return
				}
			}
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
			d.answers <- answer{s, err, refused}
		})
		if !ok {
			c.inflight.Done()
			d.answers <- answer{s, ErrClosed, false}
		}
	}
	return d
}

// wait returns when one durable store accepted the op (stored; in a
// channel of in-memory stores only, any), or when every store answered and
// only in-memory ones accepted it (not stored, nil error). The others go
// on in the background; a store that fails leaves the path to be synced
// when it comes back. Call it once.
func (d *delivery) wait(ctx context.Context) (stored bool, err error) {
	c, p, stores := d.c, d.p, d.stores
	anyDurable := false
	for _, s := range stores {
		anyDurable = anyDurable || durable(s)
	}
	var errs []error
	refusals := 0
	volatile := false // an in-memory store took it
	for range stores {
		select {
		case a := <-d.answers:
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
		if err := c.takeBack(p, d.o); err != nil {
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
	pp, err := c.PushOpStart(ctx, channel, typ, path, o)
	if err != nil {
		return false, false, err
	}
	a, err := pp.Wait(ctx)
	return a.New, a.Stored, err
}

// PushOpStart is PushOp's start, as PushStart is Push's: it merges o and
// starts sending it; Wait says what became of it (Ack.New false and Stored
// true for an op the client already held, which is not sent again). Its
// errors are PushOp's refusals before anything is sent.
func (c *Client) PushOpStart(ctx context.Context, channel, typ, path string, o oplog.Op) (*Pushing, error) {
	if o.Kind() != oplog.KindOp {
		// A checkpoint stands for ops of its own channel: taken elsewhere
		// it would replace this channel's value.
		return nil, fmt.Errorf("push op to %s %s %s: a checkpoint cannot be mirrored, only ops", channel, typ, path)
	}
	if err := o.Check(); err != nil {
		return nil, fmt.Errorf("push op to %s %s %s: %w", channel, typ, path, err)
	}
	if err := c.checkHorizon(&o); err != nil {
		return nil, fmt.Errorf("push op to %s %s %s: %w (Config.DateHorizon)", channel, typ, path, err)
	}
	p, err := c.load(ctx, channel, typ, path)
	if err != nil {
		return nil, err
	}
	stores, err := c.stores(ctx, channel)
	if err != nil {
		return nil, err
	}
	switch r := p.mergeOp(o); r.Outcome() {
	case oplog.NoOp:
		return &Pushing{c: c, p: p, ack: Ack{Op: o, Stored: true}}, nil
	case oplog.Refused:
		// Another op holds its (origin, seq): the client refuses it as a
		// store would, and no store is asked.
		return nil, fmt.Errorf("push op to %s %s %s: %w: %w", channel, typ, path, ErrRefused, r.Err())
	}
	return &Pushing{c: c, p: p, ack: Ack{Op: o, New: true}, d: c.send(p, stores, o), mirror: true}, nil
}
