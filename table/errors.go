package table

import (
	"errors"
	"fmt"

	"gigfs.io/gigfs/srv9p"
)

// A kindError is an error whose message is what the client reads, and
// which matches one of srv9p's error kinds with errors.Is.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// The refusals of a store token check, as PROTOCOL.md spells them. Each
// also matches srv9p.ErrPermission, so that a store can tell a refusal from
// a table it could not reach without importing this package.
var (
	ErrTokenRevoked = &kindError{"token revoked", srv9p.ErrPermission}
	ErrTokenExpired = &kindError{"token expired", srv9p.ErrPermission}
	ErrUnknownToken = &kindError{"unknown token", srv9p.ErrPermission}
	ErrWrongStore   = &kindError{"token for another store", srv9p.ErrPermission}
)

// checkErrors lists the check refusals, to recognise them in the replies
// of a remote table.
var checkErrors = []error{ErrTokenRevoked, ErrTokenExpired, ErrUnknownToken, ErrWrongStore}

// ErrClosed is returned by a Service that has been closed.
var ErrClosed = &kindError{"table closed", srv9p.ErrClosed}

// badRequest is a malformed command or argument (srv9p.ErrBadRequest).
func badRequest(format string, args ...any) error {
	return &kindError{fmt.Sprintf(format, args...), srv9p.ErrBadRequest}
}

// denied is a refusal (srv9p.ErrPermission); the message says why.
func denied(format string, args ...any) error {
	return &kindError{"permission denied: " + fmt.Sprintf(format, args...), srv9p.ErrPermission}
}

// notFound is a missing user, session, channel or store (srv9p.ErrNotExist).
func notFound(format string, args ...any) error {
	return &kindError{fmt.Sprintf(format, args...), srv9p.ErrNotExist}
}

// isRequestError reports whether err is the client's doing (a bad
// command, a refusal, a missing name) rather than the table's.
func isRequestError(err error) bool {
	var ke *kindError
	return errors.As(err, &ke)
}
