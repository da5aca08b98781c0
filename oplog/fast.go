package oplog

import (
	"bytes"
	"crypto/sha256"
	"strconv"
)

// The fast path of decoding: an op in exactly the form AppendJSON writes
//
//	{"date":D,"origin":"O","seq":N,"sha":"S","payload":P}
//
// with P already canonical is decoded by slicing the line, without a JSON
// decoder and without re-encoding the payload. Anything else (another key
// order, spaces, escapes in strings, a checkpoint) goes the general way, so
// both accept and refuse exactly the same lines.

// decodeFast decodes line if it has the fixed shape of an op, or that
// shape without the sha (a log file's record: Sha is then empty). The
// payload aliases line. ok is false when the line is not in that shape; the caller
// then decodes it the general way.
// origins, if not nil, interns origin names.
func decodeFast(line []byte, origins *interner) (o Op, ok bool) {
	b := line
	if !bytes.HasPrefix(b, []byte(`{"date":`)) || len(b) < 2 || b[len(b)-1] != '}' {
		return Op{}, false
	}
	b = b[len(`{"date":`):]
	date, b, ok := fastUint(b)
	if !ok || date > 1<<63-1 {
		return Op{}, false
	}
	o.Date = int64(date)
	if b, ok = cutPrefix(b, `,"origin":"`); !ok {
		return Op{}, false
	}
	var origin []byte
	if origin, b, ok = fastField(b); !ok {
		return Op{}, false
	}
	if b, ok = cutPrefix(b, `,"seq":`); !ok {
		return Op{}, false
	}
	if o.Seq, b, ok = fastUint(b); !ok {
		return Op{}, false
	}
	var sha []byte
	if rest, ok := cutPrefix(b, `,"sha":"`); ok {
		if sha, b, ok = fastField(rest); !ok || len(sha) == 0 {
			return Op{}, false
		}
	} // else a record of a log file, without its sha (see appendStored)
	if b, ok = cutPrefix(b, `,"payload":`); !ok {
		return Op{}, false
	}
	body := b[:len(b)-1]
	if !isCanonical(body) {
		return Op{}, false
	}
	o.Origin = origins.intern(origin)
	if origins != nil && origins.alias {
		o.Sha = aliasString(sha)
	} else {
		o.Sha = string(sha)
	}
	o.Payload = body
	return o, true
}

// An interner hands out one string per origin name, so that the ops of
// a log share it; with alias, the shas it decodes share the line's
// memory (see ParseLog). A nil interner makes a string each time.
type interner struct {
	last    string            // the name interned last
	checked string            // a name checkOrigin accepted (not empty)
	m       map[string]string // every name interned
	alias   bool
}

func (in *interner) intern(b []byte) string {
	if in == nil {
		return string(b)
	}
	if string(b) == in.last { // ops of one origin often come in a row
		return in.last
	}
	s, ok := in.m[string(b)]
	if !ok {
		if in.m == nil {
			in.m = make(map[string]string)
		}
		s = string(b)
		in.m[s] = s
	}
	in.last = s
	return s
}

func cutPrefix(b []byte, p string) ([]byte, bool) {
	if len(b) < len(p) || string(b[:len(p)]) != p {
		return b, false
	}
	return b[len(p):], true
}

// fastUint parses a JSON integer without sign, exponent or leading zero
// that fits in a uint64.
func fastUint(b []byte) (uint64, []byte, bool) {
	i := 0
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	if i == 0 || i > 19 || (b[0] == '0' && i > 1) {
		return 0, b, false
	}
	var n uint64
	for _, c := range b[:i] {
		n = n*10 + uint64(c-'0')
	}
	return n, b[i:], true
}

// fastField cuts a string ending at a quote that has no backslash: an
// origin or a sha, whose characters Check verifies.
func fastField(b []byte) (s, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '"')
	if i < 0 || bytes.IndexByte(b[:i], '\\') >= 0 {
		return nil, b, false
	}
	return b[:i], b[i+1:], true
}

// fastString cuts a string of plain characters (printable ASCII, no
// backslash) ending at a quote.
func fastString(b []byte) (s, rest []byte, ok bool) {
	for i, c := range b {
		if c == '"' {
			return b[:i], b[i+1:], true
		}
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return nil, b, false
		}
	}
	return nil, b, false
}

