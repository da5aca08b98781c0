package gigfs

import (
	"time"

	"gigfs.io/gigfs/oplog"
)

// observe moves the client's clock past the date of an op read from a
// store, unless it is past the horizon: such a date is ignored, and the
// first one is logged.
func (c *Client) observe(o *oplog.Op) {
	if c.clock.Observe(o.Date) || c.futureSeen.Swap(true) {
		return
	}
	c.cfg.Logf("gigfs: op %.12s from origin %s is dated %d (unix ms), past the clock's horizon of %v (Config.DateHorizon): the clock ignores it and any later such dates",
		o.Sha, o.Origin, o.Date, c.cfg.DateHorizon)
}

// checkHorizon refuses an op made elsewhere dated past the horizon: stores
// would refuse it too.
func (c *Client) checkHorizon(o *oplog.Op) error {
	return oplog.CheckHorizon(o, time.Now().UnixMilli(), c.cfg.DateHorizon)
}
