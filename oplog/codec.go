package oplog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"
)

// AppendJSON appends the JSON line form of o, without the newline:
//
//	{"date":D,"origin":"O","seq":N,"sha":"S","payload":P}
//	{"date":D,"origin":"O","sha":"S","value":V,"covers":{"O":N,...}}
//
// The initial checkpoint has no origin field.
func (o *Op) AppendJSON(b []byte) []byte {
	b = append(b, `{"date":`...)
	b = strconv.AppendInt(b, o.Date, 10)
	if o.Origin != "" {
		b = append(b, `,"origin":"`...)
		b = append(b, o.Origin...)
		b = append(b, '"')
	}
	if o.Kind() == KindOp {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, o.Seq, 10)
	}
	b = append(b, `,"sha":"`...)
	b = append(b, o.Sha...)
	b = append(b, '"')
	if o.Kind() == KindOp {
		b = append(b, `,"payload":`...)
		b = append(b, o.Payload...)
	} else {
		b = append(b, `,"value":`...)
		b = append(b, o.Value...)
		b = append(b, `,"covers":`...)
		b = o.Covers.appendJSON(b)
	}
	return append(b, '}')
}

// encodeChunk is the fewest ops one goroutine of appendLines encodes.
const encodeChunk = 16 << 10

// appendLines appends ops as JSON lines. The room they take is known
// beforehand (encodedLen), so a long run of ops is cut into parts, up to
// GOMAXPROCS, that goroutines encode at once, each into its own stretch
// of b.
func appendLines(b []byte, ops []Op) []byte {
	parts := min(runtime.GOMAXPROCS(0), len(ops)/encodeChunk)
	if parts <= 1 {
		n := 0
		for i := range ops {
			n += ops[i].encodedLen() + 1
		}
		b = slices.Grow(b, n)
		for i := range ops {
			b = ops[i].AppendJSON(b)
			b = append(b, '\n')
		}
		return b
	}
	cut := make([]int, parts+1)  // part k is ops[cut[k]:cut[k+1]]
	size := make([]int, parts+1) // and goes at b[start+size[k]:]
	for k := 0; k < parts; k++ {
		cut[k+1] = len(ops) * (k + 1) / parts
		size[k+1] = size[k]
		for i := cut[k]; i < cut[k+1]; i++ {
			size[k+1] += ops[i].encodedLen() + 1
		}
	}
	start := len(b)
	b = slices.Grow(b, size[parts])[:start+size[parts]]
	var wg sync.WaitGroup
	ok := make([]bool, parts)
	for k := 0; k < parts; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := b[start+size[k] : start+size[k] : start+size[k+1]]
			for i := cut[k]; i < cut[k+1]; i++ {
				dst = ops[i].AppendJSON(dst)
				dst = append(dst, '\n')
			}
			// A length other than encodedLen's would have written past
			// the part (into a copy, at worst): never seen, but checked.
			ok[k] = len(dst) == size[k+1]-size[k] && (len(dst) == 0 || &dst[0] == &b[start+size[k]])
		}()
	}
	wg.Wait()
	for k := range ok {
		if !ok[k] {
			b = b[:start]
			for i := range ops {
				b = ops[i].AppendJSON(b)
				b = append(b, '\n')
			}
			return b
		}
	}
	return b
}

// appendStored appends the form of o kept in log files: AppendJSON's
// without the sha, which is computed again from the content when the file
// is loaded (it is 32 bytes of entropy per op, more than the rest of a
// small op compressed).
func (o *Op) appendStored(b []byte) []byte {
	start := len(b)
	b = o.AppendJSON(b)
	i := bytes.Index(b[start:], []byte(`,"sha":"`))
	if i < 0 {
		return b
	}
	i += start
	n := len(`,"sha":""`) + len(o.Sha)
	return append(b[:i], b[i+n:]...)
}

