package gigfs

import (
	"sort"
	"time"
)

// forgetSome drops unwatched paths from memory once there are more than
// Config.KeepPaths of them, least recently loaded first, down to seven
// eighths of the bound. A path is dropped only when nothing can be lost
// or missed: nobody watches it, no load or sync of it is on its way, it
// was not used for a while (a push between its load and its merge), and a
// store that outlives the process was seen holding every op of it. What
// is dropped is read again from the stores when used.
//
// It runs when a path is loaded and when a background sync ends (a
// client that only watches a channel loads nothing, yet syncs every path
// of it when a store comes back). A scan walks every path, so it is done
// once per 1/64 of them made or synced since the last: a few steps per
// path, however many are waiting for their sync.
func (c *Client) forgetSome() {
	limit := c.cfg.KeepPaths
	c.mu.Lock()
	if limit < 0 || len(c.paths) <= limit || c.forgetDue < 1+len(c.paths)/64 {
		c.mu.Unlock()
		return
	}
	c.forgetDue = 0
	all := make([]*pathState, 0, len(c.paths))
	for _, p := range c.paths {
		all = append(all, p)
	}
	c.mu.Unlock()

	idle := time.Now().Add(-c.keepUsed).UnixMilli()
	type cand struct {
		p    *pathState
		used int64
	}
	var cands []cand
	for _, p := range all {
		if used, ok := p.forgettable(idle); ok {
			cands = append(cands, cand{p, used})
		}
	}
	excess := len(all) - limit*7/8
	if excess <= 0 || len(cands) == 0 {
		return
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].used < cands[j].used })
	cands = cands[:min(excess, len(cands))]
	c.mu.Lock()
	n := 0
	for _, cd := range cands {
		if c.paths[cd.p.key] == cd.p {
			delete(c.paths, cd.p.key)
			n++
		}
	}
	logNow := time.Since(c.forgotLog) >= time.Minute
	if logNow {
		c.forgotLog = time.Now()
	}
	kept := len(c.paths)
	c.mu.Unlock()
	if logNow && n > 0 {
		c.cfg.Logf("gigfs: dropped %d unwatched paths from memory, %d kept (Config.KeepPaths %d)", n, kept, limit)
	}
}

// syncEnded tells forgetSome that a background sync ended: its path may
// be forgettable now.
func (c *Client) syncEnded() {
	c.mu.Lock()
	c.forgetDue++
	c.syncsDone++
	c.mu.Unlock()
	c.forgetSome()
}

// forgettable reports whether p may be dropped (see forgetSome), and when
// it was last loaded.
func (p *pathState) forgettable(idle int64) (used int64, ok bool) {
	if !p.loadMu.TryLock() {
		return 0, false
	}
	loading := p.loading != nil
	p.loadMu.Unlock()
	if loading || !p.syncMu.TryLock() {
		return 0, false
	}
	syncing := p.syncTimer != nil || p.syncRunning
	p.syncMu.Unlock()
	if syncing || !p.mu.TryLock() {
		return 0, false
	}
	defer p.mu.Unlock()
	if len(p.subs) > 0 || p.clean != p.ver+1 || p.used > idle {
		return 0, false
	}
	return p.used, true
}
