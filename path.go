package gigfs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/oplog"
)

type pathKey struct{ channel, typ, path string }

func (k pathKey) String() string { return k.channel + " " + k.typ + " " + k.path }

// pathState is what the client holds of one oplog: the union of what its
// stores hold and what it wrote, the value, and who watches it.
type pathState struct {
	c   *Client
	key pathKey

	loadMu  sync.Mutex
	loading chan struct{} // closed when the current load ends
	loaded  bool

	mu     sync.Mutex
	log    *oplog.Log
	value  json.RawMessage
	valErr error
	subs   map[*subscriber]struct{}
	ver    uint64 // moves with every change of log
	clean  uint64 // ver when a durable store was last seen holding all of log, plus 1
	used   int64  // unix ms of the last load
	// heldIf: when the log was clean before the client's own last op,
	// the ver with it: a durable store taking that op makes it clean.
	heldIf uint64
	// What pruneDue last found not due: the tail of checkpoint pruneBase
	// need not be asked again before it has pruneNext ops (or, for the
	// age, a while after pruneAt).
	pruneBase string
	pruneNext int
	pruneAt   time.Time
	// dueBase is the checkpoint whose tail pruneDue last found due: it
	// stays due until the checkpoint changes.
	dueBase string
	// coverableAsked counts pruneDue's Coverable calls (for tests).
	coverableAsked int

	syncMu      sync.Mutex
	syncTimer   *time.Timer
	syncRunning bool
	syncAgain   bool
	// syncPruneOnly: the sync set to start was asked for by pruneDue
	// alone (schedulePrune), so it starts only if the path is still due.
	syncPruneOnly bool
	// syncPruneBase is the checkpoint when that prune was asked for: if
	// another client's has replaced it when the timer fires, the prune
	// waits a delay again.
	syncPruneBase string
	// syncAgainPrune: a prune was asked for while a sync ran; it is
	// scheduled (schedulePrune) when the sync ends.
	syncAgainPrune bool
}

// pathState returns the state of k, made empty (not loaded) if new.
func (c *Client) pathState(k pathKey) *pathState {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.paths[k]
	if !ok {
		p = &pathState{c: c, key: k, log: oplog.NewLog(), subs: make(map[*subscriber]struct{})}
		c.mergePending(p)
		p.value, p.valErr = c.reg.Reduce(k.typ, k.path, p.log)
		c.paths[k] = p
		c.forgetDue++
	}
	return p
}

// load returns the state of (channel, typ, path), loaded: a path never
// loaded is read from every store of the channel; once one store answered,
// the others have ReadWait more to answer; what they all hold is merged.
func (c *Client) load(ctx context.Context, channel, typ, path string) (*pathState, error) {
	path, err := checkPath(typ, path)
	if err != nil {
		return nil, err
	}
	p := c.pathState(pathKey{channel, typ, path})
	p.mu.Lock()
	p.used = time.Now().UnixMilli()
	p.mu.Unlock()
	c.forgetSome()
	for {
		p.loadMu.Lock()
		if p.loaded {
			p.loadMu.Unlock()
			return p, nil
		}
		if p.loading == nil {
			p.loading = make(chan struct{})
			if !c.spawn(p.runLoad) {
				p.loading = nil
				p.loadMu.Unlock()
				return nil, ErrClosed
			}
		}
		wait := p.loading
		p.loadMu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		p.loadMu.Lock()
		loaded := p.loaded
		p.loadMu.Unlock()
		if !loaded {
			_, err := c.stores(ctx, channel)
			if err == nil {
				err = fmt.Errorf("%w for %s %s in channel %s", ErrNoAnswer, typ, path, channel)
			}
			return nil, err
		}
	}
}

// runLoad reads the path from every store of its channel.
func (p *pathState) runLoad() {
	c := p.c
	ok, agreed := p.readAll(c.ctx)
	p.loadMu.Lock()
	p.loaded = ok
	close(p.loading)
	p.loading = nil
	p.loadMu.Unlock()
	// When every store answered with the same log there is nothing to
	// copy: sync only if the path is due for a prune.
	switch {
	case ok && !agreed:
		c.scheduleSync(p, c.cfg.SyncDelay)
	case ok && c.pruneDue(p):
		c.schedulePrune(p)
	}
}

