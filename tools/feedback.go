package tools

import (
	"errors"

	"gigfs.io/gigfs"
)

// Feedback of the long-running tools (gig-watch, gig-fs, gig-push reading
// stdin): a line on stderr when a store or the table stops answering, and
// one when it answers again, so that a pipeline waiting on servers that
// are down does not sit silent. One-shot tools say nothing of it (their
// errors say it); in gigsh the shell's client is not told.

// newsOn makes the client e opens tell of stores and of the table that
// stop and start answering.
func (e *env) newsOn() { e.news = true }

// storeNews is Config.OnStore for a tool that waits.
func (e *env) storeNews(store string, err error) {
	if err != nil {
		e.status("%s does not answer (%s); waiting for it", store, oneLine(err.Error()))
		return
	}
	e.status("%s answers again", store)
}

// tableNews tells of the table that stops answering (err wraps
// gigfs.ErrTableUnreachable at start, gigfs.ErrTableLost later) and
// answers again (err nil), once each.
func (e *env) tableNews(err error) {
	e.errMu.Lock()
	was := e.tableDown
	switch {
	case errors.Is(err, gigfs.ErrTableUnreachable) || errors.Is(err, gigfs.ErrTableLost):
		e.tableDown = true
	case err == nil:
		e.tableDown = false
	default:
		e.errMu.Unlock()
		return
	}
	now := e.tableDown
	e.errMu.Unlock()
	switch {
	case now && !was:
		why := cause(cause(err, gigfs.ErrTableUnreachable), gigfs.ErrTableLost)
		e.status("table %s does not answer (%s); trying again", e.set.Table, oneLine(why.Error()))
	case !now && was:
		e.status("table %s answers again", e.set.Table)
	}
}
