package srv9p

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"unicode/utf8"
)

// Error kinds. Trees return these, or errors wrapping them
// (fmt.Errorf("user %q: %w", u, ErrNotExist)); the client sees the message.
// The first four are the io/fs values, so errors from package os match too.
var (
	ErrNotExist    = fs.ErrNotExist            // "file does not exist"
	ErrPermission  = fs.ErrPermission          // "permission denied"
	ErrExist       = fs.ErrExist               // "file already exists"
	ErrClosed      = fs.ErrClosed              // "file already closed"
	ErrBadRequest  = errors.New("bad request") // a malformed command or argument
	ErrTooLarge    = errors.New("too large")   // a write or record over a limit
	ErrInterrupted = errors.New("interrupted") // the request was flushed or the connection hung up
)

// kinds lists the error kinds ParseError recognises, most specific first.
var kinds = []error{ErrNotExist, ErrPermission, ErrExist, ErrClosed, ErrBadRequest, ErrTooLarge, ErrInterrupted}

// maxErrorLen bounds the length of a 9P error string, so that an Rerror
// always fits in the smallest message size we accept.
const maxErrorLen = 200

// ErrorString returns the 9P error string for err: one short line.
//
//   - A cancelled context (a Tflush, a hang-up) gives "interrupted", a
//     passed deadline "timed out".
//   - An error from the operating system (*fs.PathError, *os.LinkError,
//     *os.SyscallError) anywhere in the chain gives only its cause: the kind's
//     Plan 9 text ("file does not exist", "permission denied", "file already
//     exists") or the errno text, never a server-side path.
//   - Any other error gives its message, newlines and tabs replaced by
//     spaces, cut to 200 bytes.
func ErrorString(err error) string {
	if err == nil {
		return ""
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ErrInterrupted.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	var (
		pe *fs.PathError
		le *os.LinkError
		se *os.SyscallError
	)
	var cause error
	switch {
	case errors.As(err, &pe):
		cause = pe.Err
	case errors.As(err, &le):
		cause = le.Err
	case errors.As(err, &se):
		cause = se.Err
	}
	if cause != nil {
		for _, k := range []error{ErrNotExist, ErrPermission, ErrExist, ErrClosed} {
			if errors.Is(cause, k) {
				return k.Error()
			}
		}
		var errno syscall.Errno
		if errors.As(cause, &errno) {
			return oneLine(errno.Error())
		}
		return "i/o error"
	}
	return oneLine(err.Error())
}

// oneLine makes s a single line of at most maxErrorLen bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "error"
	}
	if len(s) > maxErrorLen {
		cut := maxErrorLen - 3
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// A remoteError is an error string received over 9P.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// ParseError turns a 9P error string back into an error, for the client
// sides of our servers: errors.Is(ParseError(s), ErrNotExist) holds when s is
// a kind's text, ends in ": " and the text, or starts with the text and ": ".
// Its message is s.
func ParseError(msg string) error {
	e := &remoteError{msg: msg}
	for _, k := range kinds {
		t := k.Error()
		if msg == t || strings.HasSuffix(msg, ": "+t) || strings.HasPrefix(msg, t+": ") {
			e.kind = k
			break
		}
	}
	return e
}

// nineErr is an error whose message is already the 9P error string.
type nineErr string

func (e nineErr) Error() string { return string(e) }

// wire converts err to the error handed to the 9P library, whose message is
// what the client receives.
func wire(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(nineErr); ok {
		return e
	}
	return nineErr(ErrorString(err))
}
