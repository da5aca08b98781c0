package table

import (
	"gigfs.io/gigfs/gig"
)

// The refusals of a store token check, as PROTOCOL.md spells them. Each is
// of kind gig.ErrPermission, which is all a store needs to tell a refusal
// from a table it could not reach; the message says which.
var (
	ErrTokenRevoked = gig.Errorf(gig.ErrPermission, "token revoked")
	ErrTokenExpired = gig.Errorf(gig.ErrPermission, "token expired")
	ErrUnknownToken = gig.Errorf(gig.ErrPermission, "unknown token")
	ErrWrongStore   = gig.Errorf(gig.ErrPermission, "token for another store")
)

// ErrClosed is returned by a Service that has been closed.
var ErrClosed = gig.Errorf(gig.ErrClosed, "table closed")

// badRequest is a malformed command or argument.
func badRequest(format string, args ...any) error {
	return gig.Errorf(gig.ErrInvalid, format, args...)
}

// denied is a refusal; the message says why.
func denied(format string, args ...any) error {
	return gig.Errorf(gig.ErrPermission, format, args...)
}

// notFound is a missing user, session, channel or store.
func notFound(format string, args ...any) error {
	return gig.Errorf(gig.ErrNotExist, format, args...)
}

// isRequestError reports whether err is the client's doing (a bad
// command, a refusal, a missing name, a bound) rather than the table's.
func isRequestError(err error) bool {
	switch gig.KindOf(err) {
	case gig.ErrInvalid, gig.ErrPermission, gig.ErrNotExist, gig.ErrExist, gig.ErrLimit, gig.ErrConflict:
		return true
	}
	return false
}