type readResult struct {
	log *oplog.Log
	err error
}

// readAll reads the path from every store; it returns whether one answered,
// and whether all answered with the same log. Answers that come after the
// bound are merged when they come.
func (p *pathState) readAll(ctx context.Context) (ok, agreed bool) {
	c := p.c
	stores, err := c.stores(ctx, p.key.channel)
	if err != nil {
		return false, false
	}
	type shape struct {
		base string
		n    int
	}
	var shapes []shape
	results := make(chan readResult, len(stores))
	for _, s := range stores {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
			defer cancel()
			l, err := s.Read(cctx, p.key.typ, storePath(p.key.channel, p.key.path))
			results <- readResult{l, err}
		}()
	}
	answered := 0
	var bound <-chan time.Time
	for pending := len(stores); pending > 0; pending-- {
		select {
		case r := <-results:
			if r.err != nil {
				continue
			}
			// mergeLog takes the answer over: what is needed of it is
			// read first.
			shapes = append(shapes, shape{r.log.Base().Sha, r.log.Len()})
			data := hasData(r.log)
			p.mergeLog(r.log, true)
			answered++
			// An empty store must not win over one that has the data:
			// only an answer with data starts the bound on the others.
			if bound == nil && data {
				bound = time.After(c.cfg.ReadWait)
			}
		case <-bound:
			// Late answers are merged when they come.
			c.spawn(func() {
				for n := pending; n > 0; n-- {
					if r := <-results; r.err == nil {
						p.mergeLog(r.log, true)
					}
				}
			})
			return true, false
		}
	}
	if answered < len(stores) {
		return answered > 0, false
	}
	// Each store's records are in the union: the same checkpoint and as
	// many records means the same log.
	p.mu.Lock()
	defer p.mu.Unlock()
	union := shape{p.log.Base().Sha, p.log.Len()}
	for _, s := range shapes {
		if s != union {
			return true, false
		}
	}
	for _, s := range stores {
		if durable(s) {
			p.clean = p.ver + 1 // a store that outlives us holds it all
		}
	}
	return true, true
}

// hasData reports whether a log holds anything but the initial checkpoint.
func hasData(l *oplog.Log) bool {
	return l.Len() > 1 || l.Base().Sha != initialSha
}

var initialSha = oplog.Initial().Sha

// mergeOp merges one op, checked already (Op.Check), into the state, as
// merge does, and returns what the log made of it. The clock does not observe the op: the caller has
// it observe the op once a store takes it (an op every store refuses, too
// far in the future for them, must not date the client's next ops).
func (p *pathState) mergeOp(o oplog.Op) oplog.Result {
	p.mu.Lock()
	r := p.log.MergeChecked(o)
	if r.Outcome() == oplog.Accepted {
		p.ver++
		p.revalue(&o)
	}
	p.mu.Unlock()
	if r.Outcome() == oplog.Accepted {
		p.c.publishOp(p.key, o)
	}
	return r
}

