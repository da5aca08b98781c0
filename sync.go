package gigfs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// SyncReport says what a sync of one path did.
type SyncReport struct {
	Channel, Type, Path string
	Stores              []StoreReport
	// Agreed is true when every store of the channel answered and, after
	// the copies, all hold the same ops.
	Agreed bool
	// Pruned is the sha of the checkpoint the sync inserted, if any.
	Pruned string
	// TakenBack lists the shas of the client's ops that every store
	// answered and refused: the client took them back (see ErrRefused).
	TakenBack []string `json:",omitempty"`
}

// StoreReport is one store's part in a sync.
type StoreReport struct {
	Store    string
	Durable  bool // it keeps what it takes across the end of the client (not in memory)
	Answered bool
	Err      string   `json:",omitempty"`
	Had      int      // records it held
	Copied   int      // records it lacked and accepted
	Refused  []string `json:",omitempty"`
}

// pruneDue reports whether the tail of the path is long or old enough to be
// worth a checkpoint.
func (c *Client) pruneDue(p *pathState) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ops := p.log.Ops()
	if len(ops) == 0 {
		return false
	}
	// At most len(ops) can be covered, none older than the oldest op:
	// a short young tail is not due, whatever Coverable would say (and
	// with pruning off, no tail is).
	byOps := c.cfg.PruneOps > 0 && len(ops) >= c.cfg.PruneOps
	byAge := c.cfg.PruneAge > 0 && time.Since(time.UnixMilli(ops[0].Date)) >= c.cfg.PruneAge
	if !byOps && !byAge {
		return false
	}
	// Coverable costs the tail: once it said "not due" for a tail of this
	// checkpoint, it is asked again only when the tail has grown by an
	// eighth, or, for the age, a sixteenth of
	// PruneAge later: a long tail whose ops cannot be covered yet (a gap
	// in an origin's numbers) costs O(1) per event, not O(tail).
	base := p.log.Base().Sha
	if base == p.dueBase {
		// Found due for this checkpoint already: its tail only grew
		// since (while a prune is scheduled or runs, every event asks).
		return true
	}
	if base == p.pruneBase && len(ops) < p.pruneNext && (!byAge || time.Since(p.pruneAt) < c.cfg.PruneAge/16) {
		return false
	}
	// Only ops a checkpoint can cover count: an op after a gap in its
	// origin's numbers would keep the path "due" for ever.
	_, n, oldest := p.log.Coverable()
	p.coverableAsked++
	due := n > 0 && ((c.cfg.PruneOps > 0 && n >= c.cfg.PruneOps) ||
		(c.cfg.PruneAge > 0 && time.Since(time.UnixMilli(oldest)) >= c.cfg.PruneAge))
	if due {
		p.pruneBase, p.pruneNext, p.dueBase = "", 0, base
		return true
	}
	p.pruneBase, p.pruneAt = base, time.Now()
	p.pruneNext = len(ops) + max(len(ops)/8, 1)
	return false
}

// syncScheduled reports whether a sync of p is set to start and has not
// yet: scheduling another then does nothing, so what pruneDue would say
// need not be computed (it costs the length of the tail).
func (p *pathState) syncScheduled() bool {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	return p.syncTimer != nil && !p.syncRunning
}

// scheduleSync runs a sync of p after delay, once however many times it is
// asked meanwhile; asked while a sync runs, it runs again after.
func (c *Client) scheduleSync(p *pathState, delay time.Duration) {
	c.scheduleSyncFor(p, delay, false)
}

// schedulePrune schedules a sync of p because pruneDue said so: it starts
// between SyncDelay and twice that, and only if the path is still due
// then (and nothing else asked for a sync meanwhile). Clients that share a
// path reach "due" at the same ops: the first one's checkpoint reaches the
// others before their syncs start, and they need not read the stores and
// make checkpoints of their own that the stores would find superseded.
func (c *Client) schedulePrune(p *pathState) {
	d := c.cfg.SyncDelay
	if d > 0 {
		d += rand.N(d)
	}
	c.scheduleSyncFor(p, d, true)
}

