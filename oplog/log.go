package oplog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"

	"gigfs.io/gigfs/gig"
)

// Outcome is what merging one op or checkpoint into a log did, in short.
type Outcome uint8

const (
	// Accepted: the record is new and now part of the log.
	Accepted Outcome = iota
	// NoOp: the log already holds the record or something that includes it.
	NoOp
	// Refused: the record is invalid or conflicts with the log; the log is
	// unchanged.
	Refused
)

func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case NoOp:
		return "no-op"
	}
	return "refused"
}

// A Code says exactly what merging one record did. Codes cross the wire as
// the leading word of a result line (Result.String, ParseResult); the words
// are stable (PROTOCOL.md).
type Code uint8

// The codes, by outcome.
const (
	// CodeAccepted (accepted): the record is new and now part of the log.
	CodeAccepted Code = iota
	// CodeDuplicate (no-op): the log holds this very record.
	CodeDuplicate
	// CodeCovered (no-op): the checkpoint covers this op; applying it again
	// would count it twice.
	CodeCovered
	// CodeSuperseded (no-op): this checkpoint's coverage is included in the
	// current one's.
	CodeSuperseded
	// CodeSeqTaken (refused): another op holds this op's (origin, seq).
	CodeSeqTaken
	// CodeIncomparable (refused): this checkpoint and the current one each
	// cover ops the other does not.
	CodeIncomparable
	// CodeInvalid (refused): the record is malformed: a bad sha, date,
	// field or name.
	CodeInvalid
	// CodeLimit (refused): the record is over a bound (size, date horizon).
	CodeLimit
	// CodeFailed (refused, for now): the store could not store the record
	// (a disk failure); nothing of it is acknowledged; sending it again
	// may work. The only refusal that is not final.
	CodeFailed
	numCodes
)

var codeWords = [numCodes]string{"accepted", "duplicate", "covered", "superseded", "seq-taken", "incomparable", "invalid", "limit", "failed"}

// String returns the code's word.
func (c Code) String() string {
	if c < numCodes {
		return codeWords[c]
	}
	return fmt.Sprintf("code(%d)", c)
}

// Outcome returns what the code means in short.
func (c Code) Outcome() Outcome {
	switch c {
	case CodeAccepted:
		return Accepted
	case CodeDuplicate, CodeCovered, CodeSuperseded:
		return NoOp
	}
	return Refused
}

// Kind is the error kind of a refusal: gig.ErrConflict for a record that
// contradicts the log, gig.ErrInvalid or gig.ErrLimit for one that is bad
// in itself, gig.ErrUnavailable for one the store failed to store; nil for
// the other codes.
func (c Code) Kind() *gig.Kind {
	switch c {
	case CodeSeqTaken, CodeIncomparable:
		return gig.ErrConflict
	case CodeInvalid:
		return gig.ErrInvalid
	case CodeLimit:
		return gig.ErrLimit
	case CodeFailed:
		return gig.ErrUnavailable
	}
	return nil
}

// Final reports whether the code is the store's last word on the record:
// every code but CodeFailed.
func (c Code) Final() bool { return c != CodeFailed }

// Result is the answer to merging one record: its code and, but for an
// accepted record, why.
type Result struct {
	Code   Code
	Reason string
}

// Outcome returns what the result means in short.
func (r Result) Outcome() Outcome { return r.Code.Outcome() }

// Err returns the refusal as an error of the code's kind, nil unless the
// record was refused.
func (r Result) Err() error {
	if r.Outcome() != Refused {
		return nil
	}
	k := r.Code.Kind()
	if r.Code.String() == k.Word() {
		return gig.Errorf(k, "%s", r.Reason) // the word says it once
	}
	return gig.Errorf(k, "%s: %s", r.Code, r.Reason)
}

// Refusal returns the result of a record refused for err: CodeLimit for an
// error of kind gig.ErrLimit, CodeInvalid for one of kind gig.ErrInvalid
// or without a kind of its own (a decoding error), CodeFailed for the
// store's own failures (gig.ErrInternal from an io/fs error, unavailable).
func Refusal(err error) Result {
	switch gig.KindOf(err) {
	case gig.ErrLimit:
		return Result{CodeLimit, err.Error()}
	case gig.ErrUnavailable, gig.ErrTransport, gig.ErrTimeout, gig.ErrInterrupted, gig.ErrClosed:
		return Result{CodeFailed, err.Error()}
	case gig.ErrInternal:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return Result{CodeFailed, err.Error()}
		}
	}
	return Result{CodeInvalid, err.Error()}
}

