package oplog

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"gigfs.io/gigfs/gig"
)

// history is a random but realistic set of records on one path: ops from
// a few origins (counter payloads, dates drawn from a narrow range so that
// equal dates are common) and a chain of checkpoints, each folding a
// per-origin prefix of the ops at least as long as the previous one's, as
// clients do when stores agree.
type history struct {
	records []Op
	sum     int64 // of every op's payload: the value every log must reach
}

func genHistory(tb testing.TB, rng *rand.Rand) history {
	tb.Helper()
	nOrigins := 1 + rng.Intn(4)
	var h history
	byOrigin := make([][]Op, nOrigins)
	cut := make([]int, nOrigins) // per-origin prefix folded by the last checkpoint
	prev := Initial()
	nOps := rng.Intn(40)
	for i := 0; i < nOps; i++ {
		k := rng.Intn(nOrigins)
		n := int64(rng.Intn(21) - 10)
		o := mustOp(tb, int64(1000+rng.Intn(30)), "o"+strconv.Itoa(k), uint64(len(byOrigin[k])+1), strconv.FormatInt(n, 10))
		byOrigin[k] = append(byOrigin[k], o)
		h.records = append(h.records, o)
		h.sum += n
		if rng.Intn(8) == 0 {
			// A client folds what the stores agreed on.
			agreed := NewLog()
			agreed.Merge(prev)
			for j := range byOrigin {
				cut[j] += rng.Intn(len(byOrigin[j]) - cut[j] + 1)
				for _, op := range byOrigin[j][:cut[j]] {
					agreed.Merge(op)
				}
			}
			c, ok, err := agreed.Fold(Counter, int64(1000+rng.Intn(40)), "folder"+strconv.Itoa(rng.Intn(2)))
			if err != nil {
				tb.Fatal(err)
			}
			if ok {
				h.records = append(h.records, c)
				prev = c
			}
		}
	}
	return h
}