// merge merges records into the state and reports whether the log changed.
// The records are checked already (oplog.Decode, NewOp, NewCheckpoint):
// they are not verified again. When the value changes, watchers hear of it
// once; cause is the op behind the change, if one op is.
func (p *pathState) merge(recs []oplog.Op, cause *oplog.Op) bool {
	p.mu.Lock()
	// One op dated after every op of the log (a stream event, most
	// often): its value follows from the current one, without reducing
	// the whole tail again.
	// Nor one dated before others, when the type's value does not depend
	// on the order of its ops (an integer counter): with 16 clients on one
	// path, most events are.
	var next json.RawMessage
	if len(recs) == 1 && recs[0].Kind() == oplog.KindOp && p.valErr == nil && p.value != nil {
		if p.log.Last(&recs[0]) {
			if v, err := p.c.reg.ReduceNext(p.key.typ, p.key.path, p.log, p.value, recs[0].Payload); err == nil {
				next = v
			}
		} else if v, ok := p.c.reg.ReduceAnywhere(p.key.typ, p.value, recs[0].Payload); ok {
			next = v
		}
	}
	changed := false
	var fresh []oplog.Op
	for i := range recs {
		p.c.observe(&recs[i])
		if p.log.MergeChecked(recs[i]).Outcome() == oplog.Accepted {
			changed = true
			p.ver++
			if recs[i].Kind() == oplog.KindOp {
				fresh = append(fresh, recs[i])
			}
		}
	}
	switch {
	case changed && next != nil && len(fresh) == 1:
		p.setValue(next, nil, cause)
	case changed:
		p.revalue(cause)
	}
	p.mu.Unlock()
	for _, o := range fresh {
		p.c.publishOp(p.key, o)
	}
	return changed
}

// mergeLog merges what a store holds into the state, as merge does; the
// store's log was checked as it was read, so its records are not checked
// again. With own, it takes l over (oplog.Log.MergeLogOwned: into a state
// that holds nothing yet, a store's answer becomes the state's log without
// a copy) and l must not be used afterwards.
func (p *pathState) mergeLog(l *oplog.Log, own bool) bool {
	p.mu.Lock()
	base := l.Base()
	p.c.observe(&base)
	// Ops are in date order: the latest date within the horizon is the
	// one that moves the clock.
	ops := l.Ops()
	for i := len(ops) - 1; i >= 0; i-- {
		p.c.observe(&ops[i])
		if p.c.clock.Observe(ops[i].Date) {
			break
		}
	}
	var added []oplog.Op
	if own {
		added = p.log.MergeLogOwned(l)
	} else {
		added = p.log.MergeLog(l)
	}
	if len(added) > 0 {
		p.ver++
	}
	if len(added) > 0 {
		p.revalue(nil)
	}
	p.mu.Unlock()
	for i := range added {
		if added[i].Kind() == oplog.KindOp {
			p.c.publishOp(p.key, added[i])
		}
	}
	return len(added) > 0
}

// revalue recomputes the value after a change of the log and tells the
// watchers if it changed. Called with p.mu held.
func (p *pathState) revalue(cause *oplog.Op) {
	v, err := p.c.reg.Reduce(p.key.typ, p.key.path, p.log)
	p.setValue(v, err, cause)
}

// setValue records the value of the log and tells the watchers if it
// changed. Called with p.mu held.
func (p *pathState) setValue(v json.RawMessage, err error, cause *oplog.Op) {
	if bytes.Equal(v, p.value) && errors.Is(err, p.valErr) && (err == nil) == (p.valErr == nil) {
		return
	}
	p.value, p.valErr = v, err
	ch := Change{Channel: p.key.channel, Type: p.key.typ, Path: p.key.path, Value: v, Err: err}
	if cause != nil {
		o := *cause
		ch.Op = &o
	}
	for s := range p.subs {
		s.send(ch)
	}
}

// current returns the value and its error.
func (p *pathState) current() (json.RawMessage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.value, p.valErr
}

// checkPath validates a type and a path and returns the path's clean form.
func checkPath(typ, path string) (string, error) {
	_, p, err := gig.ParseTypePath(typ, path)
	return string(p), err
}

// Get returns the value of (channel, typ, path): from memory once the path
// is loaded, else after loading it from the channel's stores.
func (c *Client) Get(ctx context.Context, channel, typ, path string) (json.RawMessage, error) {
	p, err := c.load(ctx, channel, typ, path)
	if err != nil {
		return nil, err
	}
	return p.current()
}

// Log returns a copy of the client's oplog of (channel, typ, path), loading
// it if needed.
func (c *Client) Log(ctx context.Context, channel, typ, path string) (*oplog.Log, error) {
	p, err := c.load(ctx, channel, typ, path)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Clone(), nil
}
