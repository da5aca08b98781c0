package oplog

import (
	"fmt"
	"sync"
	"time"

	"gigfs.io/gigfs/gig"
)

// DefaultHorizon is how far in the future an op's date may be: stores
// refuse ops dated later, and clocks ignore them.
const DefaultHorizon = 24 * time.Hour

// ErrFuture reports an op dated past a horizon: further in the future than
// a store accepts, or than a clock moves to.
var ErrFuture = gig.Errorf(gig.ErrLimit, "date too far in the future")

// CheckHorizon returns an error wrapping ErrFuture, naming the horizon, if
// o is dated more than horizon after now (milliseconds since the epoch). A
// horizon of zero or less checks nothing.
func CheckHorizon(o *Op, now int64, horizon time.Duration) error {
	if horizon <= 0 || o.Date <= now+horizon.Milliseconds() {
		return nil
	}
	return fmt.Errorf("%w: date %d is %v ahead, past the horizon of %v", ErrFuture, o.Date,
		time.Duration(o.Date-now)*time.Millisecond, horizon)
}

// A Clock issues op dates: milliseconds of the wall clock, but never below
// the largest date it has issued or seen plus one. Dates from one clock
// strictly increase, and an op made after reading another op is dated after
// it, whatever the skew between the two machines' clocks. The zero Clock
// uses time.Now and has no horizon.
type Clock struct {
	mu   sync.Mutex
	last int64
	// Now, when set, replaces time.Now (for tests).
	Now func() time.Time
	// Horizon, when positive, is how far past the wall clock a date
	// seen may move the clock: Observe ignores dates beyond it, so one op
	// dated in the year 9999 does not date every later op after it.
	Horizon time.Duration
}

func (c *Clock) now() int64 {
	if c.Now != nil {
		return c.Now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// Date returns the next date.
func (c *Clock) Date() int64 {
	d := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= c.last {
		d = c.last + 1
	}
	c.last = d
	return d
}

// Observe records a date seen on another op, so that later dates are above
// it. It reports false, and changes nothing, for a date past the horizon.
func (c *Clock) Observe(date int64) bool {
	if c.Horizon > 0 && date > c.now()+c.Horizon.Milliseconds() {
		return false
	}
	c.mu.Lock()
	if date > c.last {
		c.last = date
	}
	c.mu.Unlock()
	return true
}