// arrival returns the records in a random order, some of them twice.
func arrival(rng *rand.Rand, recs []Op) []Op {
	out := append([]Op(nil), recs...)
	for _, r := range recs {
		if rng.Intn(4) == 0 {
			out = append(out, r)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Checkpoint contract 1, 2 and 3: two logs that receive the same records in
// any order, with duplicates, hold byte-identical logs and the same value,
// and that value counts every op exactly once.
func TestLog_Convergence(t *testing.T) {
	cases := 2000
	if testing.Short() {
		cases = 1000
	}
	rng := rand.New(rand.NewSource(20261125))
	for c := 0; c < cases; c++ {
		h := genHistory(t, rng)
		a, b := NewLog(), NewLog()
		for _, r := range arrival(rng, h.records) {
			if res := a.Merge(r); res.Outcome() == Refused {
				t.Fatalf("case %d: a refused %s: %v", c, r.AppendJSON(nil), res)
			}
		}
		for _, r := range arrival(rng, h.records) {
			if res := b.Merge(r); res.Outcome() == Refused {
				t.Fatalf("case %d: b refused %s: %v", c, r.AppendJSON(nil), res)
			}
		}
		la, lb := string(a.AppendJSONLines(nil)), string(b.AppendJSONLines(nil))
		if la != lb {
			t.Fatalf("case %d: logs differ:\n%s\n---\n%s", c, la, lb)
		}
		va, err := Reduce(Counter, a)
		if err != nil {
			t.Fatal(err)
		}
		vb, _ := Reduce(Counter, b)
		if string(va) != string(vb) || string(va) != strconv.FormatInt(h.sum, 10) {
			t.Fatalf("case %d: values %s and %s, want %d", c, va, vb, h.sum)
		}
	}
}

// The prune race: A receives op o then checkpoint v (which does not cover o);
// B receives v then o. Both end identical and the value includes o.
func TestLog_PruneRace(t *testing.T) {
	x := mustOp(t, 100, "x", 1, `1`)
	o := mustOp(t, 150, "y", 1, `10`) // dated before v: a late op for B
	pre := NewLog()
	pre.Merge(x)
	v, _, err := pre.Fold(Counter, 200, "x")
	if err != nil {
		t.Fatal(err)
	}
	a, b := NewLog(), NewLog()
	for _, r := range []Op{x, o, v} {
		a.Merge(r)
	}
	for _, r := range []Op{x, v, o} {
		b.Merge(r)
	}
	if la, lb := string(a.AppendJSONLines(nil)), string(b.AppendJSONLines(nil)); la != lb {
		t.Fatalf("logs differ:\n%s---\n%s", la, lb)
	}
	if got, _ := Reduce(Counter, b); string(got) != "11" {
		t.Fatalf("value %s, want 11", got)
	}
}

// Failure mode "double count on echo": a client prunes, then its own op comes
// back on a store's stream. The echo is a no-op.
func TestFailure_EchoOfCoveredOp(t *testing.T) {
	l := NewLog()
	o := mustOp(t, 100, "me", 1, `5`)
	l.Merge(o)
	c, _, _ := l.Fold(Counter, 101, "me")
	if r := l.Merge(c); r.Outcome() != Accepted {
		t.Fatalf("checkpoint: %v", r)
	}
	if l.Len() != 1 {
		t.Fatalf("after prune: %d records, want the checkpoint only", l.Len())
	}
	r := l.Merge(o)
	if r.Outcome() != NoOp || !strings.Contains(r.Reason, "covered") {
		t.Fatalf("echo: %v, want no-op covered", r)
	}
	if got, _ := Reduce(Counter, l); string(got) != "5" {
		t.Fatalf("value %s after echo, want 5", got)
	}
}

// Failure mode "silent loss of late ops": an op dated before a checkpoint and
// not covered by it is kept and replayed after it.
func TestFailure_LateOpNotLost(t *testing.T) {
	l := NewLog()
	l.Merge(mustOp(t, 5000, "online", 1, `1`))
	c, _, _ := l.Fold(Counter, 5001, "online")
	l.Merge(c)
	late := mustOp(t, 10, "offline", 1, `100`) // made long ago, while offline
	if r := l.Merge(late); r.Outcome() != Accepted {
		t.Fatalf("late op: %v, want accepted", r)
	}
	if got, _ := Reduce(Counter, l); string(got) != "101" {
		t.Fatalf("value %s, want 101", got)
	}
	if !l.Has(&late) {
		t.Fatal("late op not held")
	}
}

// Failure mode "two clients, same payload, same millisecond": two ops.
func TestFailure_SamePayloadSameMillisecond(t *testing.T) {
	a := mustOp(t, 777, "client-a", 1, `{"add":1}`)
	b := mustOp(t, 777, "client-b", 1, `{"add":1}`)
	if a.Sha == b.Sha {
		t.Fatal("same sha for two clients' ops")
	}
	l := NewLog()
	if ra, rb := l.Merge(a), l.Merge(b); ra.Outcome() != Accepted || rb.Outcome() != Accepted {
		t.Fatalf("merge: %v, %v", ra, rb)
	}
	if len(l.Ops()) != 2 {
		t.Fatalf("%d ops, want 2", len(l.Ops()))
	}
}

// Failure mode "equal dates ordered by arrival": order is (date, sha), so
// two stores reduce to the same value.
func TestFailure_EqualDatesOrderedBySha(t *testing.T) {
	a := mustOp(t, 42, "a", 1, `"from a"`)
	b := mustOp(t, 42, "b", 1, `"from b"`)
	l1, l2 := NewLog(), NewLog()
	l1.Merge(a)
	l1.Merge(b)
	l2.Merge(b)
	l2.Merge(a)
	v1, _ := Reduce(LWW, l1)
	v2, _ := Reduce(LWW, l2)
	want := a.Payload
	if b.Sha > a.Sha {
		want = b.Payload
	}
	if string(v1) != string(v2) || string(v1) != string(want) {
		t.Fatalf("values %s, %s; want %s (larger sha last)", v1, v2, want)
	}
}

// Contract 5: a log that missed intermediate checkpoints converges when it
// receives the latest one.
func TestLog_MissedCheckpoints(t *testing.T) {
	full, behind := NewLog(), NewLog()
	var c Op
	for i := 1; i <= 30; i++ {
		o := mustOp(t, int64(i), "w", uint64(i), `1`)
		full.Merge(o)
		if i <= 5 {
			behind.Merge(o) // then offline
		}
		if i%10 == 0 {
			c, _, _ = full.Fold(Counter, int64(i)+1, "w")
			full.Merge(c)
		}
	}
	if r := behind.Merge(c); r.Outcome() != Accepted {
		t.Fatalf("latest checkpoint: %v", r)
	}
	if lf, lb := string(full.AppendJSONLines(nil)), string(behind.AppendJSONLines(nil)); lf != lb {
		t.Fatalf("logs differ:\n%s---\n%s", lf, lb)
	}
	if got, _ := Reduce(Counter, behind); string(got) != "30" {
		t.Fatalf("value %s, want 30", got)
	}
}

func TestLog_CheckpointOutcomes(t *testing.T) {
	c1 := mustCheckpoint(t, 10, "p", `1`, Coverage{"a": 2})
	c2 := mustCheckpoint(t, 20, "p", `2`, Coverage{"a": 3})
	cEq := mustCheckpoint(t, 30, "q", `2`, Coverage{"a": 3})
	cX := mustCheckpoint(t, 40, "p", `9`, Coverage{"a": 1, "b": 1})
	l := NewLog()
	steps := []struct {
		op   Op
		want Outcome
		base string
	}{
		{c2, Accepted, c2.Sha},
		{c1, NoOp, c2.Sha},       // superseded
		{c2, NoOp, c2.Sha},       // duplicate
		{cEq, Accepted, cEq.Sha}, // equal coverage, larger (date, sha)
		{c2, NoOp, cEq.Sha},
		{cX, Refused, cEq.Sha}, // incomparable
	}
	for i, s := range steps {
		if r := l.Merge(s.op); r.Outcome() != s.want {
			t.Errorf("step %d: %v, want %v", i, r, s.want)
		}
		if l.Base().Sha != s.base {
			t.Errorf("step %d: base %.8s, want %.8s", i, l.Base().Sha, s.base)
		}
	}
}

func TestLog_ConflictingSeqRefused(t *testing.T) {
	l := NewLog()
	l.Merge(mustOp(t, 1, "a", 1, `"first"`))
	r := l.Merge(mustOp(t, 2, "a", 1, `"second"`))
	if r.Outcome() != Refused || !strings.Contains(r.Reason, "seq 1") {
		t.Fatalf("got %v, want refusal naming seq 1", r)
	}
	if got, _ := Reduce(LWW, l); string(got) != `"first"` {
		t.Fatalf("value %s", got)
	}
}

// Fold covers per origin only ops that continue the prefix: an op after a
// gap stays in the log, uncovered.
func TestLog_FoldStopsAtGap(t *testing.T) {
	l := NewLog()
	l.Merge(mustOp(t, 1, "a", 1, `1`))
	l.Merge(mustOp(t, 2, "a", 3, `100`)) // seq 2 missing
	l.Merge(mustOp(t, 3, "b", 1, `10`))
	c, ok, err := l.Fold(Counter, 10, "f")
	if err != nil || !ok {
		t.Fatalf("Fold: %v %v", ok, err)
	}
	if c.Covers["a"] != 1 || c.Covers["b"] != 1 || string(c.Value) != "11" {
		t.Fatalf("checkpoint covers %v value %s", c.Covers, c.Value)
	}
	l.Merge(c)
	if len(l.Ops()) != 1 || l.Ops()[0].Seq != 3 {
		t.Fatalf("kept %d ops", len(l.Ops()))
	}
	if got, _ := Reduce(Counter, l); string(got) != "111" {
		t.Fatalf("value %s, want 111", got)
	}
	if got := l.NextSeq("a"); got != 4 {
		t.Fatalf("NextSeq(a) = %d, want 4", got)
	}
	if _, ok, _ := NewLog().Fold(Counter, 1, "f"); ok {
		t.Fatal("Fold of an empty log made a checkpoint")
	}
}

// Contract 4: after a prune the log keeps the ops since the checkpoint and a
// version vector as large as the number of origins, not the history.
func TestLog_PruneBoundsState(t *testing.T) {
	l := NewLog()
	for i := 1; i <= 1000; i++ {
		l.Merge(mustOp(t, int64(i), fmt.Sprintf("o%d", i%3), uint64((i+2)/3), `1`))
	}
	c, _, _ := l.Fold(Counter, 2000, "f")
	l.Merge(c)
	l.Merge(mustOp(t, 2001, "o0", 334, `1`))
	if l.Len() != 2 || len(l.Base().Covers) != 3 || l.bySeq != nil {
		t.Fatalf("after prune: %d records, %d coverage entries, an index of %d entries (want none)", l.Len(), len(l.Base().Covers), len(l.bySeq))
	}
	if got, _ := Reduce(Counter, l); string(got) != "1001" {
		t.Fatalf("value %s", got)
	}
}

func TestClock(t *testing.T) {
	var c Clock
	a := c.Date()
	b := c.Date()
	if b <= a {
		t.Fatalf("dates %d then %d", a, b)
	}
	c.Observe(b + 1_000_000) // an op from a clock far ahead
	if d := c.Date(); d != b+1_000_001 {
		t.Fatalf("after observing %d: %d", b+1_000_000, d)
	}
}

// A checkpoint with the same coverage as the base but a larger (date, sha)
// is lacking: a store holding the smaller one should receive it.
func TestLog_HasEqualCoverageCheckpoint(t *testing.T) {
	small := mustCheckpoint(t, 10, "p", `1`, Coverage{"a": 1})
	large := mustCheckpoint(t, 20, "q", `1`, Coverage{"a": 1})
	l := NewLog()
	l.Merge(small)
	if l.Has(&large) {
		t.Fatal("the log claims a winning checkpoint it lacks")
	}
	if !l.Has(&small) {
		t.Fatal("the log does not have its own base")
	}
	l.Merge(large)
	if !l.Has(&small) {
		t.Fatal("a superseded checkpoint is lacking")
	}
}

// Drop takes back an op no store holds: the log is then what it would be
// had the op never been merged, and the (origin, seq) is free again.
func TestLog_Drop(t *testing.T) {
	a, b, c := mustOp(t, 1000, "o", 1, "1"), mustOp(t, 1001, "o", 2, "10"), mustOp(t, 1002, "p", 1, "100")
	l, want := NewLog(), NewLog()
	for _, o := range []Op{a, b, c} {
		l.Merge(o)
	}
	want.Merge(a)
	want.Merge(c)
	if !l.Drop(&b) {
		t.Fatal("Drop of a held op reported false")
	}
	if got, w := string(l.AppendJSONLines(nil)), string(want.AppendJSONLines(nil)); got != w {
		t.Fatalf("after Drop:\n%s\nwant\n%s", got, w)
	}
	if l.Has(&b) || l.Drop(&b) {
		t.Fatal("the dropped op is still there")
	}
	other := mustOp(t, 1003, "o", 2, "7") // the seq b held
	if r := l.Merge(other); r.Code != CodeAccepted {
		t.Fatalf("an op on the freed seq: %v", r)
	}
	if v, err := Reduce(Counter, l); err != nil || string(v) != "108" {
		t.Fatalf("value %s, %v; want 108", v, err)
	}
	// A checkpoint is never dropped; nor an op of the same seq with
	// another sha.
	cp, _, _ := l.Fold(Counter, 1004, "f")
	if l.Drop(&cp) || l.Drop(&b) {
		t.Fatal("dropped what the log does not hold as an op")
	}
}

// Refusal gives a refused record the code its error's kind calls for,
// and only a failure to store it is not final.
func TestRefusal_Codes(t *testing.T) {
	for _, c := range []struct {
		err   error
		code  Code
		final bool
	}{
		{ErrMalformed, CodeInvalid, true},
		{fmt.Errorf("decode: %w", errors.New("bad json")), CodeInvalid, true},
		{ErrTooLarge, CodeLimit, true},
		{ErrFuture, CodeLimit, true},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.EIO}, CodeFailed, false},
		{gig.Errorf(gig.ErrUnavailable, "wal"), CodeFailed, false},
	} {
		r := Refusal(c.err)
		if r.Code != c.code || r.Code.Final() != c.final || r.Outcome() != Refused {
			t.Errorf("Refusal(%v) = %v (final %v), want %v", c.err, r, r.Code.Final(), c.code)
		}
		if back, err := ParseResult(r.String()); err != nil || back != r {
			t.Errorf("ParseResult(%q) = %v, %v", r.String(), back, err)
		}
		if err := r.Err(); gig.KindOf(err) != r.Code.Kind() {
			t.Errorf("%v: Err has kind %v, want %v", r, gig.KindOf(err), r.Code.Kind())
		}
	}
}