// String returns the result line: the code's word, then ": " and the
// reason if there is one.
func (r Result) String() string {
	if r.Reason == "" {
		return r.Code.String()
	}
	return r.Code.String() + ": " + r.Reason
}

type originSeq struct {
	origin string
	seq    uint64
}

// A Log is one oplog in memory: the current checkpoint (the base) and the
// ops it does not cover, in (date, sha) order. Its state depends only on the
// set of records merged into it, not on their order or repetition; see Merge.
// A Log is not safe for concurrent use.
type Log struct {
	base Op
	ops  []Op // not covered by base, sorted by Less
	// bySeq maps (origin, seq) to sha for every op, once the log has more
	// than indexMin ops; a shorter log finds an (origin, seq) by scanning
	// its ops (seqOf).
	bySeq map[originSeq]string
	// shape counts the changes that were not an op appended at the end
	// (an op inserted before others, ops pruned or dropped): what a
	// SizeCache measured of the ops holds while it stays the same.
	shape uint64
	// seqMax is the highest seq of each origin among the ops, kept once
	// NextSeq was asked (a client asks on every op it makes) and until
	// ops are removed or replaced (nil then: the next ask walks them).
	seqMax map[string]uint64
}

// indexMin is how many ops a log holds before it indexes them by (origin,
// seq). Below it a scan of the ops is about as quick as the map and saves
// its memory, the largest part of a short log's (a store holds many: at
// 1,000,000 ops over 100,000 paths the maps of ten-op logs were a fifth of
// the heap). A log that a checkpoint prunes to half of it drops its map.
const indexMin = 32

// initial is the initial checkpoint every new log starts from (shared:
// logs never change their checkpoint in place).
var initial = Initial()

// NewLog returns a log holding only the initial checkpoint.
func NewLog() *Log {
	return &Log{base: initial}
}

// seqOf returns the sha of the op that holds (origin, seq), if any.
func (l *Log) seqOf(origin string, seq uint64) (string, bool) {
	if l.bySeq != nil {
		sha, ok := l.bySeq[originSeq{origin, seq}]
		return sha, ok
	}
	for i := range l.ops {
		if o := &l.ops[i]; o.Seq == seq && o.Origin == origin {
			return o.Sha, true
		}
	}
	return "", false
}

// indexed notes in the index an op just added to l.ops, building the
// index when the log passes indexMin ops.
func (l *Log) indexed(o *Op) {
	switch {
	case l.bySeq != nil:
		l.bySeq[originSeq{o.Origin, o.Seq}] = o.Sha
	case len(l.ops) > indexMin:
		l.reindex()
	}
}

// reindex builds the index of the ops afresh, or drops it for a log short
// enough to scan.
func (l *Log) reindex() {
	if len(l.ops) <= indexMin/2 {
		l.bySeq = nil
		return
	}
	l.bySeq = make(map[originSeq]string, len(l.ops))
	for i := range l.ops {
		l.bySeq[originSeq{l.ops[i].Origin, l.ops[i].Seq}] = l.ops[i].Sha
	}
}

// insert puts o at index i of the ops. The ops' slice grows by a quarter
// (at least two) when full, not twice as the runtime's append does: a
// store keeps many short logs, and most grow by one op at a time.
// An op whose origin is that of the op before it shares its string.
func (l *Log) insert(i int, o Op) {
	if n := len(l.ops); n == cap(l.ops) {
		grown := make([]Op, n, n+max(2, n/4))
		copy(grown, l.ops)
		l.ops = grown
	}
	if i > 0 && l.ops[i-1].Origin == o.Origin {
		o.Origin = l.ops[i-1].Origin
	}
	if i < len(l.ops) {
		l.shape++
	}
	l.ops = append(l.ops, Op{})
	copy(l.ops[i+1:], l.ops[i:])
	l.ops[i] = o
	if l.seqMax != nil && o.Seq > l.seqMax[o.Origin] {
		l.seqMax[o.Origin] = o.Seq
	}
}

// Base returns the current checkpoint.
func (l *Log) Base() Op { return l.base }

// Ops returns the ops after the checkpoint, in order. The slice is the log's
// own; callers must not modify it.
func (l *Log) Ops() []Op { return l.ops }

// Len is the number of records the log holds: the checkpoint and the ops.
func (l *Log) Len() int { return 1 + len(l.ops) }