func (c *Client) scheduleSyncFor(p *pathState, delay time.Duration, prune bool) {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	if p.syncRunning {
		// A prune asked for meanwhile is scheduled once the sync ends,
		// as any prune is: the sync running may be the one that prunes.
		if prune {
			p.syncAgainPrune = true
		} else {
			p.syncAgain = true
		}
		return
	}
	if p.syncTimer != nil {
		p.syncPruneOnly = p.syncPruneOnly && prune
		return
	}
	p.syncPruneOnly = prune
	if prune {
		p.mu.Lock()
		p.syncPruneBase = p.log.Base().Sha
		p.mu.Unlock()
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1) // under c.mu, so never after Close began waiting
	c.mu.Unlock()
	p.syncTimer = time.AfterFunc(delay, func() {
		defer c.wg.Done()
		p.syncMu.Lock()
		if p.syncPruneOnly {
			// The timer stays set meanwhile: another sync asked for now
			// joins this one (and clears syncPruneOnly).
			p.syncMu.Unlock()
			due := c.pruneDue(p)
			p.mu.Lock()
			moved := p.log.Base().Sha != p.syncPruneBase
			p.mu.Unlock()
			p.syncMu.Lock()
			if (!due || moved) && p.syncPruneOnly {
				// Not due, or another client pruned since this prune was
				// asked for: its tail, if due already, waits a delay of
				// its own, so that of the clients of a busy path one
				// prunes it at a time, not each in turn.
				p.syncTimer, p.syncPruneOnly = nil, false
				p.syncMu.Unlock()
				if due {
					c.schedulePrune(p)
				}
				return
			}
		}
		p.syncTimer, p.syncRunning, p.syncAgain, p.syncPruneOnly = nil, true, false, false
		p.syncMu.Unlock()
		c.runSync(p)
	})
}

// syncNow runs a background sync of p in the calling goroutine, which
// must be one c.wg counts, unless one is set to start or running (that
// one will see what this one would have).
func (c *Client) syncNow(p *pathState) {
	p.syncMu.Lock()
	if p.syncRunning || p.syncTimer != nil {
		p.syncAgain = p.syncAgain || p.syncRunning
		p.syncMu.Unlock()
		return
	}
	p.syncRunning, p.syncAgain = true, false
	p.syncMu.Unlock()
	c.runSync(p)
}

// runSync syncs p, again as long as it is asked meanwhile; p.syncRunning
// is set.
func (c *Client) runSync(p *pathState) {
	for {
		if c.ctx.Err() == nil {
			if _, err := c.sync(c.ctx, p, false, false); err != nil && c.ctx.Err() == nil {
				c.cfg.Logf("gigfs: sync %s: %v", p.key, err)
			}
		}
		p.syncMu.Lock()
		again := p.syncAgain && c.ctx.Err() == nil
		prune := p.syncAgainPrune && !again && c.ctx.Err() == nil
		p.syncRunning, p.syncAgain, p.syncAgainPrune = again, false, false
		p.syncMu.Unlock()
		if !again {
			c.syncEnded()
			if prune && c.pruneDue(p) {
				c.schedulePrune(p)
			}
			return
		}
	}
}

// Sync reads the oplog of (channel, typ, path) from every store of the
// channel, pushes to each store the ops it lacks and, if every store
// answered and all agree, inserts a checkpoint covering exactly the agreed
// ops when the tail is worth it (or always, with prune set). It reports
// what it saw and did, also when no store answered (each with its error).
func (c *Client) Sync(ctx context.Context, channel, typ, path string, prune bool) (SyncReport, error) {
	p, err := c.load(ctx, channel, typ, path)
	if errors.Is(err, ErrNoAnswer) && ctx.Err() == nil {
		// No store answered the first read: the report says what each
		// one answered this time.
		cpath, _ := checkPath(typ, path)
		p = c.pathState(pathKey{channel, typ, cpath})
	} else if err != nil {
		return SyncReport{}, err
	}
	return c.sync(ctx, p, prune, true)
}

