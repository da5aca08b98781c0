package srv9p

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"unicode/utf8"

	"gigfs.io/gigfs/gig"
)

// Trees return errors of the kinds of package gig, or errors wrapping them
// (gig.Errorf(gig.ErrNotExist, "user %q", u)); errors from package os are
// taken by their io/fs kind. The client sees ErrorString's text, which
// starts with the kind's word, and ParseError gives the kind back.

// maxErrorLen bounds the length of a 9P error string, so that an Rerror
// always fits in the smallest message size we accept.
const maxErrorLen = 200

// ErrorString returns the 9P error string for err: one short line that
// starts with the word of err's kind (gig.Wire).
//
//   - A cancelled context (a Tflush, a hang-up) gives "interrupted", a
//     passed deadline "timeout".
//   - An error from the operating system (*fs.PathError, *os.LinkError,
//     *os.SyscallError) anywhere in the chain gives only its kind and cause
//     ("notfound: file does not exist", "internal: no space left on
//     device"), never a server-side path.
//   - Any other error gives its kind's word and its message, newlines and
//     tabs replaced by spaces, cut to 200 bytes.
func ErrorString(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return gig.Wire(gig.ErrInterrupted)
	case errors.Is(err, context.DeadlineExceeded):
		return gig.Wire(gig.ErrTimeout)
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
		k := gig.KindOf(err)
		var errno syscall.Errno
		switch {
		case k != gig.ErrInternal:
			return oneLine(k.Word() + ": " + cause.Error())
		case errors.As(cause, &errno):
			return oneLine(k.Word() + ": " + errno.Error())
		}
		return k.Word() + ": i/o error"
	}
	return oneLine(gig.Wire(err))
}

// oneLine makes s a single line of at most maxErrorLen bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return gig.ErrInternal.Word()
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

// ParseError turns a 9P error string from one of our servers back into an
// error of its kind (gig.Parse): errors.Is(ParseError(s), gig.ErrNotExist)
// holds when s starts with "notfound". Its message is s.
func ParseError(msg string) error { return gig.Parse(msg) }

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
