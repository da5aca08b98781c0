package gigfs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gigfs.io/gigfs/gig"
)

// ErrPruned is a time before the oplog's checkpoint: what a path held
// then is pruned (its effect is in the checkpoint's value).
var ErrPruned = gig.Errorf(gig.ErrNotExist, "history pruned")

// GetAt returns the value (channel, typ, path) had at date (unix ms): its
// checkpoint and the ops dated at or before date, reduced. History is
// kept since the last checkpoint: a date before it is an error wrapping
// ErrPruned that names the checkpoint's date. An op that arrived late
// counts from its date.
func (c *Client) GetAt(ctx context.Context, channel, typ, path string, date int64) (json.RawMessage, error) {
	l, err := c.Log(ctx, channel, typ, path)
	if err != nil {
		return nil, err
	}
	if base := l.Base(); base.Date > 0 && date < base.Date {
		return nil, fmt.Errorf("%s %s %s: %w: %s is before the last checkpoint (%s): the oplog keeps its history since then",
			channel, typ, path, ErrPruned, timeOf(date), timeOf(base.Date))
	}
	return c.reg.Reduce(typ, path, l.Until(date))
}

func timeOf(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
