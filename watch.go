package gigfs

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"gigfs.io/gigfs/oplog"
)

// A Change is a new value of a path, from a local write or a remote one.
type Change struct {
	Channel, Type, Path string
	Value               json.RawMessage
	Err                 error     // the reducer's error, if it failed
	Op                  *oplog.Op // the op that made the change, when one did
}

// An OpEvent is an op new to the client on some path of a channel.
type OpEvent struct {
	Channel, Type, Path string
	Op                  oplog.Op
	// Cursor is where to resume the watch from to miss nothing after
	// this op (Config.Resume, ParseCursor); "all" while a replay of what
	// the stores hold runs.
	Cursor string
}

// maxQueue bounds what a slow watcher may have waiting; past it the oldest
// notifications are dropped (and logged), so a stuck reader never stops
// the client.
const maxQueue = 1 << 16

// subscriber queues notifications for one watcher and hands them over in
// order on its own goroutine.
type subscriber struct {
	c       *Client
	mu      sync.Mutex
	cond    sync.Cond
	queue   []any
	done    bool
	dropped int
	seen    map[string]bool // for op watchers: shas already sent
	seenLog []string
	since   int64  // for op watchers: when the watch began (ms); older ops are no news
	channel string // for op watchers: the channel, for cursors
	hold    string // for op watchers: the cursor to give while a replay runs
	last    string // for op watchers: the cursor last given
	// positions: an op watcher that is also sent its cursor when a store's
	// stream moved with nothing for it (WatchOptions.Positions).
	positions bool
}

func newSubscriber(c *Client) *subscriber {
	s := &subscriber{c: c}
	s.cond.L = &s.mu
	return s
}

func (s *subscriber) send(v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	if len(s.queue) >= maxQueue {
		s.queue = s.queue[1:]
		s.dropped++
		if s.dropped == 1 || s.dropped%1000 == 0 {
			s.c.cfg.Logf("gigfs: a watcher is too slow: %d notifications dropped", s.dropped)
		}
	}
	s.queue = append(s.queue, v)
	s.cond.Signal()
}

// sendOp sends an op once, however many stores it comes from.
func (s *subscriber) sendOp(ev OpEvent) {
	cursor := s.c.cursorOf(s.channel)
	s.mu.Lock()
	if s.seen[ev.Op.Sha] {
		s.mu.Unlock()
		return
	}
	if s.hold != "" {
		cursor = s.hold
	}
	ev.Cursor, s.last = cursor, cursor
	s.seen[ev.Op.Sha] = true
	s.seenLog = append(s.seenLog, ev.Op.Sha)
	if len(s.seenLog) > maxQueue {
		delete(s.seen, s.seenLog[0])
		s.seenLog = s.seenLog[1:]
	}
	s.mu.Unlock()
	s.send(ev)
}

// sendPosition sends an op watcher with positions its cursor, moved by a
// store's stream with no op for it (a mark): an OpEvent with only Channel
// and Cursor. A position still queued is replaced, not followed.
func (s *subscriber) sendPosition() {
	s.mu.Lock()
	wants := s.positions && s.hold == "" && !s.done
	s.mu.Unlock()
	if !wants {
		return // no cursor to make
	}
	cursor := s.c.cursorOf(s.channel)
	s.mu.Lock()
	if s.hold != "" || cursor == s.last || s.done {
		s.mu.Unlock()
		return
	}
	s.last = cursor
	if n := len(s.queue); n > 0 {
		if ev, ok := s.queue[n-1].(OpEvent); ok && ev.Type == "" {
			s.queue[n-1] = OpEvent{Channel: s.channel, Cursor: cursor}
			s.mu.Unlock()
			return
		}
	}
	s.mu.Unlock()
	s.send(OpEvent{Channel: s.channel, Cursor: cursor})
}

// next blocks for the next notification; false once stopped.
func (s *subscriber) next() (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) == 0 && !s.done {
		s.cond.Wait()
	}
	if s.done {
		return nil, false
	}
	v := s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	return v, true
}

func (s *subscriber) stop() {
	s.mu.Lock()
	s.done = true
	s.cond.Broadcast()
	s.mu.Unlock()
}