// DecodeRecords decodes records as a log's file keeps them (what
// DiskLog.MergeJournaled hands a journal), one per line, with or without
// their shas: those missing are computed again. They are not checked (a
// store checked each when it accepted it); a line that does not parse is
// an error naming it.
func DecodeRecords(lines []byte) ([]Op, error) {
	var ops []Op
	for n := 1; len(lines) > 0; n++ {
		line := lines
		if i := bytes.IndexByte(lines, '\n'); i >= 0 {
			line, lines = lines[:i], lines[i+1:]
		} else {
			lines = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		o, err := decode(line, false)
		if err != nil {
			return nil, &LineError{Line: n, Err: err}
		}
		ops = append(ops, o)
	}
	return ops, nil
}

// appendStoredLines appends the log as appendStored lines, checkpoint
// first.
func (l *Log) appendStoredLines(b []byte) []byte {
	b = l.base.appendStored(b)
	b = append(b, '\n')
	for i := range l.ops {
		b = l.ops[i].appendStored(b)
		b = append(b, '\n')
	}
	return b
}

// MarshalJSON encodes o as AppendJSON does.
func (o Op) MarshalJSON() ([]byte, error) { return o.AppendJSON(nil), nil }

// UnmarshalJSON decodes and checks an op as Decode does.
func (o *Op) UnmarshalJSON(b []byte) error {
	op, err := Decode(b)
	if err != nil {
		return err
	}
	*o = op
	return nil
}

// wire is the JSON form of an op as it arrives.
type wire struct {
	Date    json.RawMessage            `json:"date"`
	Origin  *string                    `json:"origin"`
	Seq     json.RawMessage            `json:"seq"`
	Sha     *string                    `json:"sha"`
	Payload json.RawMessage            `json:"payload"`
	Value   json.RawMessage            `json:"value"`
	Covers  map[string]json.RawMessage `json:"covers"`
}

// Decode parses one op or checkpoint from its JSON form and checks it: every
// field present and of the right type, no unknown field, the body any JSON
// value, the size within MaxOpSize (MaxCheckpointSize for a checkpoint), and the sha matching the content.
func Decode(line []byte) (Op, error) {
	return decode(line, true)
}

// DecodeHeld is Decode for a reader that may hold the op already (a
// client gets each op from every store of its channel): when held
// reports it does, by its sha and (origin, seq), the op is returned with
// isHeld true and not verified (the caller drops it; its Payload may
// alias line). Any other op is checked as Decode checks it.
func DecodeHeld(line []byte, held func(*Op) bool) (o Op, isHeld bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) > MaxLineSize {
		return Op{}, false, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(line), MaxLineSize)
	}
	if o, ok := decodeFast(line, nil); ok && o.Sha != "" {
		if o.Kind() == KindOp && o.Seq > 0 && held(&o) {
			return o, true, nil
		}
		o.Payload = append(json.RawMessage(nil), o.Payload...) // line is the caller's
		return o, false, o.Check()
	}
	o, err = decodeSlow(line, true)
	return o, false, err
}

// decode parses an op; with verify it also canonicalizes the body and
// checks the sha (ops from our own files were checked when written).
func decode(line []byte, verify bool) (Op, error) {
	line = bytes.TrimSpace(line)
	if verify && len(line) > MaxLineSize { // our own files were checked when written
		return Op{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(line), MaxLineSize)
	}
	if o, ok := decodeFast(line, nil); ok && (o.Sha != "" || !verify) {
		o.Payload = append(json.RawMessage(nil), o.Payload...) // line is the caller's
		if !verify {
			if o.Sha == "" { // a record of a log file: see appendStored
				o.Sha = Hash(&o)
			}
			return o, nil
		}
		return o, o.Check()
	}
	return decodeSlow(line, verify)
}

