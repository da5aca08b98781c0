package gigfs

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A Cursor is where a channel-wide watch is in the streams of the remote
// stores: per store id, the stream's epoch and the seq of the last event
// whose op the watch has handed on. Resuming from it (Config.Resume)
// loses nothing: a store that can no longer serve its position (another
// epoch, or too far behind) has its channels replayed from what the
// stores hold.
type Cursor map[string]StreamPos

// StreamPos is a position in one store's stream.
type StreamPos struct {
	Epoch string
	Seq   uint64
}

// CursorAll is the cursor of a watch that has not yet replayed all the
// stores hold: resuming from it replays everything again.
const CursorAll = "all"

// String encodes the cursor compactly: "<store_id>:<epoch>:<seq>" per
// store, sorted, joined by ",".
func (cu Cursor) String() string {
	ids := make([]string, 0, len(cu))
	for id := range cu {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%s:%d", id, cu[id].Epoch, cu[id].Seq)
	}
	return b.String()
}

// ParseCursor parses a cursor that Cursor.String made; "all" and "" are
// the empty cursor, all telling whether it was "all".
func ParseCursor(s string) (cu Cursor, all bool, err error) {
	cu = Cursor{}
	if s == CursorAll {
		return cu, true, nil
	}
	if s == "" {
		return cu, false, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		f := strings.Split(part, ":")
		if len(f) != 3 || f[0] == "" || f[1] == "" {
			return nil, false, fmt.Errorf("cursor %.40q: want <store_id>:<epoch>:<seq>,...", s)
		}
		seq, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			return nil, false, fmt.Errorf("cursor %.40q: bad seq %q", s, f[2])
		}
		cu[f[0]] = StreamPos{f[1], seq}
	}
	return cu, false, nil
}

// cursorOf is the cursor of the remote stores of a channel: for each, the
// position of the last event fully handed to the watchers. An event in
// progress is not counted, so a cursor never passes an op not yet handed
// on (resuming may hand one op per store again: a mirror's push of it is
// a no-op).
func (c *Client) cursorOf(channel string) string {
	c.mu.Lock()
	ids := slices.Clone(c.remote[channel])
	rss := make([]*remoteStore, 0, len(ids))
	for _, id := range ids {
		if rs := c.remotes[id]; rs != nil {
			rss = append(rss, rs)
		}
	}
	c.mu.Unlock()
	cu := Cursor{}
	for _, rs := range rss {
		rs.mu.Lock()
		if rs.doneEpoch != "" {
			cu[rs.id] = StreamPos{rs.doneEpoch, rs.doneSeq}
		}
		rs.mu.Unlock()
	}
	return cu.String()
}

// WatchOptions say where a channel-wide watch starts.
type WatchOptions struct {
	// All replays first every op the stores hold (since their
	// checkpoints), then goes on with the new ones.
	All bool
	// Positions also sends, when a store's stream moved past events of
	// other channels with none of this one (a mark, PROTOCOL.md), an
	// OpEvent with only Channel and Cursor set (Type empty): where to
	// resume from now. A mirror that keeps the last cursor it saw resumes
	// from there; without them, a quiet channel's cursor can fall behind
	// what the stores keep, and a resume reads the channel again.
	Positions bool
}

// WatchOpsFrom is WatchOps with options. Each event carries the cursor
// to resume from (OpEvent.Cursor): while a replay runs, the one it
// started from.
func (c *Client) WatchOpsFrom(ctx context.Context, channel string, opt WatchOptions) (<-chan OpEvent, error) {
	s, ch, err := c.watchOps(ctx, channel)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.positions = opt.Positions
	s.mu.Unlock()
	if opt.All {
		s.setHold(CursorAll)
		c.spawn(func() { c.replay(ctx, channel, []*subscriber{s}) })
	}
	return ch, nil
}

// replay hands the subscribers every op the stores of channel hold, once
// the remote stores' streams are open (so that nothing falls between the
// reads and the streams), then lets their cursors move again.
func (c *Client) replay(ctx context.Context, channel string, subs []*subscriber) {
	defer func() {
		for _, s := range subs {
			s.setHold("")
		}
	}()
	stores, err := c.stores(ctx, channel)
	if err != nil {
		return
	}
	for _, st := range stores {
		if rs, ok := st.(*remoteStore); ok {
			rs.firstConn(ctx)
		}
	}
	paths, err := c.Paths(ctx, channel)
	if err != nil {
		c.cfg.Logf("gigfs: replay of channel %s: %v", channel, err)
		return
	}
	for _, tp := range paths {
		l, err := c.Log(ctx, channel, tp.Type, tp.Path)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.cfg.Logf("gigfs: replay of %s %s %s: %v", channel, tp.Type, tp.Path, err)
			continue
		}
		for _, o := range l.Ops() {
			for _, s := range subs {
				s.sendOp(OpEvent{Channel: channel, Type: tp.Type, Path: tp.Path, Op: o})
			}
		}
	}
}

