package srv9p

import (
	"encoding/binary"
	"fmt"

	"9fans.net/go/plan9"
	"gigfs.io/gigfs/gig"
)

// refuse answers, itself, a request the library cannot parse and would
// hang up on: a message type that is not a request, a walk of more than
// 16 names. The reply is an Rerror, as 9P wants, and the connection goes
// on. It reports whether it answered msg.
func (c *conn) refuse(msg []byte) bool {
	typ := msg[4]
	tag := binary.LittleEndian.Uint16(msg[5:7])
	var ename string
	switch {
	case !isRequest(typ):
		ename = fmt.Sprintf("%v: unknown message type %d", gig.ErrInvalid, typ)
	case typ == plan9.Twalk && len(msg) >= 17:
		n := binary.LittleEndian.Uint16(msg[15:17])
		if n <= plan9.MAXWELEM {
			return false
		}
		ename = fmt.Sprintf("%v: walk of %d names, over the limit of %d", gig.ErrInvalid, n, plan9.MAXWELEM)
	default:
		return false
	}
	b, err := (&plan9.Fcall{Type: plan9.Rerror, Tag: tag, Ename: ename}).Bytes()
	if err != nil {
		return false
	}
	c.w.queueReply(b)
	return true
}

// isRequest reports whether typ is the type of a 9P2000 request.
func isRequest(typ uint8) bool {
	switch typ {
	case plan9.Tversion, plan9.Tauth, plan9.Tattach, plan9.Tflush, plan9.Twalk,
		plan9.Topen, plan9.Tcreate, plan9.Tread, plan9.Twrite, plan9.Tclunk,
		plan9.Tremove, plan9.Tstat, plan9.Twstat:
		return true
	}
	return false
}
