package oplog

import (
	"sync"
	"time"
)

// A Clock issues op dates: milliseconds of the wall clock, but never below
// the largest date it has issued or seen plus one. Dates from one clock
// strictly increase, and an op made after reading another op is dated after
// it, whatever the skew between the two machines' clocks. The zero Clock
// uses time.Now.
type Clock struct {
	mu   sync.Mutex
	last int64
	// Now, when set, replaces time.Now (for tests).
	Now func() time.Time
}

// Date returns the next date.
func (c *Clock) Date() int64 {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	d := now().UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= c.last {
		d = c.last + 1
	}
	c.last = d
	return d
}

// Observe records a date seen on another op, so that later dates are above it.
func (c *Clock) Observe(date int64) {
	c.mu.Lock()
	if date > c.last {
		c.last = date
	}
	c.mu.Unlock()
}