// Merge adds one op or checkpoint to the log, after checking it (Op.Check).
//
// An op is accepted unless the log already holds it (no-op), the checkpoint
// covers it (no-op: its effect is in the checkpoint's value, and applying it
// again would count it twice), or another op holds its (origin, seq)
// (refused). An uncovered op dated before the checkpoint is accepted: it is
// replayed after the checkpoint, never dropped.
//
// A checkpoint replaces the current one when its coverage includes the
// current one's (equal coverage: the larger by (date, sha) wins), and prunes
// the ops it covers. A checkpoint whose coverage is included in the current
// one's is a no-op. One whose coverage is incomparable (each covers ops the
// other does not) is refused: taking either would lose the other's ops. Two
// clients that fold at the same moment can make such a pair; every op each
// covers was pushed to every store first, so a later checkpoint covering
// both (what a client's sync makes when stores' checkpoints differ)
// settles it.
func (l *Log) Merge(o Op) Result {
	if err := o.Check(); err != nil {
		return Refusal(err)
	}
	return l.merge(o)
}

// MergeChecked is Merge of an op that has passed Check already: made by
// NewOp or NewCheckpoint, or read by Decode. It is not verified again (a
// client verifies what a store sends it once, not once per step).
func (l *Log) MergeChecked(o Op) Result { return l.merge(o) }

// merge is Merge without the check, for records from our own files.
func (l *Log) merge(o Op) Result {
	if o.Kind() == KindCheckpoint {
		return l.mergeCheckpoint(o)
	}
	if l.base.Covers.Covers(&o) {
		return Result{CodeCovered, fmt.Sprintf("covered by checkpoint %.12s", l.base.Sha)}
	}
	if sha, ok := l.seqOf(o.Origin, o.Seq); ok {
		if sha == o.Sha {
			return Result{CodeDuplicate, "already present"}
		}
		return Result{CodeSeqTaken, fmt.Sprintf("origin %s seq %d is already op %.12s", o.Origin, o.Seq, sha)}
	}
	// Ops mostly arrive in order: append, else insert in place.
	i := len(l.ops)
	if i > 0 && Less(&o, &l.ops[i-1]) {
		i = sort.Search(len(l.ops), func(j int) bool { return Less(&o, &l.ops[j]) })
	}
	l.insert(i, o)
	l.indexed(&l.ops[i])
	return Result{Code: CodeAccepted}
}

func (l *Log) mergeCheckpoint(c Op) Result {
	if c.Sha == l.base.Sha {
		return Result{CodeDuplicate, "already present"}
	}
	le, ge := c.Covers.Compare(l.base.Covers)
	switch {
	case le && ge:
		if Less(&c, &l.base) {
			return Result{CodeSuperseded, fmt.Sprintf("by checkpoint %.12s", l.base.Sha)}
		}
	case le:
		return Result{CodeSuperseded, fmt.Sprintf("by checkpoint %.12s", l.base.Sha)}
	case !ge:
		return Result{CodeIncomparable, fmt.Sprintf("with checkpoint %.12s: each covers ops the other does not", l.base.Sha)}
	}
	l.base = c
	// Pruned in place, but for a full array: it may be shared with the
	// answer of MergeLogOwned (see there), and is not written.
	inPlace := cap(l.ops) > len(l.ops)
	var kept []Op
	if inPlace {
		kept = l.ops[:0]
	}
	for _, o := range l.ops {
		if c.Covers.Covers(&o) {
			if l.bySeq != nil {
				delete(l.bySeq, originSeq{o.Origin, o.Seq})
			}
			continue
		}
		kept = append(kept, o)
	}
	if inPlace {
		clear(l.ops[len(kept):])
	}
	l.ops = kept
	l.shape++
	l.seqMax = nil
	if l.bySeq != nil && len(l.ops) <= indexMin/2 {
		l.bySeq = nil
	}
	return Result{Code: CodeAccepted}
}

// Last reports whether o, an op, would come after every op of the log
// and not be covered by its checkpoint: merged, it would be the last op,
// and the log's value is the value before it with its payload applied.
func (l *Log) Last(o *Op) bool {
	if o.Kind() != KindOp || l.base.Covers.Covers(o) {
		return false
	}
	return len(l.ops) == 0 || Less(&l.ops[len(l.ops)-1], o)
}

// Has reports whether the log holds o or something that makes it a no-op:
// for an op, a checkpoint that covers it; for a checkpoint, one that covers
// all it does and wins over it.
func (l *Log) Has(o *Op) bool {
	if o.Kind() == KindCheckpoint {
		le, ge := o.Covers.Compare(l.base.Covers)
		if le && ge {
			return o.Sha == l.base.Sha || Less(o, &l.base)
		}
		return le
	}
	if l.base.Covers.Covers(o) {
		return true
	}
	sha, ok := l.seqOf(o.Origin, o.Seq)
	return ok && sha == o.Sha
}

