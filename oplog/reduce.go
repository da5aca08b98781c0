package oplog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// A Reducer computes the value of an oplog: the checkpoint's value followed by
// the payloads of the ops after it, in log order. Reducers must be
// deterministic and must not keep or modify their arguments.
type Reducer func(value json.RawMessage, payloads []json.RawMessage) (json.RawMessage, error)

// ErrNoReducer is returned for a type with no reducer.
var ErrNoReducer = errors.New("no reducer")

// Built-in reducers by name.
var builtins = map[string]Reducer{
	"lww":     LWW,
	"counter": Counter,
	"merge":   MergePatch,
	"set":     Set,
	"list":    List,
}

// Builtin returns the built-in reducer of that name: lww, counter, merge,
// set or list.
func Builtin(name string) (Reducer, bool) {
	r, ok := builtins[name]
	return r, ok
}

// A Registry maps types to reducers. A type with no registered reducer whose
// name is a built-in's (a type called "counter") uses that built-in. It is
// safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Reducer
}

// Register sets the reducer of typ.
func (r *Registry) Register(typ string, f Reducer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]Reducer)
	}
	r.m[typ] = f
}

// Lookup returns the reducer of typ.
func (r *Registry) Lookup(typ string) (Reducer, bool) {
	r.mu.RLock()
	f, ok := r.m[typ]
	r.mu.RUnlock()
	if ok {
		return f, true
	}
	return Builtin(typ)
}

// Reduce computes the value of the log l of (typ, path). An error names the
// type and the path; the log is never changed.
func (r *Registry) Reduce(typ, path string, l *Log) (json.RawMessage, error) {
	f, ok := r.Lookup(typ)
	if !ok {
		return nil, fmt.Errorf("reduce %s %s: %w for type %q", typ, path, ErrNoReducer, typ)
	}
	v, err := Reduce(f, l)
	if err != nil {
		return nil, fmt.Errorf("reduce %s %s: %w", typ, path, err)
	}
	return v, nil
}

// Reduce applies f to the log l and checks that it answered one JSON value.
func Reduce(f Reducer, l *Log) (v json.RawMessage, err error) {
	return reduce(f, l, nil)
}

// ReduceWith computes the value l would have with one more op, whose
// payload comes after every op of l, without changing l: a client checks a
// payload with it before it makes the op.
func (r *Registry) ReduceWith(typ, path string, l *Log, payload json.RawMessage) (json.RawMessage, error) {
	f, ok := r.Lookup(typ)
	if !ok {
		return nil, fmt.Errorf("reduce %s %s: %w for type %q", typ, path, ErrNoReducer, typ)
	}
	v, err := reduce(f, l, payload)
	if err != nil {
		return nil, fmt.Errorf("reduce %s %s: %w", typ, path, err)
	}
	return v, nil
}

// ReduceNext is ReduceWith for a caller that knows value, the value of l
// now: for the built-in reducers, which fold one payload at a time, it
// applies payload to value alone instead of reducing the whole log (a
// counter only while the value and the payload are integers, so that a
// float sum is always made the same way). A registered reducer reduces the
// whole log, as ReduceWith does.
func (r *Registry) ReduceNext(typ, path string, l *Log, value, payload json.RawMessage) (json.RawMessage, error) {
	r.mu.RLock()
	_, custom := r.m[typ]
	r.mu.RUnlock()
	f, builtin := builtins[typ]
	if custom || !builtin || value == nil {
		return r.ReduceWith(typ, path, l, payload)
	}
	if typ == "counter" {
		if v, ok := counterNext(value, payload); ok {
			return v, nil
		}
		_, vint := counterInt(value, false)
		_, pint := counterInt(payload, true)
		if !(vint || string(value) == "null") || !pint {
			return r.ReduceWith(typ, path, l, payload)
		}
	}
	v, err := reduceRaw(f, value, []json.RawMessage{payload})
	if err != nil {
		return nil, fmt.Errorf("reduce %s %s: %w", typ, path, err)
	}
	return v, nil
}

