package gigfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

// A long-running client keeps at most KeepPaths unwatched paths in memory:
// the least recently used are dropped once a store holds all they have,
// and read again when used; watched paths and paths with an op no store
// took are kept.
func TestClient_DropsUnwatchedPaths(t *testing.T) {
	w := newWorld(t, 1)
	cfg := w.config()
	cfg.KeepPaths = 10
	cfg.LocalTable = map[string][]LocalStore{"d": {{InMemory: true}}} // paths never dropped: nothing durable holds them
	c := w.client(cfg)
	// Calls keep their default timeouts (a loaded machine is slow); only
	// the while a used path is kept is short, so that the test is.
	c.keepUsed = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.Watch(ctx, "c", "counter", "/watched"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		mustPush(t, c, "c", "counter", fmt.Sprintf("/p%d", i), "1")
	}
	// An op no store took: the store is away. (/p0 is used just before,
	// so it is loaded, whatever was dropped while pushing the others.)
	mustGet(t, c, "c", "counter", "/p0")
	w.proxies[0].Cut()
	pctx, pcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	if _, err := c.Push(pctx, "c", "counter", "/p0", json.RawMessage(`10`)); !errors.Is(err, ErrPending) {
		t.Fatalf("push with the store away: %v", err)
	}
	pcancel()
	has := func(path string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.paths[pathKey{"c", "counter", path}]
		return ok
	}
	// A path just loaded is kept a while (a push may be between its load
	// and its merge): new paths are loaded, each making forgetting run,
	// once the one before is past that while.
	window := c.keepUsed
	probe, last := 0, time.Time{}
	eventually(t, 20*time.Second, func() error {
		if time.Since(last) > window {
			probe++
			last = time.Now()
			mustGet(t, c, "d", "counter", fmt.Sprintf("/probe%d", probe))
		}
		c.mu.Lock()
		n := 0
		for k := range c.paths {
			if k.channel == "c" {
				n++
			}
		}
		c.mu.Unlock()
		if n > 2 {
			return fmt.Errorf("%d paths of channel c in memory, want 2 (the watched one, the one with an op no store has)", n)
		}
		return nil
	})
	if !has("/p0") {
		t.Fatal("a path with an op no store has was dropped")
	}
	w.proxies[0].Heal()
	if !has("/watched") {
		t.Fatal("a watched path was dropped")
	}
	eventually(t, 10*time.Second, func() error { // the store reconnects
		got, err := c.Get(context.Background(), "c", "counter", "/p7")
		if err == nil && string(got) != "1" {
			t.Fatalf("a dropped path reads %s after a reload, want 1", got)
		}
		return err
	})
	// Once the store is back, the op reaches it.
	eventually(t, 10*time.Second, func() error {
		if _, err := c.Sync(context.Background(), "c", "counter", "/p0", false); err != nil {
			return err
		}
		if got := mustGet(t, c, "c", "counter", "/p0"); got != "11" {
			return fmt.Errorf("/p0 reads %s, want 11", got)
		}
		return nil
	})
}

// A client that only watches a channel loads no path itself, yet when a
// store comes back it syncs every path of the channel (syncWatched): the
// paths those syncs made are dropped once synced, as any other, so that
// gig-watch keeps at most KeepPaths of them however many the channel has.
func TestClient_ChannelWatchForgetsSyncedPaths(t *testing.T) {
	const paths = 40
	c, before := watchRepair(t, paths, func(cfg *Config) { cfg.KeepPaths = 10 })
	// Once it has synced every path of the channel, it keeps at most
	// KeepPaths of them.
	eventually(t, 30*time.Second, func() error {
		c.mu.Lock()
		n, synced := len(c.paths), c.syncsDone-before
		c.mu.Unlock()
		if synced < paths {
			return fmt.Errorf("the watcher synced %d paths: not yet the channel's %d", synced, paths)
		}
		if n > c.cfg.KeepPaths {
			return fmt.Errorf("%d paths in the watcher's memory once synced, want at most %d", n, c.cfg.KeepPaths)
		}
		return nil
	})
}

// A store that comes back is repaired for a channel-wide watcher at most
// Config.RepairSyncs paths at a time, not every path of the channel at
// once (each read into memory together).
func TestClient_RepairSyncsAFewAtATime(t *testing.T) {
	const paths = 40
	c, before := watchRepair(t, paths, func(cfg *Config) { cfg.RepairSyncs = 2 })
	eventually(t, 30*time.Second, func() error {
		c.mu.Lock()
		synced, peak := c.syncsDone-before, c.repairPeak
		c.mu.Unlock()
		if synced < paths {
			return fmt.Errorf("the watcher synced %d paths: not yet the channel's %d", synced, paths)
		}
		if peak < 1 || peak > c.cfg.RepairSyncs {
			return fmt.Errorf("%d repair syncs ran at once, want 1 to %d", peak, c.cfg.RepairSyncs)
		}
		return nil
	})
}

// watchRepair makes a channel of n paths, a client configured by set that
// watches it, then cuts its store and heals it: the client repairs it.
// It returns the client and its count of background syncs before the cut.
func watchRepair(t *testing.T, n int, set func(*Config)) (*Client, int) {
	t.Helper()
	w := newWorld(t, 1)
	writer := w.client(w.config())
	for i := range n {
		mustPush(t, writer, "c", "counter", fmt.Sprintf("/p%d", i), "1")
	}
	cfg := w.config()
	set(&cfg)
	events := make(chan error, 16)
	cfg.OnStore = func(_ string, err error) { events <- err }
	c := w.client(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := c.WatchOps(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, "c", "counter", "/p0") // the store is up for the watcher
	c.mu.Lock()
	before := c.syncsDone
	c.mu.Unlock()
	// The store goes away and comes back: the watcher syncs the channel.
	w.proxies[0].Cut()
	for err := range events {
		if err != nil {
			break
		}
	}
	w.proxies[0].Heal()
	for err := range events {
		if err == nil {
			break
		}
	}
	return c, before
}