// Drop removes the op o from the log and reports whether the log held it.
// It is for a client taking back an op that every store refused, so that
// no store holds it: a record stores have must never be dropped, since
// the next merge would bring it back. A checkpoint is never dropped.
func (l *Log) Drop(o *Op) bool {
	if o.Kind() != KindOp {
		return false
	}
	if sha, ok := l.seqOf(o.Origin, o.Seq); !ok || sha != o.Sha {
		return false
	}
	if l.bySeq != nil {
		delete(l.bySeq, originSeq{o.Origin, o.Seq})
	}
	l.shape++
	l.seqMax = nil
	for i := range l.ops {
		if l.ops[i].Sha == o.Sha {
			if cap(l.ops) == len(l.ops) { // maybe shared (MergeLogOwned): into a new array
				l.ops = append(slices.Clip(l.ops[:i]), l.ops[i+1:]...)
			} else {
				l.ops = slices.Delete(l.ops, i, i+1)
			}
			break
		}
	}
	return true
}

// Records returns the checkpoint followed by the ops, in log order.
func (l *Log) Records() []Op {
	out := make([]Op, 0, l.Len())
	out = append(out, l.base)
	return append(out, l.ops...)
}

// AppendJSONLines appends the log as JSON lines, checkpoint first. A long
// log is encoded on several goroutines (appendLines).
func (l *Log) AppendJSONLines(b []byte) []byte {
	b = slices.Grow(b, l.base.encodedLen()+1)
	b = l.base.AppendJSON(b)
	b = append(b, '\n')
	return appendLines(b, l.ops)
}

// WriteTo writes the log as JSON lines, checkpoint first.
func (l *Log) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(l.AppendJSONLines(nil))
	return int64(n), err
}

// Clone returns an independent copy of l.
func (l *Log) Clone() *Log {
	return &Log{base: l.base, ops: slices.Clone(l.ops), bySeq: maps.Clone(l.bySeq)}
}

// restore makes l what from, a Clone of it, was: for undoing a merge.
// from must not be used after.
func (l *Log) restore(from *Log) {
	l.base, l.ops, l.bySeq = from.base, from.ops, from.bySeq
	l.shape++
	l.seqMax = nil
}

// NextSeq returns the seq the origin's next op on this log must carry:
// one past the highest of the origin's seqs the log holds or its
// checkpoint covers. The first ask walks the ops; the log then keeps
// each origin's highest seq as ops are merged, so a client making op
// after op on a long tail, even with other origins' ops inserted before
// its own (a shared path), pays a map access per ask, not a walk. After a
// prune, a drop or a merge that replaces the ops, the next ask walks them
// again.
func (l *Log) NextSeq(origin string) uint64 {
	if l.seqMax == nil {
		l.seqMax = make(map[string]uint64)
		for i := range l.ops {
			o := &l.ops[i]
			if o.Seq > l.seqMax[o.Origin] {
				l.seqMax[o.Origin] = o.Seq
			}
		}
	}
	return max(l.base.Covers[origin], l.seqMax[origin]) + 1
}

// Coverable returns the coverage a checkpoint of this log would have: per
// origin, the ops that continue the current checkpoint's prefix without a
// gap; how many ops it would cover beyond the current checkpoint, and the
// date of the oldest of them.
//
// It walks the ops again only while a walk both grew a prefix and passed
// an op beyond its origin's prefix (an earlier seq of that origin comes
// later in the log), and keeps the counter of the last op's origin aside,
// since the ops of one origin often come in a row: a tail in seq order
// costs two walks and a few map accesses per run of one origin.
func (l *Log) Coverable() (cov Coverage, n int, oldest int64) {
	cov = l.base.Covers.Clone()
	for {
		grew, ahead := false, false
		var c originCounter
		for i := range l.ops {
			o := &l.ops[i]
			at := c.get(cov, o.Origin)
			switch {
			case o.Seq == at+1:
				c.set(o.Seq)
				grew = true
			case o.Seq > at+1:
				ahead = true
			}
		}
		c.put(cov)
		if !grew || !ahead {
			break
		}
	}
	var c originCounter
	for i := range l.ops {
		if o := &l.ops[i]; o.Seq <= c.get(cov, o.Origin) {
			if n == 0 {
				oldest = o.Date
			}
			n++
		}
	}
	return cov, n, oldest
}

