package netstore

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The memory of a store process has two bounds. The budget (MemBudget,
// gig-store -mem) is what the oplogs in memory may take, by the cache's
// estimate. The soft memory limit of the Go runtime (MemLimit, gig-store
// -mem-limit, GOMEMLIMIT) bounds the whole process: the budget plus a
// fixed overhead (DefaultMemOverhead) for the rest and for the
// collector's garbage; past it the collector runs early instead of
// letting the heap grow to twice what is live. The live heap must stay
// well under the limit, or the collector runs without end: after every
// collection the store reads the live heap, and keeps its oplogs to what
// leaves the live heap under the high mark (see pressure: at most three
// fifths of the limit) with what else is live, evicting before the limit
// is reached; it gives the budget back as the live heap falls. Both are
// logged at most once a minute.

// SetMemoryLimit sets the process's soft memory limit for a store with
// the given budget of oplogs: limit, or when limit is 0, the budget plus
// DefaultMemOverhead. The Go runtime is given a little less
// (runtimeLimit): the binary and memory the runtime does not manage count
// in the RSS but not in its limit. When the environment sets GOMEMLIMIT, that limit stays. It
// returns the limit in force and where it comes from, for the store's
// start line; pass the limit to Config.MemLimit.
func SetMemoryLimit(budget, limit int64) (int64, string) {
	if v := os.Getenv("GOMEMLIMIT"); v != "" && v != "off" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT=" + v
	}
	from := "-mem-limit"
	if limit <= 0 {
		limit, from = budget+DefaultMemOverhead, fmt.Sprintf("-mem + %d MiB", DefaultMemOverhead>>20)
	}
	debug.SetMemoryLimit(runtimeLimit(budget, limit))
	return limit, from
}

// runtimeLimit is the soft limit the Go runtime gets for a process
// limit: a quarter of what the limit has over the budget, at most 8 MiB,
// and at least a sixteenth of the limit, less (at 1M ops over 100k paths
// the RSS ran 5 MiB over what the runtime held, the binary and memory it
// does not manage).
func runtimeLimit(budget, limit int64) int64 {
	return limit - max(min(max(limit-budget, 0)/4, 8<<20), limit/16)
}

// gcTick is allocated for each collection; its cleanup runs after the
// collection that freed it.
type gcTick struct{ _ *byte }

// watchHeap has afterGC run after every collection until the cache
// closes.
func (c *oplogCache) watchHeap() {
	runtime.AddCleanup(new(gcTick), func(c *oplogCache) {
		if c.afterGC() {
			c.watchHeap()
		}
	}, c)
}

var heapSamples = []string{"/gc/heap/live:bytes", "/gc/heap/goal:bytes", "/gc/gogc:percent"}

// afterGC reads what the last collection measured and adjusts the
// cache's budget to it; false once the cache is closed.
func (c *oplogCache) afterGC() bool {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return false
	}
	c.gcs.Add(1)
	s := make([]metrics.Sample, len(heapSamples))
	for i, name := range heapSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	live, goal, gogc := int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64()), int64(s[2].Value.Uint64())
	if gogc > 0 && goal < live+live*gogc/100*9/10 {
		c.logEvery(&c.limitLogged, "store: soft memory limit (%d MiB) reached: the collector runs early to stay under it (live heap %d MiB, budget of oplogs %d MiB)", c.limit>>20, live>>20, c.budget>>20)
	}
	if c.pressure(live) {
		go c.trim()
	}
	return true
}

// pressure sets what the live heap takes off the cache's budget after a
// collection, and reports whether the cache should trim now. What is live
// besides the oplogs (the live heap less the cache's estimate: requests
// and flushes in progress, the streams, the runtime's own, and the
// estimate's error) leaves the oplogs the high mark less that; the budget
// is cut to it at once, so the cache stops growing before the live heap
// reaches the mark rather than after, and given back an eighth of the way
// at a time once the heap is lower.
//
// The high mark is the limit less half the overhead (DefaultMemOverhead
// at most), and at most three fifths of the limit: the collector needs
// room over what is live, for the garbage made while it marks and for the
// holes evictions leave in the heap's spans. At 1M ops over 100k paths
// and the default budget, with the mark at two thirds (213 MiB) and the
// excess taken off only once the live heap was over it, the live heap
// peaked at 252 MiB, the runtime held 324 MiB (73 of them free slots in
// its spans), and the RSS reached 327 MiB, over the 320 of the limit
// (with less room, three quarters, the collector ran all the time and
// the RSS went to 420 MiB); at three fifths (192 MiB) with the room kept
// for what else is live, the live heap peaked at 208–222 MiB, the
// runtime held 291–305 MiB (40–79 free in its spans) and the RSS 294–309
// MiB in four runs.
func (c *oplogCache) pressure(live int64) bool {
	if c.limit <= 0 || c.budget <= 0 {
		return false
	}
	c.mu.Lock()
	bytes := c.bytes
	c.mu.Unlock()
	high := c.highMark()
	room := high - max(live-bytes, 0) // for the oplogs
	want := min(max(c.budget-room, 0), c.budget-1)
	squeeze := c.squeeze.Load()
	switch {
	case want > squeeze:
		c.squeeze.Store(want)
		c.logEvery(&c.squeezeLogged, "store: oplogs in memory kept to %d MiB instead of the budget's %d MiB, so that the live heap (now %d MiB, %d MiB of it besides the oplogs) stays under %d MiB, well under the soft memory limit (%d MiB)", (c.budget-want)>>20, c.budget>>20, live>>20, max(live-bytes, 0)>>20, high>>20, c.limit>>20)
		return bytes > c.budget-want
	case want < squeeze:
		c.squeeze.Store(squeeze - (squeeze-want+7)/8)
	}
	return false
}

// highMark is the live heap the cache keeps under (see pressure).
func (c *oplogCache) highMark() int64 {
	room := min(max(c.limit-c.budget, 0), DefaultMemOverhead) / 2
	return min(c.limit-room, c.limit/5*3)
}

// target is the budget less what the live heap took off it.
func (c *oplogCache) target() int64 {
	return max(c.budget-c.squeeze.Load(), 1)
}

// logEvery logs at most once a minute for the clock at last.
func (c *oplogCache) logEvery(last interface {
	Load() int64
	CompareAndSwap(old, new int64) bool
}, format string, args ...any) {
	now := time.Now().UnixMilli()
	if l := last.Load(); now-l >= time.Minute.Milliseconds() && last.CompareAndSwap(l, now) {
		c.logf(format, args...)
	}
}
