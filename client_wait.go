package gigfs

import "context"

// WaitTable waits until the remote table has been read (or refused the
// session), within ctx and the call timeout, so that what the client
// knows of its channels is the table's and not only its local stores'.
// Once a wait has timed out it no longer waits: the client works offline.
// It reports whether the table was read; with no remote table it returns
// true at once.
func (c *Client) WaitTable(ctx context.Context) bool {
	select {
	case <-c.tableSet:
		return c.TableErr() == nil
	default:
	}
	if c.tableLate.Load() {
		return false
	}
	wait, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	select {
	case <-c.tableSet:
		return c.TableErr() == nil
	case <-wait.Done():
		// The table is not answering: work offline, and stop waiting
		// for it on every call.
		c.tableLate.Store(ctx.Err() == nil)
		return false
	}
}