// Watch loads (channel, typ, path) and returns a channel of its changes of
// value, once per change, local or remote, never for a no-op. The channel
// is closed when ctx ends.
func (c *Client) Watch(ctx context.Context, channel, typ, path string) (<-chan Change, error) {
	p, err := c.load(ctx, channel, typ, path)
	if err != nil {
		return nil, err
	}
	s := newSubscriber(c)
	p.mu.Lock()
	p.subs[s] = struct{}{}
	p.mu.Unlock()
	return pump[Change](ctx, c, s, func() {
		p.mu.Lock()
		delete(p.subs, s)
		p.mu.Unlock()
	})
}

// On calls fn with every change of (channel, typ, path) until the returned
// cancel is called. fn runs on a goroutine of its own, one call at a time.
func (c *Client) On(channel, typ, path string, fn func(Change)) (cancel func(), err error) {
	ctx, cancel := context.WithCancel(c.ctx)
	ch, err := c.Watch(ctx, channel, typ, path)
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		for chg := range ch {
			fn(chg)
		}
	}()
	return cancel, nil
}

// WatchOps returns a channel of the ops new to the client on any path of
// channel: written here, or arriving from a remote store's stream, each
// once. It is what mirrors a channel (gig-watch). The channel is closed
// when ctx ends.
func (c *Client) WatchOps(ctx context.Context, channel string) (<-chan OpEvent, error) {
	_, ch, err := c.watchOps(ctx, channel)
	return ch, err
}

func (c *Client) watchOps(ctx context.Context, channel string) (*subscriber, <-chan OpEvent, error) {
	if _, err := c.stores(ctx, channel); err != nil {
		return nil, nil, err
	}
	s := newSubscriber(c)
	s.seen = make(map[string]bool)
	s.since = time.Now().UnixMilli()
	s.channel = channel
	c.mu.Lock()
	if c.chanSubs[channel] == nil {
		c.chanSubs[channel] = make(map[*subscriber]struct{})
	}
	c.chanSubs[channel][s] = struct{}{}
	c.mu.Unlock()
	c.wantChannel(ctx, channel)
	ch, err := pump[OpEvent](ctx, c, s, func() {
		c.mu.Lock()
		delete(c.chanSubs[channel], s)
		c.mu.Unlock()
	})
	return s, ch, err
}

// setHold makes the subscriber give cursor with its events (a replay
// runs), or its live cursor again with "".
func (s *subscriber) setHold(cursor string) {
	s.mu.Lock()
	s.hold = cursor
	s.mu.Unlock()
}

// lastCursor is the cursor the subscriber last gave.
func (s *subscriber) lastCursor() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == "" {
		return CursorAll
	}
	return s.last
}

// pump hands a subscriber's notifications over a channel until ctx ends or
// the client closes; then it unsubscribes and closes the channel.
func pump[T any](ctx context.Context, c *Client, s *subscriber, unsubscribe func()) (<-chan T, error) {
	out := make(chan T)
	stop := func() {
		unsubscribe()
		s.stop()
	}
	if !c.spawn(func() {
		select {
		case <-ctx.Done():
		case <-c.ctx.Done():
		}
		stop()
	}) {
		stop()
		return nil, ErrClosed
	}
	delivering := c.spawn(func() {
		defer close(out)
		for {
			v, ok := s.next()
			if !ok {
				return
			}
			select {
			case out <- v.(T):
			case <-ctx.Done():
				return
			case <-c.ctx.Done():
				return
			}
		}
	})
	if !delivering {
		close(out)
	}
	return out, nil
}

// publishOp tells the op watchers of a channel about an op.
func (c *Client) publishOp(k pathKey, o oplog.Op) { c.publishOpSince(k, o, false) }

// publishOpSince tells the op watchers of a channel about an op; with
// since, only those that began watching before its date (older ops are no
// news to them).
func (c *Client) publishOpSince(k pathKey, o oplog.Op, since bool) {
	if o.Kind() != oplog.KindOp {
		return
	}
	c.mu.Lock()
	subs := make([]*subscriber, 0, len(c.chanSubs[k.channel]))
	for s := range c.chanSubs[k.channel] {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	for _, s := range subs {
		if !since || o.Date >= s.since {
			s.sendOp(OpEvent{Channel: k.channel, Type: k.typ, Path: k.path, Op: o})
		}
	}
}
