package netstore

import "context"

// An EventStream is a store's stream of accepted ops, read from a cursor:
// in process (Cursor, as an on-disk local store is read) or over 9P
// (remote.StreamReader). Both pass one conformance test: cut after any
// event and resumed from its (epoch, seq), a stream yields every event
// once, in order.
type EventStream interface {
	// NextEvent blocks until the next event or the end of ctx.
	NextEvent(ctx context.Context) (Event, error)
	// Close ends the stream.
	Close() error
}

var _ EventStream = (*Cursor)(nil)

// NextEvent is Next, parsed.
func (c *Cursor) NextEvent(ctx context.Context) (Event, error) {
	line, err := c.Next(ctx)
	if err != nil {
		return Event{}, err
	}
	return ParseEvent(line)
}

// Close ends the cursor. A cursor holds nothing of the store's: it only
// stops being read.
func (c *Cursor) Close() error { return nil }
