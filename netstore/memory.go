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
// collection the store reads the live heap, and when it is over the high
// mark (see pressure: at most two thirds of the limit) the cache takes
// the excess off its budget and evicts, before the limit is reached; it
// gives it back as the live heap falls. Both are logged at most once a
// minute.

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

// pressure takes what the live heap has past the cache's high mark off
// the budget (and logs it), or gives back an eighth of what was taken
// once the live heap is well under the mark. The high mark is the limit
// less half the overhead (DefaultMemOverhead at most), and at most two
// thirds of the limit: the collector needs room over what is live, for
// the garbage and for the holes evictions leave in the heap's spans
// (with less, at 1M ops over 100k paths and the default budget: a live
// heap of ~270 MiB under a limit of 320 MiB kept the collector running
// all the time and the RSS went to 420 MiB; at three quarters, the live
// heap peaked at 258–280 MiB, the runtime held 348 MiB of which 45 were
// free slots in the heap's spans, and the RSS reached 347–353 MiB). It reports whether the cache
// should trim now.
func (c *oplogCache) pressure(live int64) bool {
	if c.limit <= 0 || c.budget <= 0 {
		return false
	}
	room := min(max(c.limit-c.budget, 0), DefaultMemOverhead) / 2
	high := min(c.limit-room, c.limit/3*2)
	squeeze := c.squeeze.Load()
	switch {
	case live > high:
		squeeze = min(squeeze+live-high, c.budget)
		c.squeeze.Store(squeeze)
		c.logEvery(&c.squeezeLogged, "store: live heap %d MiB near the soft memory limit (%d MiB): oplogs in memory kept to %d MiB instead of the budget's %d MiB", live>>20, c.limit>>20, (c.budget-squeeze)>>20, c.budget>>20)
		return true
	case squeeze > 0 && live < high-high/16:
		c.squeeze.Store(squeeze - squeeze/8)
	}
	return false
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
