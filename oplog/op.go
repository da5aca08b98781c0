package oplog

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"gigfs.io/gigfs/gig"
)

// Limits on what an op may hold. They protect stores from one client's
// oversized or hostile input; a refused op names the limit it broke.
const (
	// MaxOpSize is the largest encoded op, in bytes, and the largest
	// payload or value.
	MaxOpSize = 1 << 20
	// MaxCheckpointSize is the largest encoded checkpoint, in bytes: its
	// value (at most MaxOpSize) and its covers, about 45 bytes per origin
	// that ever wrote the path. Origins are per writer (leases), so covers
	// stay small; this bound lets a path that already carries up to about
	// 180,000 origins (from before leases) still be pruned.
	MaxCheckpointSize = 8 << 20
	// MaxOriginLen is the longest origin name.
	MaxOriginLen = 64
)

// Kind tells an op (a payload to reduce) from a checkpoint (a value that
// stands for the ops it covers).
type Kind uint8

const (
	// KindOp is an operation: it carries a payload.
	KindOp Kind = iota
	// KindCheckpoint is a checkpoint value: it carries a value and covers.
	KindCheckpoint
)

func (k Kind) String() string {
	if k == KindCheckpoint {
		return "value"
	}
	return "payload"
}

// An Op is one record of an oplog: an operation or a checkpoint value.
//
// Every op is made by an origin (a client instance, named by a random id)
// and numbered by that origin: Seq counts the origin's ops on one
// (type, path) from 1 without gaps. (Origin, Seq) is the op's nonce: two
// equal payloads pushed in the same millisecond by two clients are two ops.
//
// A checkpoint carries Value and Covers, the version vector of the ops it
// stands for; its Seq is 0.
type Op struct {
	Date    int64           // milliseconds since the epoch, from a hybrid Clock
	Origin  string          // the origin that made the op
	Seq     uint64          // the origin's number for this op (0 for a checkpoint)
	Sha     string          // hex SHA-256 of the canonical encoding; see Hash
	Payload json.RawMessage // canonical JSON, for an op
	Value   json.RawMessage // canonical JSON, for a checkpoint
	Covers  Coverage        // for a checkpoint: the ops it stands for
}

// Kind reports whether o is an op or a checkpoint.
func (o *Op) Kind() Kind {
	if o.Value != nil {
		return KindCheckpoint
	}
	return KindOp
}

// Body is the op's payload or the checkpoint's value.
func (o *Op) Body() json.RawMessage {
	if o.Value != nil {
		return o.Value
	}
	return o.Payload
}

// Less is the total order of ops: by date, then by sha.
func Less(a, b *Op) bool {
	if a.Date != b.Date {
		return a.Date < b.Date
	}
	return a.Sha < b.Sha
}

// hashVersion starts the canonical encoding; a change of the encoding
// changes it.
const hashVersion = "gigfs-op-1\n"

// Hash computes the sha of o from its canonical encoding:
//
//	"gigfs-op-1\n" kind "\n" date "\n" origin "\n" seq "\n" body "\n" covers
//
// where kind is "payload" or "value", date and seq are decimal, body is the
// canonical JSON of the payload or value, and covers is the canonical JSON of
// the coverage (empty for an op).
func Hash(o *Op) string {
	sum := hashSum(o)
	return hex.EncodeToString(sum[:])
}

// NewOp makes an op with a payload, dated and sealed with its sha. The
// payload may be any JSON value, null included.
func NewOp(date int64, origin string, seq uint64, payload json.RawMessage) (Op, error) {
	body, err := Canonical(payload)
	if err != nil {
		return Op{}, fmt.Errorf("new op: payload: %w", err)
	}
	o := Op{Date: date, Origin: origin, Seq: seq, Payload: body}
	o.Sha = Hash(&o)
	return o, o.checkShape(false) // the sha was just made from the content
}

// NewCheckpoint makes a checkpoint of value covering the ops of cov.
func NewCheckpoint(date int64, origin string, value json.RawMessage, cov Coverage) (Op, error) {
	body, err := Canonical(value)
	if err != nil {
		return Op{}, fmt.Errorf("new checkpoint: value: %w", err)
	}
	o := Op{Date: date, Origin: origin, Value: body, Covers: cov.Clone()}
	o.Sha = Hash(&o)
	return o, o.checkShape(false)
}

// Initial is the checkpoint every oplog starts with: date 0, value null,
// covering nothing.
func Initial() Op {
	o := Op{Value: json.RawMessage("null"), Covers: Coverage{}}
	o.Sha = Hash(&o)
	return o
}

