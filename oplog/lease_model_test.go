package oplog

import (
	"math/rand"
	"strconv"
	"testing"
)

// The checkpoint contract with origins reused across runs, as the client's
// origin leases reuse them (gigfs lease.go): a slot holds an origin, the
// highest seq it used and the ops it made that no store acknowledged; a run
// takes the first free slot, sends the slot's pending ops again, and
// numbers its ops after the slot's seq. The model plays random runs against
// three stores: runs killed after making an op and before any store took
// it, runs racing for slots, offline runs, slots left by crashed runs,
// torn journal writes, anti-entropy between stores and prunes. At the end
// every slot's pending ops are sent by a last run and the stores synced:
// they must hold identical logs whose value counts every op made exactly
// once, never refuse an op, and carry one covers entry per slot.

type modelSlot struct {
	origin  string
	seq     uint64
	pending []Op
	held    bool
}

type leaseModel struct {
	tb      testing.TB
	rng     *rand.Rand
	stores  []*Log
	slots   []*modelSlot
	live    []*modelSlot
	sum     int64
	date    int64
	maxLive int
}

func (m *leaseModel) merge(s int, o Op) {
	if r := m.stores[s].Merge(o); r.Outcome() == Refused {
		m.tb.Fatalf("store %d refused %s: %v", s, o.AppendJSON(nil), r)
	}
}

// deliver sends o to a random subset of the stores (maybe none: offline,
// or killed first) and reports whether one took it.
func (m *leaseModel) deliver(o Op) bool {
	took := false
	for s := range m.stores {
		if m.rng.Intn(3) == 0 {
			m.merge(s, o)
			took = true
		}
	}
	return took
}

// start is a run taking the first free slot (runs started together race
// for it: the first takes it, the next the slot after), then sending the
// slot's pending ops again.
func (m *leaseModel) start() {
	var sl *modelSlot
	for _, s := range m.slots {
		if !s.held {
			sl = s
			break
		}
	}
	if sl == nil {
		sl = &modelSlot{origin: "slot" + strconv.Itoa(len(m.slots))}
		m.slots = append(m.slots, sl)
	}
	sl.held = true
	m.live = append(m.live, sl)
	m.maxLive = max(m.maxLive, len(m.live))
	kept := sl.pending[:0]
	for _, o := range sl.pending {
		if !m.deliver(o) {
			kept = append(kept, o)
		}
	}
	sl.pending = kept
}

// push is a live run making an op: journaled first, then sent.
func (m *leaseModel) push(sl *modelSlot) {
	m.date += int64(m.rng.Intn(3))
	n := int64(m.rng.Intn(21) - 10)
	o := mustOp(m.tb, m.date, sl.origin, sl.seq+1, strconv.FormatInt(n, 10))
	if m.rng.Intn(20) == 0 {
		// Killed while journaling: the op never left the process, and
		// its seq is free for the next run.
		m.end(sl)
		return
	}
	sl.seq, sl.pending = o.Seq, append(sl.pending, o)
	m.sum += n
	took := m.deliver(o)
	switch {
	case m.rng.Intn(6) == 0:
		// Killed after making the op (taken or not): no ack recorded.
		m.end(sl)
	case took:
		sl.pending = sl.pending[:len(sl.pending)-1]
	}
}

// end releases a run's slot: a clean exit and a crash both leave the slot
// with its pending ops, for the next run.
func (m *leaseModel) end(sl *modelSlot) {
	sl.held = false
	for i, l := range m.live {
		if l == sl {
			m.live = append(m.live[:i], m.live[i+1:]...)
			return
		}
	}
}

// copy is anti-entropy from store a to store b.
func (m *leaseModel) copy(a, b int) {
	for _, r := range m.stores[a].Records() {
		if !m.stores[b].Has(&r) {
			m.merge(b, r)
		}
	}
}

// prune is a client's sync: every store answered, each got what it
// lacked, and the checkpoint of the agreed log goes to some stores (a
// client cut off midway) or all.
func (m *leaseModel) prune(all bool) {
	for a := range m.stores {
		for b := range m.stores {
			if a != b {
				m.copy(a, b)
			}
		}
	}
	m.date++
	c, ok, err := m.stores[0].Fold(Counter, m.date, "pruner")
	if err != nil {
		m.tb.Fatal(err)
	}
	if !ok {
		return
	}
	for s := range m.stores {
		if all || m.rng.Intn(2) == 0 {
			m.merge(s, c)
		}
	}
}

func TestLog_ConvergenceWithReusedOrigins(t *testing.T) {
	cases := 400
	if testing.Short() {
		cases = 100
	}
	rng := rand.New(rand.NewSource(20261202))
	for c := 0; c < cases; c++ {
		m := &leaseModel{tb: t, rng: rng, stores: []*Log{NewLog(), NewLog(), NewLog()}, date: 1000}
		steps := 20 + rng.Intn(120)
		for i := 0; i < steps; i++ {
			switch r := rng.Intn(20); {
			case r < 3 && len(m.live) < 4:
				m.start()
				if rng.Intn(3) == 0 && len(m.live) < 4 {
					m.start() // two runs racing for a slot
				}
			case r < 12 && len(m.live) > 0:
				m.push(m.live[rng.Intn(len(m.live))])
			case r < 14 && len(m.live) > 0:
				m.end(m.live[rng.Intn(len(m.live))])
			case r < 17:
				m.copy(rng.Intn(3), rng.Intn(3))
			default:
				m.prune(rng.Intn(2) == 0)
			}
		}
		// The end: every run ends; a run on each slot sends what it left
		// pending (to every store this time); one last sync and prune.
		for len(m.live) > 0 {
			m.end(m.live[0])
		}
		for _, sl := range m.slots {
			for _, o := range sl.pending {
				for s := range m.stores {
					m.merge(s, o)
				}
			}
			sl.pending = nil
		}
		m.prune(true)
		want := m.stores[0].AppendJSONLines(nil)
		for s := range m.stores {
			if got := m.stores[s].AppendJSONLines(nil); string(got) != string(want) {
				t.Fatalf("case %d: stores 0 and %d differ:\n%s---\n%s", c, s, want, got)
			}
			v, err := Reduce(Counter, m.stores[s])
			if err != nil {
				t.Fatal(err)
			}
			if string(v) != strconv.FormatInt(m.sum, 10) {
				t.Fatalf("case %d: store %d value %s, want %d", c, s, v, m.sum)
			}
		}
		base := m.stores[0].Base()
		if len(m.stores[0].Ops()) != 0 {
			t.Fatalf("case %d: %d ops left after the last prune (a gap in some origin's seqs)", c, len(m.stores[0].Ops()))
		}
		if len(base.Covers) > len(m.slots) || len(m.slots) > m.maxLive {
			t.Fatalf("case %d: %d covers entries, %d slots, at most %d runs at once", c, len(base.Covers), len(m.slots), m.maxLive)
		}
		for _, sl := range m.slots {
			if sl.seq > 0 && base.Covers[sl.origin] != sl.seq {
				t.Fatalf("case %d: %s: covers %d, the slot used seqs up to %d", c, sl.origin, base.Covers[sl.origin], sl.seq)
			}
		}
	}
}
