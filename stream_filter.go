package gigfs

import (
	"context"
	"slices"
)

// The client asks each remote store's stream for the events it needs
// (netstore's stream filter, PROTOCOL.md), not every event of the user:
// those of the oplogs it holds (c.paths) and of the channels it watches
// whole (c.chanSubs), less the ops of its own origin on the oplogs it
// holds, which it merged when it made them. An oplog is wanted before it
// is read from the store (remoteStore.Read), so an event published after
// the read began is sent, and one before is in what the read returns. A
// channel is wanted once its first watcher is subscribed. Wants are never
// taken back: an oplog the client forgot costs its events until the
// stream is opened again.

// filter is what the stream of rs is opened with: every want so far, the
// oplogs the client holds and the channels it watches that rs serves,
// and the skip of the client's own origin. Called with rs.wmu held.
func (rs *remoteStore) filter() []string {
	c := rs.c
	c.mu.Lock()
	for ch, ids := range c.remote {
		if !slices.Contains(ids, rs.id) {
			continue
		}
		if len(c.chanSubs[ch]) > 0 {
			rs.wants["/"+ch+"/"] = true
		}
	}
	for k := range c.paths {
		if slices.Contains(c.remote[k.channel], rs.id) {
			rs.wants[storePath(k.channel, k.path)] = true
		}
	}
	c.mu.Unlock()
	lines := []string{"skip " + c.origin}
	for w := range rs.wants {
		lines = append(lines, "want "+w)
	}
	return lines
}

// want asks the store's stream for the events of w, an oplog
// ("/<channel>/<path>") or a channel ("/<channel>/"), unless it has them
// already. A stream down takes it when it opens again.
func (rs *remoteStore) want(ctx context.Context, w string) {
	rs.wmu.Lock()
	defer rs.wmu.Unlock()
	if rs.wants[w] || rs.wants[channelPrefix(w)] {
		return
	}
	rs.wants[w] = true
	rs.mu.Lock()
	sr, r := rs.sr, rs.r
	rs.mu.Unlock()
	if sr == nil || !sr.Filtered() {
		return
	}
	if err := sr.Want(ctx, "want "+w); err != nil {
		// The stream cannot be told: open it again, with w.
		rs.hangup(r, err)
	}
}

// wantChannel asks the remote stores of channel for all its events: a
// channel-wide watcher has just subscribed.
func (c *Client) wantChannel(ctx context.Context, channel string) {
	stores, err := c.stores(ctx, channel)
	if err != nil {
		return
	}
	for _, st := range stores {
		if rs, ok := st.(*remoteStore); ok {
			rs.want(ctx, "/"+channel+"/")
		}
	}
}

// channelPrefix is "/<channel>/" of an oplog's store path.
func channelPrefix(spath string) string {
	channel, _, ok := splitStorePath(spath)
	if !ok {
		return ""
	}
	return "/" + channel + "/"
}