// sync is Sync of a loaded path. With check, after a prune it reads every
// store again to report whether they agree (SyncReport.Agreed); a
// background sync, whose report nobody reads, does not.
func (c *Client) sync(ctx context.Context, p *pathState, forcePrune, check bool) (SyncReport, error) {
	rep := SyncReport{Channel: p.key.channel, Type: p.key.typ, Path: p.key.path}
	stores, err := c.stores(ctx, p.key.channel)
	if err != nil {
		return rep, err
	}
	spath := storePath(p.key.channel, p.key.path)
	logs := c.readStores(ctx, stores, p.key.typ, spath)
	rep.Stores = make([]StoreReport, len(stores))
	all := true
	for i, s := range stores {
		rep.Stores[i].Store = s.Name()
		rep.Stores[i].Durable = durable(s)
		if logs[i].err != nil {
			rep.Stores[i].Err = logs[i].err.Error()
			all = false
			continue
		}
		rep.Stores[i].Answered = true
		rep.Stores[i].Had = logs[i].log.Len()
		p.mergeLog(logs[i].log, false) // read again below: what each store lacks
	}

	// Push each store what it lacks, from one snapshot of the union.
	p.mu.Lock()
	snap := p.log.Clone()
	snapVer := p.ver
	p.mu.Unlock()
	// The client's own ops in it leave the process only once the lease
	// holds them durably (pushes still on their way wait for that too).
	if err := c.madeDurable(); err != nil {
		return rep, fmt.Errorf("sync %s: %w", p.key, err)
	}
	agreed := all
	// Stores with different checkpoints (two clients pruned at once) are
	// reconciled by a new checkpoint covering both, whatever the policy.
	reconcile := false
	for i := range logs {
		if logs[i].err == nil && logs[i].log.Base().Sha != snap.Base().Sha {
			reconcile = true
		}
	}
	var incomparable atomic.Bool
	var refusedMu sync.Mutex
	refusedBy := make(map[string]int) // sha of an op -> stores that refused it
	var wg sync.WaitGroup
	for i, s := range stores {
		if logs[i].err != nil {
			continue
		}
		var lack []netstore.Record
		for _, r := range snap.Records() {
			if !logs[i].log.Has(&r) {
				lack = append(lack, netstore.Record{Type: p.key.typ, Path: spath, Op: r})
			}
		}
		if len(lack) == 0 {
			continue
		}
		wg.Add(1)
		go func(sr *StoreReport) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
			defer cancel()
			res, err := s.Push(cctx, lack)
			if err != nil {
				sr.Err = err.Error()
				return
			}
			for j, r := range res {
				switch {
				case r.Outcome() != oplog.Refused:
					sr.Copied++
				case isIncomparable(r):
					// Another client's checkpoint raced ours; a new one
					// covering both settles it (below).
					incomparable.Store(true)
				default:
					sr.Refused = append(sr.Refused, fmt.Sprintf("%.12s: %s", lack[j].Op.Sha, r.Reason))
					if lack[j].Op.Kind() == oplog.KindOp && r.Code.Final() {
						refusedMu.Lock()
						refusedBy[lack[j].Op.Sha]++
						refusedMu.Unlock()
					}
				}
			}
		}(&rep.Stores[i])
	}
	wg.Wait()
	if all {
		// An op every store answered and refused is never accepted: take
		// it back rather than send it at every sync.
		for _, o := range snap.Ops() {
			if refusedBy[o.Sha] == len(stores) {
				if err := c.takeBack(p, o); err != nil {
					c.cfg.Logf("gigfs: sync %s: take back a refused op: %v", p.key, err)
				}
				rep.TakenBack = append(rep.TakenBack, o.Sha)
			}
		}
	}
	for i, sr := range rep.Stores {
		if sr.Err != "" || len(sr.Refused) > 0 {
			agreed = false
		} else if sr.Answered {
			c.held(p, stores[i], snap)
			if durable(stores[i]) {
				p.mu.Lock()
				if p.ver == snapVer {
					p.clean = snapVer + 1
				}
				p.mu.Unlock()
			}
		}
	}
	rep.Agreed = agreed
	if !agreed || !c.knowsAllStores() {
		return rep, nil
	}
	if !forcePrune && !reconcile && !incomparable.Load() && !c.pruneDue(p) {
		return rep, nil
	}
	sha, took, err := c.prune(ctx, p, snap, stores, logs)
	rep.Pruned = sha
	if sha == "" {
		return rep, err
	}
	// Agreed only if every store now holds the same log: a checkpoint
	// that some stores took and others did not leaves them different
	// (nothing is lost, but they do not agree), and so can another
	// client's write or prune meanwhile. Compare what they hold.
	if took < len(stores) {
		rep.Agreed = false
		return rep, err
	}
	if check {
		rep.Agreed = c.sameLogs(ctx, stores, p.key.typ, spath)
	}
	return rep, err
}

