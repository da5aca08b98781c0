package netstore

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on names.
const (
	MaxNameLen  = 255  // bytes in one path segment or type
	MaxPathLen  = 4096 // bytes in a whole path
	MaxUserLen  = 64   // bytes in a user id
	maxSegments = 64
)

// ErrBadName reports a user id, type or path that is not allowed.
var ErrBadName = errors.New("bad name")

// CheckUser validates a user id: 1 to 64 bytes of [a-z0-9._-], not
// starting with '.'.
func CheckUser(u string) error {
	if u == "" || len(u) > MaxUserLen || u[0] == '.' {
		return fmt.Errorf("%w: user %q: 1 to %d bytes of a-z 0-9 . _ -, not starting with '.'", ErrBadName, u, MaxUserLen)
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: user %q: 1 to %d bytes of a-z 0-9 . _ -, not starting with '.'", ErrBadName, u, MaxUserLen)
		}
	}
	return nil
}

// CheckSegment validates one element of a type or path: 1 to 255 bytes of
// UTF-8, no '/', NUL or control character, not starting with '.' (which
// also rules out "." and "..", and the store's own temporary files).
func CheckSegment(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty path element", ErrBadName)
	case len(s) > MaxNameLen:
		return fmt.Errorf("%w: path element of %d bytes, limit %d", ErrBadName, len(s), MaxNameLen)
	case s[0] == '.':
		return fmt.Errorf("%w: path element %q starts with '.'", ErrBadName, s)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: path element %q is not UTF-8", ErrBadName, s)
	}
	for _, r := range s {
		if r == '/' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: path element %q holds '/' or a control character", ErrBadName, s)
		}
	}
	return nil
}

// CleanPath validates an oplog path and returns it in its one form: a
// leading '/', segments separated by single slashes, no trailing slash.
// "a/b" and "/a/b" name the same oplog; "", "/", "a//b", "a/../b" are refused.
func CleanPath(p string) (string, error) {
	if len(p) > MaxPathLen {
		return "", fmt.Errorf("%w: path of %d bytes, limit %d", ErrBadName, len(p), MaxPathLen)
	}
	segs, err := Segments(p)
	if err != nil {
		return "", err
	}
	return "/" + strings.Join(segs, "/"), nil
}

// Segments splits a path into its checked segments.
func Segments(p string) ([]string, error) {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil, fmt.Errorf("%w: empty path", ErrBadName)
	}
	segs := strings.Split(p, "/")
	if len(segs) > maxSegments {
		return nil, fmt.Errorf("%w: path deeper than %d", ErrBadName, maxSegments)
	}
	for _, s := range segs {
		if err := CheckSegment(s); err != nil {
			return nil, err
		}
	}
	return segs, nil
}
