package srv9p

import (
	"context"
	"encoding/binary"

	"9fans.net/go/plan9"
	lib "9fans.net/go/plan9/srv9p"
)

// A Tclunk answered with the error of the fid's Handle.Close.
//
// 9P2000 lets a server answer a Tclunk with an Rerror (clunk(5): the fid
// is clunked even so), and Plan 9's close(2) returns that error: it is how
// a server says that the last writes on a fid came to nothing (here, an
// unterminated line dropped). The library's Clunk hook runs after the
// reply and returns nothing, so no error could reach the client through
// it. Its Tremove, though, is a clunk that calls us first and answers with
// our error: it forgets the fid whatever we return, then calls Remove with
// the fid (which holds our fidState), and an error becomes the Rerror.
//
// So the reader hands the library each Tclunk as a Tremove of the same
// tag and fid, and the writer turns the Rremove back into an Rclunk (the
// two replies are the same but for their type; an Rerror stays as it is).
// conn.remove tells a clunk from a real Tremove by what is in flight: the
// reader never lets the two kinds be in flight at once (one waits, in the
// reader, until the other kind's replies are written; Close and Remove
// never block for long). A client that breaks the protocol by reusing a
// tag still in flight may have its clunk taken for a remove or the reverse,
// on its own fid, which it could have asked for anyway: nothing it may not
// do, and no count is left behind (each tag leaves at its first reply).
// The library's trace shows such clunks as Tremove.

// endsFid prepares msg, read from the network, for the library: a Tclunk
// becomes a Tremove (see above), and a Tclunk or Tremove waits, if needed,
// until no request of the other kind is in flight. It returns false if the
// connection closed while it waited.
func (c *conn) endsFid(msg []byte) bool {
	typ := msg[4]
	if typ != plan9.Tclunk && typ != plan9.Tremove {
		return true
	}
	tag := binary.LittleEndian.Uint16(msg[5:7])
	f := &c.flow
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.clunks[tag]; dup {
		return true // the library answers "duplicate tag"
	}
	if _, dup := f.removes[tag]; dup {
		return true
	}
	mine, other := f.clunks, f.removes
	if typ == plan9.Tremove {
		mine, other = other, mine
	}
	if len(other) > 0 {
		g := c.srv.guard()
		g.ending.Add(1)
		for len(other) > 0 && !f.closed {
			f.cond.Wait() // answering broadcasts
		}
		g.ending.Add(-1)
		if f.closed {
			return false
		}
	}
	mine[tag] = struct{}{}
	if typ == plan9.Tclunk {
		msg[4] = plan9.Tremove
	}
	return true
}

// answering looks at a reply before it is written (the client may reuse
// its tag as soon as it has it): the reply to a Tclunk handed over as a
// Tremove becomes an Rclunk again, and the tag leaves the clunks or
// removes in flight.
func (c *conn) answering(msg []byte) {
	if len(msg) < 7 {
		return
	}
	f := &c.flow
	f.mu.Lock()
	c.answeringLocked(msg)
	f.mu.Unlock()
}

// answeringLocked is answering with c.flow.mu held.
func (c *conn) answeringLocked(msg []byte) {
	tag := binary.LittleEndian.Uint16(msg[5:7])
	f := &c.flow
	f.answeredLocked(tag)
	if _, ok := f.clunks[tag]; ok {
		delete(f.clunks, tag)
		if msg[4] == plan9.Rremove {
			msg[4] = plan9.Rclunk
		}
		f.cond.Broadcast()
		return
	}
	if _, ok := f.removes[tag]; ok {
		delete(f.removes, tag)
		f.cond.Broadcast()
	}
}

// clunking reports whether the Tremove being served is a client's Tclunk.
func (c *conn) clunking() bool {
	f := &c.flow
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.clunks) > 0
}

// clunk serves a Tclunk: the fid is released and the error of its
// handle's Close, if any, is the reply.
func (c *conn) clunk(rctx context.Context, fid *lib.Fid) error {
	return c.do(rctx, func(ctx context.Context) error {
		f, ok := fid.Aux().(*fidState)
		if !ok || f == nil {
			return nil // a fid whose walk or attach has not ended: clunkHook releases it
		}
		return f.clunk(ctx)
	})
}

// clunkHook is the library's Clunk, called once a fid is gone and no
// request uses it: a fid a Tclunk could not release at once (a read or
// write on it was in progress), a removed one, or a connection's at its end.
func (c *conn) clunkHook(fid *lib.Fid) {
	if f, ok := fid.Aux().(*fidState); ok && f != nil {
		f.release()
	}
}