// sameLogs reads an oplog from every store and reports whether all
// answered and hold the same records.
func (c *Client) sameLogs(ctx context.Context, stores []Store, typ, spath string) bool {
	logs := c.readStores(ctx, stores, typ, spath)
	var first map[string]bool
	for i := range logs {
		if logs[i].err != nil {
			return false
		}
		set := make(map[string]bool)
		for _, r := range logs[i].log.Records() {
			set[r.Sha] = true
		}
		if first == nil {
			first = set
			continue
		}
		if len(set) != len(first) {
			return false
		}
		for sha := range set {
			if !first[sha] {
				return false
			}
		}
	}
	return true
}

// knowsAllStores reports whether the client knows every store of its
// channels: not while a remote table has not been read (or refused us). A checkpoint made
// from the local stores alone could cover ops the remote stores never saw
// while they hold a checkpoint of their own: the two would be incomparable
// and one side's ops lost to the other.
func (c *Client) knowsAllStores() bool {
	select {
	case <-c.tableSet:
		return c.tableErr == nil
	default:
		return false
	}
}

// prune inserts a checkpoint of the agreed snapshot on every store: it
// covers, per origin, the ops of the snapshot without gaps, so exactly ops
// that every store holds. The checkpoint goes to every store at once and
// is not cut short by ctx or by Close (which waits for it): a checkpoint
// half pushed leaves stores that differ. It returns the checkpoint's sha
// (empty if none was made) and how many stores took it.
func (c *Client) prune(ctx context.Context, p *pathState, snap *oplog.Log, stores []Store, logs []readResult) (string, int, error) {
	f, ok := c.reg.Lookup(p.key.typ)
	if !ok {
		return "", 0, nil // no reducer: the value cannot be computed, so no checkpoint
	}
	cp, ok, err := snap.Fold(f, c.clock.Date(), c.origin)
	if err != nil || !ok {
		return "", 0, err
	}
	// The checkpoint must supersede what every store has as its own.
	for i := range logs {
		if le, _ := logs[i].log.Base().Covers.Compare(cp.Covers); !le {
			return "", 0, nil
		}
	}
	// Counted as a delivery, so that Close waits for it; once Close has
	// begun, no checkpoint starts.
	if !c.startDelivery() {
		return "", 0, nil
	}
	defer c.inflight.Done()
	rec := []netstore.Record{{Type: p.key.typ, Path: storePath(p.key.channel, p.key.path), Op: cp}}
	base := context.WithoutCancel(ctx)
	var took atomic.Int32
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(base, c.cfg.CallTimeout)
			defer cancel()
			res, err := s.Push(cctx, rec)
			if err == nil && res[0].Outcome() == oplog.Refused {
				err = fmt.Errorf("checkpoint refused: %s", res[0].Reason)
			}
			if err != nil {
				// Stores that took it prune; the others get it at the next
				// sync. Nothing is lost either way.
				c.cfg.Logf("gigfs: prune %s on %s: %v", p.key, s.Name(), err)
				return
			}
			took.Add(1)
		})
	}
	wg.Wait()
	if took.Load() == 0 {
		// No store holds it: keep the ops rather than a base nobody has.
		return "", 0, fmt.Errorf("prune %s: no store took the checkpoint", p.key)
	}
	p.merge([]oplog.Op{cp}, nil)
	return cp.Sha, int(took.Load()), nil
}

func isIncomparable(r oplog.Result) bool {
	return r.Code == oplog.CodeIncomparable
}

// readStores reads one oplog from every store, concurrently.
func (c *Client) readStores(ctx context.Context, stores []Store, typ, spath string) []readResult {
	out := make([]readResult, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
			defer cancel()
			l, err := s.Read(cctx, typ, spath)
			out[i] = readResult{log: l, err: err}
		}()
	}
	wg.Wait()
	return out
}