// decodeSlow is decode for any JSON form of an op.
func decodeSlow(line []byte, verify bool) (Op, error) {
	var w wire
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Op{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// Not dec.More: it says nothing of a stray '}' or ']'.
	if rest := bytes.TrimSpace(line[dec.InputOffset():]); len(rest) > 0 {
		return Op{}, fmt.Errorf("%w: trailing data after the op", ErrMalformed)
	}
	var o Op
	var err error
	if w.Date == nil {
		return Op{}, fmt.Errorf("%w: missing date", ErrMalformed)
	}
	if o.Date, err = strconv.ParseInt(string(w.Date), 10, 64); err != nil {
		return Op{}, fmt.Errorf("%w: date %s is not an integer", ErrMalformed, w.Date)
	}
	if w.Origin != nil {
		o.Origin = *w.Origin
	}
	if w.Sha == nil && verify {
		return Op{}, fmt.Errorf("%w: missing sha", ErrMalformed)
	}
	if w.Sha != nil {
		o.Sha = *w.Sha
	}
	switch {
	case w.Payload != nil && w.Value != nil:
		return Op{}, fmt.Errorf("%w: has both payload and value", ErrMalformed)
	case w.Payload != nil:
		if w.Seq == nil {
			return Op{}, fmt.Errorf("%w: missing seq", ErrMalformed)
		}
		if o.Seq, err = strconv.ParseUint(string(w.Seq), 10, 64); err != nil {
			return Op{}, fmt.Errorf("%w: seq %s is not a positive integer", ErrMalformed, w.Seq)
		}
		if w.Covers != nil {
			return Op{}, fmt.Errorf("%w: covers is only for a checkpoint", ErrMalformed)
		}
		o.Payload = w.Payload
	case w.Value != nil:
		if w.Seq != nil {
			return Op{}, fmt.Errorf("%w: a checkpoint has no seq", ErrMalformed)
		}
		if w.Covers == nil {
			return Op{}, fmt.Errorf("%w: missing covers", ErrMalformed)
		}
		o.Covers = make(Coverage, len(w.Covers))
		for k, v := range w.Covers {
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return Op{}, fmt.Errorf("%w: covers %q: %s is not a positive integer", ErrMalformed, k, v)
			}
			o.Covers[k] = n
		}
		o.Value = w.Value
	default:
		return Op{}, fmt.Errorf("%w: missing payload or value", ErrMalformed)
	}
	if !verify {
		if w.Sha == nil { // a record of a log file: see appendStored
			o.Sha = Hash(&o)
		}
		return o, nil
	}
	if o.Payload != nil {
		if o.Payload, err = Canonical(o.Payload); err != nil {
			return Op{}, fmt.Errorf("payload: %w", err)
		}
	} else if o.Value, err = Canonical(o.Value); err != nil {
		return Op{}, fmt.Errorf("value: %w", err)
	}
	return o, o.Check()
}

// A LineError is the error of one line of JSON lines input.
type LineError struct {
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Scanner reads ops as JSON lines, skipping blank lines. Each line is
// decoded and checked on its own, so one bad line does not hide the others.
type Scanner struct {
	sc      *bufio.Scanner
	line    int
	op      Op
	lineErr error
	err     error
}

// NewScanner returns a Scanner reading r.
func NewScanner(r io.Reader) *Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineSize+1)
	return &Scanner{sc: sc}
}

// Scan advances to the next non-blank line and reports whether there is
// one. Op or LineErr then give its op or why it is not one. After a false,
// Err tells why the scan stopped (nil at the end of input).
func (s *Scanner) Scan() bool {
	for s.sc.Scan() {
		s.line++
		b := bytes.TrimSpace(s.sc.Bytes())
		if len(b) == 0 {
			continue
		}
		s.op, s.lineErr = Decode(b)
		if s.lineErr != nil {
			s.lineErr = &LineError{Line: s.line, Err: s.lineErr}
		}
		return true
	}
	if err := s.sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			err = fmt.Errorf("%w: line longer than %d bytes", ErrTooLarge, MaxLineSize)
		}
		s.err = &LineError{Line: s.line + 1, Err: err}
	}
	return false
}

// Op returns the op of the current line.
func (s *Scanner) Op() Op { return s.op }

// LineErr returns why the current line is not a valid op, or nil.
func (s *Scanner) LineErr() error { return s.lineErr }

// Err returns the error that stopped the scan, or nil at end of input.
func (s *Scanner) Err() error { return s.err }

// Line is the number of the current line.
func (s *Scanner) Line() int { return s.line }