// Errors of op validation. Decode and Check wrap them with the detail.
// The first two are of kind gig.ErrInvalid, the last gig.ErrLimit.
var (
	ErrMalformed = gig.Errorf(gig.ErrInvalid, "malformed op")
	ErrBadSha    = gig.Errorf(gig.ErrInvalid, "sha mismatch")
	ErrTooLarge  = gig.Errorf(gig.ErrLimit, "op too large")
)

// Check validates the structure of o and verifies its sha. Stores check
// every op they receive; an op that fails is refused and changes nothing.
func (o *Op) Check() error { return o.check(false) }

// check is Check; with originOK the origin is known to be a valid name
// (one checked before: ParseLog checks each origin of a log once).
func (o *Op) check(originOK bool) error {
	if err := o.checkShape(originOK); err != nil {
		return err
	}
	if !checkSha(o) {
		return fmt.Errorf("%w: op says %.12s…, content hashes to %.12s…", ErrBadSha, o.Sha, Hash(o))
	}
	return nil
}

// checkShape is check but for the sha's match with the content: what
// NewOp and NewCheckpoint, which make the sha, need.
func (o *Op) checkShape(originOK bool) error {
	if o.Date < 0 {
		return fmt.Errorf("%w: negative date %d", ErrMalformed, o.Date)
	}
	if (o.Payload == nil) == (o.Value == nil) {
		return fmt.Errorf("%w: needs exactly one of payload and value", ErrMalformed)
	}
	if !originOK {
		if err := checkOrigin(o.Origin, o.Kind() == KindCheckpoint); err != nil {
			return err
		}
	}
	switch o.Kind() {
	case KindOp:
		if o.Seq == 0 {
			return fmt.Errorf("%w: op needs seq >= 1", ErrMalformed)
		}
		if o.Covers != nil {
			return fmt.Errorf("%w: covers is only for a checkpoint", ErrMalformed)
		}
	case KindCheckpoint:
		if o.Seq != 0 {
			return fmt.Errorf("%w: a checkpoint has no seq", ErrMalformed)
		}
		if err := o.Covers.check(); err != nil {
			return err
		}
	}
	if n, limit := o.encodedLen(), maxSize(o); n > limit {
		return fmt.Errorf("%w: %d bytes encoded, limit %d", ErrTooLarge, n, limit)
	}
	if len(o.Sha) != 64 {
		return fmt.Errorf("%w: sha must be 64 hex digits", ErrMalformed)
	}
	return nil
}

// maxSize is the largest encoded size of o's kind.
func maxSize(o *Op) int {
	if o.Kind() == KindCheckpoint {
		return MaxCheckpointSize
	}
	return MaxOpSize
}

// MaxLineSize is the longest line of a record, op or checkpoint.
const MaxLineSize = MaxCheckpointSize

func checkOrigin(s string, empty bool) error {
	if s == "" {
		if empty {
			return nil
		}
		return fmt.Errorf("%w: missing origin", ErrMalformed)
	}
	if len(s) > MaxOriginLen {
		return fmt.Errorf("%w: origin longer than %d bytes", ErrMalformed, MaxOriginLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: origin %q: only letters, digits, '-', '_' and '.'", ErrMalformed, s)
		}
	}
	return nil
}

// Canonical returns the canonical encoding of a JSON value: no insignificant
// space, object keys sorted, numbers as written, strings escaped the way
// encoding/json escapes them without HTML escaping. The sha is computed over
// it, so any tool that re-encodes JSON without changing its meaning keeps
// the sha valid.
func Canonical(raw []byte) (json.RawMessage, error) {
	if len(raw) > MaxOpSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), MaxOpSize)
	}
	if isCanonical(raw) {
		// Most payloads are canonical already ({"add":1}): one pass
		// over the bytes rather than decoding and encoding them (5% of
		// a sequential push's CPU, client and store, in gig-bench).
		return append(json.RawMessage(nil), raw...), nil
	}
	return canonicalSlow(raw)
}

// canonicalSlow is Canonical of any JSON value: decoded, then encoded in
// canonical form.
func canonicalSlow(raw []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after JSON value", ErrMalformed)
	}
	var buf bytes.Buffer
	if err := appendCanonical(&buf, v); err != nil {
		return nil, err
	}
	return json.RawMessage(buf.Bytes()), nil
}

func appendCanonical(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			appendString(buf, k)
			buf.WriteByte(':')
			if err := appendCanonical(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := appendCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case string:
		appendString(buf, x)
	case json.Number:
		buf.WriteString(string(x))
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case nil:
		buf.WriteString("null")
	default:
		return fmt.Errorf("%w: unexpected JSON type %T", ErrMalformed, v)
	}
	return nil
}

func appendString(buf *bytes.Buffer, s string) {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		buf.WriteByte('"')
		buf.WriteString(s)
		buf.WriteByte('"')
		return
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)               // cannot fail for a string
	buf.Truncate(buf.Len() - 1) // the newline Encode adds
}