// ReduceAnywhere is ReduceNext for an op whose place in the log's date
// order may be anywhere, not only last (a stream event that arrived after
// later ops): it answers only when the value cannot depend on the order of
// the ops — the built-in counter while value and payload are integers (an
// exact sum) — and ok is false otherwise: reduce the log again.
func (r *Registry) ReduceAnywhere(typ string, value, payload json.RawMessage) (v json.RawMessage, ok bool) {
	if typ != "counter" || value == nil {
		return nil, false
	}
	r.mu.RLock()
	_, custom := r.m[typ]
	r.mu.RUnlock()
	if custom {
		return nil, false
	}
	return counterNext(value, payload)
}

// counterNext is the built-in counter's value with one more payload, when
// value (or null) and payload are integers and their sum fits an int64:
// what Counter answers, without its general path and the canonical check
// (an integer's decimal form is canonical).
func counterNext(value, payload json.RawMessage) (json.RawMessage, bool) {
	a, vint := counterInt(value, false)
	if !vint && string(value) != "null" {
		return nil, false
	}
	b, pint := counterInt(payload, true)
	if !pint {
		return nil, false
	}
	sum := a + b
	if (b >= 0) != (sum >= a) {
		return nil, false // past int64: the general path sums in big.Int
	}
	return strconv.AppendInt(nil, sum, 10), true
}

func reduce(f Reducer, l *Log, extra json.RawMessage) (v json.RawMessage, err error) {
	payloads := make([]json.RawMessage, len(l.ops), len(l.ops)+1)
	for i := range l.ops {
		payloads[i] = l.ops[i].Payload
	}
	if extra != nil {
		payloads = append(payloads, extra)
	}
	return reduceRaw(f, l.base.Value, payloads)
}

// reduceRaw applies f and checks that it answered one JSON value.
func reduceRaw(f Reducer, value json.RawMessage, payloads []json.RawMessage) (v json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("reducer panicked: %v", p)
		}
	}()
	v, err = f(value, payloads)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(v)) == 0 {
		return nil, errors.New("reducer returned nothing")
	}
	if v, err = Canonical(v); err != nil {
		return nil, fmt.Errorf("reducer returned invalid JSON: %w", err)
	}
	return v, nil
}

// LWW is last-writer-wins: the last payload, or the checkpoint's value when
// there is none.
func LWW(value json.RawMessage, payloads []json.RawMessage) (json.RawMessage, error) {
	if len(payloads) == 0 {
		return value, nil
	}
	return payloads[len(payloads)-1], nil
}

