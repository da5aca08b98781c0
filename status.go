package gigfs

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A StoreState says whether one store of a channel answers now.
type StoreState struct {
	Channel string
	Store   string // as named in reports
	Local   bool   // a local store (in memory or on disk)
	Up      bool
	RTT     time.Duration // of one round trip, for a remote store that is up
	Err     error         // why it is down
}

// StoreStates says, for each store of a channel, whether it answers and
// how long a round trip to it takes (remote stores are asked in turn,
// each within the call timeout).
func (c *Client) StoreStates(ctx context.Context, channel string) ([]StoreState, error) {
	stores, err := c.stores(ctx, channel)
	if err != nil {
		return nil, err
	}
	out := make([]StoreState, 0, len(stores))
	for _, s := range stores {
		st := StoreState{Channel: channel, Store: s.Name()}
		rs, ok := s.(*remoteStore)
		if !ok {
			st.Local, st.Up = true, true
			out = append(out, st)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		if r := rs.firstConn(cctx); r == nil {
			st.Err = errOffline
		} else {
			start := time.Now()
			if st.Err = r.Ping(cctx); st.Err == nil {
				st.Up, st.RTT = true, time.Since(start)
			} else {
				rs.fail(r, st.Err)
			}
		}
		cancel()
		out = append(out, st)
	}
	return out, nil
}

// PendingPath is a path with ops that no durable store has acknowledged.
type PendingPath struct {
	Channel, Type, Path string
	Ops                 int
}

// Pending lists the ops still pending in the origin lease folder
// (Config.OriginDir): those of every slot, this client's and those of
// other runs, live or ended (an ended run's are sent again by the next
// client that takes its slot). Without a lease folder, none are listed.
func (c *Client) Pending() ([]PendingPath, error) {
	counts := make(map[pathKey]int)
	if c.cfg.OriginDir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(c.cfg.OriginDir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, e := range ents {
		num, ok := strings.CutPrefix(e.Name(), "slot-")
		num, ok2 := strings.CutSuffix(num, ".json")
		n, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil {
			continue
		}
		l := &lease{dir: c.cfg.OriginDir, slot: n, logf: func(string, ...any) {}, paths: make(map[pathKey]*leasePath)}
		if err := l.load(); err != nil {
			c.cfg.Logf("gigfs: pending ops: %s: %v", filepath.Join(c.cfg.OriginDir, e.Name()), err)
			continue
		}
		for k, lp := range l.paths {
			if len(lp.pending) > 0 {
				counts[k] += len(lp.pending)
			}
		}
	}
	out := make([]PendingPath, 0, len(counts))
	for k, n := range counts {
		out = append(out, PendingPath{k.channel, k.typ, k.path, n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Channel != b.Channel {
			return a.Channel < b.Channel
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Path < b.Path
	})
	return out, nil
}
