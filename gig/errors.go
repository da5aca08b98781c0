package gig

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// A Kind classifies an error. Kinds are errors themselves: wrap one
// (Errorf, or fmt.Errorf with %w) and test it with errors.Is. Each has a
// stable word, the leading word of its errors on the 9P wire (Wire, Parse),
// documented in PROTOCOL.md.
type Kind struct {
	word string
	text string // the message of a bare kind on the wire, as Plan 9 says it
	is   error  // an io/fs error the kind also matches, or nil
}

// Error returns the kind's Plan 9 text where it has one ("file does not
// exist"), else its word ("invalid").
func (k *Kind) Error() string {
	if k.text != "" {
		return k.text
	}
	return k.word
}

// Word is the kind's word on the wire.
func (k *Kind) Word() string { return k.word }

// Is lets errors.Is(err, fs.ErrNotExist) hold for an error of kind
// ErrNotExist (and likewise for ErrExist, ErrPermission, ErrClosed), so code
// written against package os keeps working.
func (k *Kind) Is(target error) bool { return k.is != nil && target == k.is }

// The kinds. An error of no kind is ErrInternal.
var (
	// ErrInvalid: the request is malformed: a bad name, a bad op, a bad
	// command or argument. Sending it again will not help.
	ErrInvalid = &Kind{word: "invalid"}
	// ErrNotExist: what the request names does not exist.
	ErrNotExist = &Kind{word: "notfound", text: "file does not exist", is: fs.ErrNotExist}
	// ErrExist: what the request would create exists.
	ErrExist = &Kind{word: "exists", text: "file already exists", is: fs.ErrExist}
	// ErrPermission: the credential does not allow it (bad, expired or
	// revoked token, another user's tree, a wrong secret).
	ErrPermission = &Kind{word: "permission", text: "permission denied", is: fs.ErrPermission}
	// ErrLimit: the request is over a bound (size, count, rate, date
	// horizon).
	ErrLimit = &Kind{word: "limit"}
	// ErrConflict: the request contradicts what is stored (an (origin, seq)
	// already taken by another op, an incomparable checkpoint).
	ErrConflict = &Kind{word: "conflict"}
	// ErrUnavailable: the server cannot answer now (the table it must ask
	// is unreachable, it is shutting down); try again later.
	ErrUnavailable = &Kind{word: "unavailable"}
	// ErrClosed: the file or service is closed.
	ErrClosed = &Kind{word: "closed", text: "file already closed", is: fs.ErrClosed}
	// ErrInterrupted: the request was flushed or its connection hung up.
	ErrInterrupted = &Kind{word: "interrupted"}
	// ErrTimeout: a deadline passed.
	ErrTimeout = &Kind{word: "timeout", text: "timed out"}
	// ErrTransport: the connection failed (refused, reset, closed, a broken
	// 9P conversation). Only this kind makes a client hang up and redial;
	// it never crosses the wire, a client classifies its own failures so.
	ErrTransport = &Kind{word: "transport"}
	// ErrInternal: the server failed for a reason of its own.
	ErrInternal = &Kind{word: "internal"}
)

// wireKinds lists the kinds a server may send, for Parse. ErrTransport is
// not one: a server whose own call failed so says ErrUnavailable, and a
// client that reads it must not take the server's trouble for a broken
// connection of its own.
var wireKinds = []*Kind{ErrInvalid, ErrNotExist, ErrExist, ErrPermission, ErrLimit, ErrConflict,
	ErrUnavailable, ErrClosed, ErrInterrupted, ErrTimeout, ErrInternal}

// Errorf returns an error of kind k with the formatted message (%w wraps
// as in fmt.Errorf). The message does not name the kind: the kind's word is
// added where the error crosses the wire (Wire).
func Errorf(k *Kind, format string, args ...any) error {
	return &kindError{k, fmt.Errorf(format, args...)}
}

// A kindError is an error of a kind.
type kindError struct {
	kind *Kind
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// KindOf returns the kind of err: the first Kind in its chain; else the kind
// an io/fs or context error in its chain stands for; else ErrInternal. It
// returns nil for a nil err.
func KindOf(err error) *Kind {
	if err == nil {
		return nil
	}
	var k *Kind
	if errors.As(err, &k) {
		return k
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ErrInterrupted
	case errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotExist
	case errors.Is(err, fs.ErrExist):
		return ErrExist
	case errors.Is(err, fs.ErrPermission):
		return ErrPermission
	case errors.Is(err, fs.ErrClosed):
		return ErrClosed
	}
	return ErrInternal
}

// Wire returns the text of err for the 9P wire: its kind's word, then ": "
// and its message. An ErrTransport error (a server's own call to another
// server failed) goes as ErrUnavailable. Callers shorten it to one line.
func Wire(err error) string {
	if err == nil {
		return ""
	}
	k := KindOf(err)
	if k == ErrTransport {
		k = ErrUnavailable
	}
	msg := err.Error()
	if msg == "" || msg == k.word {
		msg = k.Error()
	}
	if msg == k.word {
		return k.word
	}
	if strings.HasPrefix(msg, k.word+": ") {
		return msg // made with fmt.Errorf("%w: ...", kind)
	}
	return k.word + ": " + msg
}

// Parse turns a text made by Wire back into an error of the same kind with
// the same message (the text after the word). A text that does not start
// with a kind's word (another server's) is of kind ErrInternal, its message
// the whole text.
func Parse(text string) error {
	word, msg, _ := strings.Cut(text, ":")
	for _, k := range wireKinds {
		if word == k.word {
			if msg = strings.TrimSpace(msg); msg == "" {
				return k
			}
			return &kindError{k, errors.New(msg)}
		}
	}
	return &kindError{ErrInternal, errors.New(text)}
}