// Counter sums numbers: the checkpoint's value (null counts as 0) plus every
// payload, a number or {"add":number}. Integers are summed exactly, whatever
// their size; a sum with any fraction or exponent is a float64.
func Counter(value json.RawMessage, payloads []json.RawMessage) (json.RawMessage, error) {
	var isum, n big.Int
	var small int64 // integers summed here until it would overflow
	var fsum float64
	floats := false
	add := func(raw json.RawMessage, i int) error {
		if v, ok := counterInt(raw, i > 0); ok {
			if sum := small + v; (v >= 0) == (sum >= small) {
				small = sum
			} else {
				isum.Add(&isum, n.SetInt64(small))
				small = v
			}
			return nil
		}
		what := "value"
		if i > 0 {
			what = "payload " + strconv.Itoa(i)
		}
		s := string(bytes.TrimSpace(raw))
		if s == "null" && what == "value" {
			return nil
		}
		if strings.HasPrefix(s, "{") && what != "value" {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(raw, &obj); err != nil || len(obj) != 1 || obj["add"] == nil {
				return fmt.Errorf(`counter: %s %.40s is not a number or {"add":number}`, what, s)
			}
			s = string(bytes.TrimSpace(obj["add"]))
		}
		if _, ok := n.SetString(s, 10); ok {
			isum.Add(&isum, &n)
			return nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || s == "" || s[0] == '"' {
			return fmt.Errorf("counter: %s %.40s is not a number", what, s)
		}
		floats = true
		fsum += f
		return nil
	}
	if err := add(value, 0); err != nil {
		return nil, err
	}
	for i, p := range payloads {
		if err := add(p, i+1); err != nil {
			return nil, err
		}
	}
	isum.Add(&isum, n.SetInt64(small))
	if !floats {
		return json.RawMessage(isum.String()), nil
	}
	f, _ := new(big.Float).SetInt(&isum).Float64()
	f += fsum
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errors.New("counter: sum out of range")
	}
	return json.RawMessage(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// MergePatch applies each payload to the value as an RFC 7396 JSON merge
// patch, in order.
func MergePatch(value json.RawMessage, payloads []json.RawMessage) (json.RawMessage, error) {
	doc, err := decodeAny(value)
	if err != nil {
		return nil, fmt.Errorf("merge: value: %w", err)
	}
	for i, p := range payloads {
		patch, err := decodeAny(p)
		if err != nil {
			return nil, fmt.Errorf("merge: payload %d: %w", i+1, err)
		}
		doc = mergePatch(doc, patch)
	}
	return encodeAny(doc)
}

func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = make(map[string]any)
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}

// Set keeps a set of JSON values: payloads are {"add":x} or {"del":x}. The
// value is an array of the members, sorted by their canonical JSON.
func Set(value json.RawMessage, payloads []json.RawMessage) (json.RawMessage, error) {
	members := make(map[string]bool)
	if s := string(bytes.TrimSpace(value)); s != "null" {
		var arr []json.RawMessage
		if err := json.Unmarshal(value, &arr); err != nil {
			return nil, fmt.Errorf("set: value is not an array")
		}
		for _, m := range arr {
			c, err := Canonical(m)
			if err != nil {
				return nil, fmt.Errorf("set: value: %w", err)
			}
			members[string(c)] = true
		}
	}
	for i, p := range payloads {
		var op map[string]json.RawMessage
		if err := json.Unmarshal(p, &op); err != nil || len(op) != 1 {
			return nil, fmt.Errorf(`set: payload %d: want {"add":x} or {"del":x}`, i+1)
		}
		for k, x := range op {
			c, err := Canonical(x)
			if err != nil {
				return nil, fmt.Errorf("set: payload %d: %w", i+1, err)
			}
			switch k {
			case "add":
				members[string(c)] = true
			case "del":
				delete(members, string(c))
			default:
				return nil, fmt.Errorf(`set: payload %d: want {"add":x} or {"del":x}, got key %q`, i+1, k)
			}
		}
	}
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('[')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// List appends every payload to the value (null is the empty list).
func List(value json.RawMessage, payloads []json.RawMessage) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	n := 0
	if s := bytes.TrimSpace(value); string(s) != "null" {
		if len(s) < 2 || s[0] != '[' {
			return nil, fmt.Errorf("list: value is not an array")
		}
		inner := bytes.TrimSpace(s[1 : len(s)-1])
		if len(inner) > 0 {
			b.Write(inner)
			n++
		}
	}
	for _, p := range payloads {
		if n > 0 {
			b.WriteByte(',')
		}
		b.Write(p)
		n++
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

func decodeAny(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func encodeAny(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := appendCanonical(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// counterInt parses a counter term that is a small integer: -?[0-9]{1,18},
// or {"add":that} for a payload, as canonical JSON writes them.
func counterInt(raw json.RawMessage, payload bool) (int64, bool) {
	b := []byte(raw)
	if payload && len(b) > 8 && string(b[:7]) == `{"add":` && b[len(b)-1] == '}' {
		b = b[7 : len(b)-1]
	}
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}