// An originCounter is one origin's entry of a Coverage, kept aside while
// ops of that origin come in a row.
type originCounter struct {
	origin string
	at     uint64
	valid  bool // origin and at are set
	dirty  bool // at is to be written back
}

// get returns cov's counter for origin, writing back the one kept aside
// if it is another origin's.
func (c *originCounter) get(cov Coverage, origin string) uint64 {
	if !c.valid || c.origin != origin {
		c.put(cov)
		c.origin, c.at, c.valid = origin, cov[origin], true
	}
	return c.at
}

// set changes the counter kept aside.
func (c *originCounter) set(at uint64) { c.at, c.dirty = at, true }

// put writes the counter kept aside back into cov if it changed.
func (c *originCounter) put(cov Coverage) {
	if c.dirty {
		cov[c.origin] = c.at
		c.dirty = false
	}
}

// Fold makes the checkpoint that stands for every op of the log that can be
// covered: per origin, the ops that continue the checkpoint's prefix without
// a gap. Its value is the reducer applied to the current checkpoint's value
// and those ops, in log order. Ops after a gap (an earlier op of their origin
// is missing) stay uncovered. Fold reports false when there is nothing to
// cover. It does not change the log; merge the checkpoint to prune.
func (l *Log) Fold(r Reducer, date int64, origin string) (Op, bool, error) {
	cov, _, _ := l.Coverable()
	var payloads []json.RawMessage
	for i := range l.ops {
		if cov.Covers(&l.ops[i]) {
			payloads = append(payloads, l.ops[i].Payload)
		}
	}
	if len(payloads) == 0 {
		return Op{}, false, nil
	}
	v, err := r(l.base.Value, payloads)
	if err != nil {
		return Op{}, false, err
	}
	c, err := NewCheckpoint(date, origin, v, cov)
	return c, err == nil, err
}

// ParseResult parses the text form of a Result (a code's word, then ": "
// and the reason: "accepted", "duplicate: already present"), as a store's
// push file answers it.
func ParseResult(s string) (Result, error) {
	word, reason, _ := strings.Cut(s, ": ")
	for c := range numCodes {
		if word == codeWords[c] {
			return Result{c, reason}, nil
		}
	}
	return Result{}, gig.Errorf(gig.ErrInvalid, "bad result %q", s)
}

// MergeLog merges every record of src into l and returns those that were
// new to l, checkpoint first. src's records were checked when they entered
// it, so they are not checked again. src is not changed.
func (l *Log) MergeLog(src *Log) []Op {
	if l.base.Sha == initialSha && len(l.ops) == 0 && src != l {
		// Into an empty log: a copy.
		var out []Op
		if src.base.Sha != initialSha {
			out = append(out, src.base)
		}
		out = append(out, src.ops...)
		l.base = src.base
		l.ops = append(make([]Op, 0, len(src.ops)), src.ops...)
		l.shape++
		l.seqMax = nil
		l.bySeq = maps.Clone(src.bySeq)
		return out
	}
	var out []Op
	if r := l.merge(src.base); r.Outcome() == Accepted {
		out = append(out, src.base)
	}
	for i := range src.ops {
		if r := l.merge(src.ops[i]); r.Outcome() == Accepted {
			out = append(out, src.ops[i])
		}
	}
	return out
}

var initialSha = Initial().Sha

// MergeLogOwned is MergeLog for a log the caller gives up, as a client
// does with a store's answer: merged into a log that holds only the
// initial checkpoint, src's ops and (origin, seq) index become l's
// without a copy. src is left empty (only the initial checkpoint) and
// must not be used afterwards.
//
// When src's checkpoint is the initial one, the records returned are
// l's ops themselves, not a copy: l's array of ops is then full (its
// capacity is its length), and a log never writes into a full array (an
// insert moves the ops to a larger one, a prune or a drop builds a new
// one), so the slice returned keeps its records whatever l does next.
func (l *Log) MergeLogOwned(src *Log) []Op {
	if l.base.Sha != initialSha || len(l.ops) != 0 || src == l {
		return l.MergeLog(src)
	}
	ops := slices.Clip(src.ops)
	out := ops
	if src.base.Sha != initialSha {
		out = make([]Op, 0, len(ops)+1)
		out = append(out, src.base)
		out = append(out, ops...)
	}
	l.base, l.ops, l.bySeq = src.base, ops, src.bySeq
	l.shape++
	l.seqMax = nil
	*src = Log{base: initial}
	return out
}