// isCanonical reports whether b is one JSON value exactly as Canonical
// writes it, with only plain strings (printable ASCII, no backslash): no
// space, object keys strictly increasing, numbers valid. A false answer
// only means "not sure": the caller canonicalizes the general way.
func isCanonical(b []byte) bool {
	rest, ok := canonValue(b, 0)
	return ok && len(rest) == 0
}

const maxFastDepth = 64

func canonValue(b []byte, depth int) ([]byte, bool) {
	if len(b) == 0 || depth > maxFastDepth {
		return b, false
	}
	switch c := b[0]; {
	case c == '{':
		b = b[1:]
		if len(b) > 0 && b[0] == '}' {
			return b[1:], true
		}
		var prev []byte
		for first := true; ; first = false {
			if len(b) == 0 || b[0] != '"' {
				return b, false
			}
			key, rest, ok := fastString(b[1:])
			if !ok || (!first && bytes.Compare(prev, key) >= 0) {
				return b, false
			}
			prev = key
			if len(rest) == 0 || rest[0] != ':' {
				return b, false
			}
			if b, ok = canonValue(rest[1:], depth+1); !ok || len(b) == 0 {
				return b, false
			}
			switch b[0] {
			case ',':
				b = b[1:]
			case '}':
				return b[1:], true
			default:
				return b, false
			}
		}
	case c == '[':
		b = b[1:]
		if len(b) > 0 && b[0] == ']' {
			return b[1:], true
		}
		for {
			var ok bool
			if b, ok = canonValue(b, depth+1); !ok || len(b) == 0 {
				return b, false
			}
			switch b[0] {
			case ',':
				b = b[1:]
			case ']':
				return b[1:], true
			default:
				return b, false
			}
		}
	case c == '"':
		_, rest, ok := fastString(b[1:])
		return rest, ok
	case c == '-' || '0' <= c && c <= '9':
		return canonNumber(b)
	case c == 't':
		return cutPrefix(b, "true")
	case c == 'f':
		return cutPrefix(b, "false")
	case c == 'n':
		return cutPrefix(b, "null")
	}
	return b, false
}

// canonNumber cuts a number of JSON's grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func canonNumber(b []byte) ([]byte, bool) {
	i := 0
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i - j
	}
	start := i
	n := digits()
	if n == 0 || (b[start] == '0' && n > 1) {
		return b, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return b, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return b, false
		}
	}
	return b[i:], true
}

// checkSha reports whether o.Sha is the hash of o's content, without
// allocating: the canonical encoding is built on the stack and the sha
// compared as bytes.
func checkSha(o *Op) bool {
	var want [sha256.Size]byte
	if len(o.Sha) != 2*sha256.Size {
		return false
	}
	// Only lowercase hex is canonical: Hash writes lowercase.
	for i := range want {
		hi, lo := lowerHex[o.Sha[2*i]], lowerHex[o.Sha[2*i+1]]
		if hi|lo > 0xf {
			return false
		}
		want[i] = hi<<4 | lo
	}
	return hashSum(o) == want
}

// lowerHex maps a lowercase hex digit to its value and every other byte
// to 0xff.
var lowerHex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// hashSum is the SHA-256 of the canonical encoding described at Hash.
func hashSum(o *Op) [sha256.Size]byte {
	var stack [256]byte
	b := append(stack[:0], hashVersion...)
	b = append(b, o.Kind().String()...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, o.Date, 10)
	b = append(b, '\n')
	b = append(b, o.Origin...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, o.Seq, 10)
	b = append(b, '\n')
	b = append(b, o.Body()...)
	b = append(b, '\n')
	if o.Kind() == KindCheckpoint {
		b = o.Covers.appendJSON(b)
	}
	return sha256.Sum256(b)
}

// encodedLen is len(o.AppendJSON(nil)), without encoding.
func (o *Op) encodedLen() int {
	n := len(`{"date":`) + decLen(uint64(max(o.Date, 0))) + len(`,"sha":""`) + len(o.Sha) + 1
	if o.Date < 0 {
		n += len(strconv.FormatInt(o.Date, 10)) - 1
	}
	if o.Origin != "" {
		n += len(`,"origin":""`) + len(o.Origin)
	}
	if o.Kind() == KindOp {
		return n + len(`,"seq":`) + decLen(o.Seq) + len(`,"payload":`) + len(o.Payload)
	}
	n += len(`,"value":`) + len(o.Value) + len(`,"covers":{}`)
	i := 0
	for k, v := range o.Covers {
		if i > 0 {
			n++
		}
		n += len(k) + 3 + decLen(v)
		i++
	}
	return n
}

func decLen(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