// streamLost is called when a remote store could not resume its stream
// where the client was (it restarted with another epoch, or the client
// fell too far behind): the channel-wide watchers of its channels may
// have missed ops, so their channels are replayed to them.
func (c *Client) streamLost(rs *remoteStore) {
	c.mu.Lock()
	type job struct {
		channel string
		subs    []*subscriber
	}
	var jobs []job
	for ch, ids := range c.remote {
		if !slices.Contains(ids, rs.id) || len(c.chanSubs[ch]) == 0 {
			continue
		}
		j := job{channel: ch}
		for s := range c.chanSubs[ch] {
			j.subs = append(j.subs, s)
		}
		jobs = append(jobs, j)
	}
	c.mu.Unlock()
	for _, j := range jobs {
		c.cfg.Logf("gigfs: %s could not resume its stream: replaying channel %s to its watchers", rs.Name(), j.channel)
		for _, s := range j.subs {
			s.setHold(s.lastCursor())
		}
		c.spawn(func() { c.replay(c.ctx, j.channel, j.subs) })
	}
}

// watchedChannels are the channels of rs that channel-wide watchers
// follow.
func (c *Client) watchedChannels(rs *remoteStore) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for ch, ids := range c.remote {
		if slices.Contains(ids, rs.id) && len(c.chanSubs[ch]) > 0 {
			out = append(out, ch)
		}
	}
	return out
}

// syncWatched syncs every path of the channels of rs that channel-wide
// watchers follow: a watch holds no path, yet it repairs a store that
// comes back, as the other long-running clients do. The syncs run in the
// background, at most Config.RepairSyncs at once for the whole client.
func (c *Client) syncWatched(rs *remoteStore) {
	chans := c.watchedChannels(rs)
	if len(chans) == 0 {
		return
	}
	c.spawn(func() {
		for _, ch := range chans {
			c.repair(rs, ch)
		}
	})
}

// repair syncs every path of channel ch, which rs serves: each sync in a
// goroutine of its own once it has one of the client's repair slots, so
// repair returns once the last one has started.
func (c *Client) repair(rs *remoteStore, ch string) {
	paths, err := c.Paths(c.ctx, ch)
	if err != nil {
		return
	}
	if n := c.cfg.RepairSyncs; n > 0 && len(paths) > n {
		c.cfg.Logf("gigfs: %s came back: syncing the %d paths of channel %s, %d at a time (Config.RepairSyncs)", rs.Name(), len(paths), ch, n)
	}
	for _, tp := range paths {
		if c.repairSlots != nil {
			select {
			case c.repairSlots <- struct{}{}:
			case <-c.ctx.Done():
				return
			}
		}
		p := c.pathState(pathKey{ch, tp.Type, tp.Path})
		c.mu.Lock()
		c.repairing++
		c.repairPeak = max(c.repairPeak, c.repairing)
		c.mu.Unlock()
		ok := c.spawn(func() {
			defer c.repaired()
			c.syncNow(p)
		})
		if !ok {
			c.repaired()
			return
		}
	}
}

// repaired gives back the repair slot of a sync that ended.
func (c *Client) repaired() {
	c.mu.Lock()
	c.repairing--
	c.mu.Unlock()
	if c.repairSlots != nil {
		<-c.repairSlots
	}
}

// storeMoved tells the op watchers of the channels rs serves that want
// positions (WatchOptions.Positions) that their cursor moved: rs's
// stream passed a mark, events of no op for them.
func (c *Client) storeMoved(rs *remoteStore) {
	var subs []*subscriber
	c.mu.Lock()
	for ch, ids := range c.remote {
		if slices.Contains(ids, rs.id) {
			for s := range c.chanSubs[ch] {
				subs = append(subs, s)
			}
		}
	}
	c.mu.Unlock()
	for _, s := range subs {
		s.sendPosition()
	}
}
