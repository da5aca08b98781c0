package gig

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on names.
const (
	MaxNameLen  = 255  // bytes in a channel, a type or one element of a path
	MaxPathLen  = 4096 // bytes in a whole path
	MaxUserLen  = 64   // bytes in a user id
	MaxSegments = 64   // elements in a path
)

// A User is a user id: 1 to 64 bytes of a-z 0-9 . _ -, not starting
// with '.'.
type User string

// A Channel names a set of oplogs served by the same stores: one name
// element (see ParseType) with no space, since ctl commands are split on
// spaces.
type Channel string

// A Type names a reducer and the oplogs reduced with it: one name element,
// 1 to 255 bytes of UTF-8 with no '/' and no control character (C0, DEL or
// C1), not starting with '.'. ("." and ".." are ruled out, and so are the
// stores' own temporary files.)
type Type string

// A Path names an oplog within a channel and type, in its one form: a
// leading '/', elements (each as a Type) separated by single slashes, no
// trailing slash, at most 4096 bytes and 64 elements.
type Path string

// A Key names one oplog: a channel, a type and a path.
type Key struct {
	Channel Channel
	Type    Type
	Path    Path
}

// StorePath is where the oplog of k lives on a store, below its type:
// "/<channel><path>".
func (k Key) StorePath() string { return "/" + string(k.Channel) + string(k.Path) }

// ParseUser checks a user id.
func ParseUser(s string) (User, error) {
	bad := s == "" || len(s) > MaxUserLen || s[0] == '.'
	for i := 0; i < len(s) && !bad; i++ {
		c := s[i]
		bad = !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-')
	}
	if bad {
		return "", Errorf(ErrInvalid, "bad user id %q: want 1 to %d bytes of a-z 0-9 . _ -, not starting with '.'", Clip(s), MaxUserLen)
	}
	return User(s), nil
}

// ParseChannel checks a channel name.
func ParseChannel(s string) (Channel, error) {
	if err := checkElement("channel", s); err != nil {
		return "", err
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return "", Errorf(ErrInvalid, "bad channel %q: holds a space", Clip(s))
	}
	return Channel(s), nil
}

// ParseType checks a type name.
func ParseType(s string) (Type, error) {
	if err := checkElement("type", s); err != nil {
		return "", err
	}
	return Type(s), nil
}

// ParsePath checks a path and returns its one form: "a/b" and "/a/b" are
// the same path; "", "/", "a//b", "a/./b", "a/../b" and a trailing slash are
// refused.
func ParsePath(s string) (Path, error) {
	segs, err := PathElements(s)
	if err != nil {
		return "", err
	}
	return Path("/" + strings.Join(segs, "/")), nil
}

// PathElements checks a path and returns its elements.
func PathElements(s string) ([]string, error) {
	if len(s) > MaxPathLen {
		return nil, Errorf(ErrInvalid, "bad path: %d bytes, limit %d", len(s), MaxPathLen)
	}
	rest := strings.TrimPrefix(s, "/")
	if rest == "" {
		return nil, Errorf(ErrInvalid, "bad path %q: empty", s)
	}
	segs := strings.Split(rest, "/")
	if len(segs) > MaxSegments {
		return nil, Errorf(ErrInvalid, "bad path: deeper than %d elements", MaxSegments)
	}
	for _, e := range segs {
		if why := elementFault(e); why != "" {
			return nil, Errorf(ErrInvalid, "bad path %q: element%s", Clip(s), why)
		}
	}
	return segs, nil
}

// Elements returns the elements of a parsed path.
func (p Path) Elements() []string { return strings.Split(strings.TrimPrefix(string(p), "/"), "/") }

// ParseElement checks one element of a store's tree below the user's
// oplog folder: a type, a channel or a path element, whichever it is (the
// rules of Type, which the others only narrow).
func ParseElement(s string) error { return checkElement("name", s) }

// checkElement checks one name element: the rules of Type.
func checkElement(what, s string) error {
	if why := elementFault(s); why != "" {
		return Errorf(ErrInvalid, "bad %s%s", what, why)
	}
	return nil
}

// elementFault says what is wrong with a name element (" <quoted>: why",
// or ": empty"), or "" when nothing is.
func elementFault(s string) string {
	switch {
	case s == "":
		return ": empty"
	case len(s) > MaxNameLen:
		return fmt.Sprintf(": %d bytes, limit %d", len(s), MaxNameLen)
	case s[0] == '.':
		return fmt.Sprintf(" %q: starts with '.'", Clip(s))
	case !utf8.ValidString(s):
		return fmt.Sprintf(" %q: not UTF-8", Clip(s))
	}
	for _, r := range s {
		if r == '/' || unicode.IsControl(r) {
			return fmt.Sprintf(" %q: holds '/' or a control character", Clip(s))
		}
	}
	return ""
}

// Clip shortens s to at most 64 bytes (and "...") for an error message,
// cutting at a rune boundary.
func Clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// ParseTypePath checks a type and a path, as one oplog of a channel is
// named, and returns the path's one form.
func ParseTypePath(typ, path string) (Type, Path, error) {
	t, err := ParseType(typ)
	if err != nil {
		return "", "", err
	}
	p, err := ParsePath(path)
	return t, p, err
}
