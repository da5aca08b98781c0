package netstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"gigfs.io/gigfs/oplog"
)

// maxStreamBytes bounds the events a user's stream keeps, whatever their
// number.
const maxStreamBytes = 64 << 20

// hub is the stream of one user: the ops the store accepted, numbered from
// 1 in this epoch, the last few kept for readers that resume.
type hub struct {
	epoch string
	max   int

	mu     sync.Mutex
	events []hubEvent // events[i] has seq first+i
	bytes  int        // in events
	first  uint64
	// The readers waiting for an event (Cursor.Next): a group commit
	// wakes only those that want one of its events, or are due a mark
	// (wakeWanting); the others sleep on.
	waiters []*Cursor
	closed  bool
	groups  map[oplog.Ticket]hubGroup     // the group commits being published
	file    *streamFile                   // with Config.KeepStream (streamfile.go)
	logf    func(format string, a ...any) // with file
	kept    *keptShas                     // with Config.KeepStream: the shas of events
}

// A hubGroup is a group commit of the write-ahead log whose pushes are
// publishing their events: the pushes still to publish, and what those
// that did accepted.
type hubGroup struct {
	pushes int
	staged []published
}

// published are the ops of one oplog that a push accepted, to publish.
type published struct {
	typ, path string
	ops       []oplog.Op
}

// A hubEvent is one event of the stream: its JSON line, and what a
// filtered reader picks events by (filter.go).
type hubEvent struct {
	line   []byte
	path   string // the oplog's path, "/<channel>/<path>"
	origin string // the op's
}

func newHub(epoch string, max int) *hub {
	return &hub{epoch: epoch, max: max, first: 1}
}

// Event is one record of a store's stream, as a JSON line:
//
//	{"seq":N,"epoch":"E","type":T,"path":P,"op":{...}}
//
// The same lines, less seq and epoch, are what /user/<id>/push takes.
type Event struct {
	Seq   uint64          `json:"seq,omitempty"`
	Epoch string          `json:"epoch,omitempty"`
	Type  string          `json:"type"`
	Path  string          `json:"path"`
	Op    json.RawMessage `json:"op"`
}

// Mark reports whether the event is a mark, {"seq":N,"epoch":"E"}: no op,
// only the position of a filtered reader that was spared the events up to
// it (PROTOCOL.md).
func (ev *Event) Mark() bool { return ev.Type == "" && ev.Op == nil }

// expect tells the hub that a push waits for the group commit of ticket
// t, and will publish what it accepted once the group is durable.
func (h *hub) expect(t oplog.Ticket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.groups == nil {
		h.groups = make(map[oplog.Ticket]hubGroup)
	}
	g := h.groups[t]
	g.pushes++
	h.groups[t] = g
}

// publish appends the ops a push accepted to the stream (none if the push
// failed): the push said it would (expect), with t, the ticket of its
// group commit. A group commit's events go into the stream together,
// once the last of its pushes has published, and wake the readers that
// want one of them once: a reader's read carries the whole group, not one
// push's events each, and a reader that wants none sleeps on.
func (h *hub) publish(t oplog.Ticket, pub []published) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groups[t]
	g.staged = append(g.staged, pub...)
	if g.pushes--; g.pushes > 0 {
		h.groups[t] = g
		return
	}
	delete(h.groups, t)
	var lines []byte
	n := 0
	from := h.first + uint64(len(h.events)) // the seq of the group's first event
	for _, p := range g.staged {
		for i := range p.ops {
			seq := h.first + uint64(len(h.events))
			ev := append(appendEvent(nil, seq, h.epoch, p.typ, p.path, p.ops[i].AppendJSON(nil)), '\n')
			h.append(hubEvent{ev, p.path, p.ops[i].Origin}, p.ops[i].Sha)
			if h.file != nil {
				lines = append(lines, ev...)
			}
			n++
		}
	}
	if n == 0 || h.closed {
		return
	}
	if err := h.keep(lines, n); err != nil {
		// The next process to open the store must not resume a stream
		// with a hole: without the file it starts a new epoch.
		h.logf("store: stream file %s: %v; removed", h.file.name, err)
		h.file.f.Close()
		os.Remove(h.file.name)
		h.file = nil
	}
	h.wakeWanting(from)
}

// wakeWanting wakes the waiting readers that want one of the events from
// seq from on, or are due a mark (spared markEvery in a row), or whose
// position is no longer kept; the others sleep on, the events counted as
// spared. Called with h.mu held.
func (h *hub) wakeWanting(from uint64) {
	keep := h.waiters[:0]
	for _, c := range h.waiters {
		if c.dueLocked(from) {
			c.woken()
		} else {
			keep = append(keep, c)
		}
	}
	clear(h.waiters[len(keep):])
	h.waiters = keep
}

// dueLocked reports whether the waiting reader is to be woken for the
// events from seq from on, counting those it does not want. Called with
// c.h.mu held.
func (c *Cursor) dueLocked(from uint64) bool {
	h := c.h
	if c.after+1 < h.first {
		return true // too old now: it is told so
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return true
	}
	for i := max(from, h.first) - h.first; i < uint64(len(h.events)); i++ {
		if c.f.pass(&h.events[i]) {
			return true
		}
	}
	// It waits since it passed the last event then: all those after it
	// were spared.
	last := h.first + uint64(len(h.events)) - 1
	return c.spared+last-c.after >= h.markEvery()
}

// woken marks the reader no longer waiting and wakes it; the caller took
// it off the hub's list. Called with c.h.mu held.
func (c *Cursor) woken() {
	c.waiting = false
	select {
	case c.wake <- struct{}{}:
	default: // woken already
	}
}

// parkLocked puts the reader on the hub's list of waiting readers, to be
// woken on c.wake. Called with c.h.mu held.
func (c *Cursor) parkLocked() {
	select {
	case <-c.wake:
		// A wake the reader did not take: it was woken as its ctx ended
		// and took the ctx. Left there it would end the wait at once,
		// with the reader still on the list, and list it again.
	default:
	}
	if !c.waiting {
		c.waiting = true
		c.h.waiters = append(c.h.waiters, c)
	}
}

// rescan wakes the reader if it waits, to look again, with the wants it
// was just given, at the events it slept through: a client wants an
// oplog as it starts holding it, and the events of that oplog published
// since the reader last read are then given at once, not with the next
// event it wanted before.
func (c *Cursor) rescan() {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.unparkLocked()
}

// unparkLocked takes the reader off the hub's list and wakes it, if it
// waits. Called with c.h.mu held.
func (c *Cursor) unparkLocked() {
	if c.waiting {
		c.h.unwait(c)
		c.woken()
	}
}

// unwait takes c off the list of waiting readers. Called with h.mu held.
func (h *hub) unwait(c *Cursor) {
	if i := slices.Index(h.waiters, c); i >= 0 {
		h.waiters = slices.Delete(h.waiters, i, i+1)
	}
}

// append adds an event line, keeping at most max events and
// maxStreamBytes: a reader further behind is told to re-read. Called with
// h.mu held.
func (h *hub) append(ev hubEvent, sha string) {
	h.events = append(h.events, ev)
	h.bytes += len(ev.line)
	h.kept.add(sha)
	for len(h.events) > 1 && (len(h.events) > h.max || h.bytes > maxStreamBytes) {
		h.bytes -= len(h.events[0].line)
		h.events[0] = hubEvent{}
		h.events = h.events[1:]
		h.first++
		h.kept.drop()
	}
}

// head is the seq of the last event (0 when there is none).
func (h *hub) head() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.first + uint64(len(h.events)) - 1
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		for _, c := range h.waiters {
			c.woken()
		}
		h.waiters = nil
		if h.file != nil {
			h.file.f.Close()
			h.file = nil
		}
	}
}

// A Cursor reads one user's stream from a position. It is what a stream
// fid holds. Next and Ready are not safe for concurrent use with each
// other; Since and control lines (Write) may come while Next waits.
type Cursor struct {
	h    *hub
	auth func(context.Context) error // if set, checked before each event

	// With h.mu held:
	after uint64 // the seq of the last event passed
	// spared counts the events passed over since the last line given
	// (a filtered reader's), for the marks (streamfilter.go).
	spared  uint64
	waiting bool          // on h.waiters, Next waiting on wake
	wake    chan struct{} // one slot: the reader is woken
	// sinces counts the Since calls: a read that checks its auth with
	// h.mu unlocked keeps the position it took only if no Since came
	// meanwhile (whatever seq it gave).
	sinces uint64

	user     string
	maxWants int
	logf     func(format string, a ...any)

	mu         sync.Mutex
	f          *filter // nil: every event
	unfiltered bool    // the wants went past maxWants: every event for good
}

// Stream returns a cursor at the head of the user's stream: it yields the
// ops accepted from now on. auth, if not nil, is checked before each event
// (so a revoked token ends a stream); its error ends the read.
func (s *Service) Stream(id string, auth func(context.Context) error) (*Cursor, error) {
	u, err := s.user(id)
	if err != nil {
		return nil, err
	}
	return newCursor(u.hub, auth, id, s.cfg.StreamWants, s.cfg.Logf), nil
}

// newCursor returns a cursor at the head of h.
func newCursor(h *hub, auth func(context.Context) error, user string, maxWants int, logf func(string, ...any)) *Cursor {
	return &Cursor{h: h, after: h.head(), auth: auth, user: user, maxWants: maxWants, logf: logf, wake: make(chan struct{}, 1)}
}

// Cursor returns the user's stream position: the stream's epoch (the
// store's, or the one a kept stream goes on with) and the seq of the last
// event. Read the oplogs after asking, then resume the stream
// from it (Cursor.Since).
func (s *Service) Cursor(id string) (epoch string, seq uint64, err error) {
	u, err := s.user(id)
	if err != nil {
		return "", 0, err
	}
	return u.hub.epoch, u.hub.head(), nil
}

// Epoch is the epoch of the cursor's stream.
func (c *Cursor) Epoch() string { return c.h.epoch }

// Head is the seq of the last event of the cursor's stream (0 when there
// is none yet).
func (c *Cursor) Head() uint64 { return c.h.head() }

// Since moves the cursor after seq of epoch, to resume a stream after a
// disconnect. An epoch other than the store's, or a seq older than the
// events it keeps, is an error: the client must re-read the oplogs.
func (c *Cursor) Since(epoch string, seq uint64) error {
	if epoch != c.h.epoch {
		return fmt.Errorf("%w: cursor epoch %s, store epoch %s", ErrStreamEpoch, epoch, c.h.epoch)
	}
	h := c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	first, last := h.first, h.first+uint64(len(h.events))-1
	if seq > last {
		return fmt.Errorf("%w: seq %d is ahead of the store's %d", ErrStreamCursor, seq, last)
	}
	if seq+1 < first {
		return fmt.Errorf("%w: cursor %d, oldest event kept %d", ErrStreamTooOld, seq, first)
	}
	c.after = seq
	c.sinces++
	c.unparkLocked() // to read from there
	return nil
}

// Next blocks until the next event and returns its JSON line. When the
// reader has fallen so far behind that the events it needs are gone, Next
// returns ErrStreamTooOld once and goes on from the head. A filtered
// reader (control) gets the events it wants, and a mark of its position
// ({"seq":N,"epoch":"E"}) once it has been spared markEvery in a row.
func (c *Cursor) Next(ctx context.Context) ([]byte, error) {
	h := c.h
	for {
		h.mu.Lock()
		before := c.placeLocked()
		line, err := c.nextLocked()
		if line == nil && err == nil {
			c.parkLocked()
		}
		h.mu.Unlock()
		switch {
		case err != nil:
			return nil, err
		case line != nil:
			return line, c.authorize(ctx, before)
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			h.mu.Lock()
			c.unparkLocked() // a wake left in the slot is dropped when it next waits
			h.mu.Unlock()
			return nil, ctx.Err()
		}
	}
}

// nextLocked moves the cursor to the next line to give, the next event
// the reader wants or a mark, and returns it: nil if there is none yet.
// When the stream is closed, or has moved past the cursor, it returns
// the error and moves the cursor to the head. Called with c.h.mu held.
func (c *Cursor) nextLocked() ([]byte, error) {
	h := c.h
	last := h.first + uint64(len(h.events)) - 1
	switch {
	case h.closed:
		c.after = last
		return nil, fmt.Errorf("stream closed")
	case c.after+1 < h.first:
		err := fmt.Errorf("%w: cursor %d, oldest event kept %d", ErrStreamTooOld, c.after, h.first)
		c.after = last
		return nil, err
	}
	c.mu.Lock() // the filter, once for every event
	defer c.mu.Unlock()
	for c.after < last {
		ev := &h.events[c.after+1-h.first]
		c.after++
		if !c.wantsLocked(ev) {
			if c.spared++; c.spared < h.markEvery() {
				continue
			}
			c.spared = 0
			return appendMark(nil, c.after, h.epoch), nil
		}
		c.spared = 0
		return ev.line, nil
	}
	return nil, nil
}

// Ready copies into p the events after the cursor that are ready now,
// whole, as many as fit, without blocking, and moves the cursor past them
// (a stream read adds them after the event Next returned). auth is checked
// once for them all. A filtered reader is spared the events it does not
// want, as with Next.
func (c *Cursor) Ready(ctx context.Context, p []byte) (int, error) {
	h := c.h
	h.mu.Lock()
	before := c.placeLocked()
	n := 0
	for {
		at := c.placeLocked()
		line, err := c.nextLocked()
		if err != nil || (line != nil && n+len(line) > len(p)) {
			c.backLocked(at) // for the next read (or Next, for the error)
			break
		}
		if line == nil {
			break // the events spared up to the head stay passed
		}
		n += copy(p[n:], line)
	}
	h.mu.Unlock()
	if n == 0 {
		return 0, nil // only spared events, if any: passing them needs no auth
	}
	if err := c.authorize(ctx, before); err != nil {
		return 0, err
	}
	return n, nil
}

// A place is where a cursor is: its position and marks count, and the
// number of Since calls it has had.
type place struct{ after, spared, sinces uint64 }

// placeLocked is where the cursor is. Called with c.h.mu held.
func (c *Cursor) placeLocked() place { return place{c.after, c.spared, c.sinces} }

// backLocked puts the cursor back at p, unless a Since moved it since
// (whatever seq it gave). Called with c.h.mu held.
func (c *Cursor) backLocked(p place) {
	if c.sinces == p.sinces {
		c.after, c.spared = p.after, p.spared
	}
}

// authorize checks the reader's auth, if any, for lines read with h.mu
// unlocked after the cursor was at before; when it fails, the cursor goes
// back there: the lines are still to be given.
func (c *Cursor) authorize(ctx context.Context, before place) error {
	if c.auth == nil {
		return nil
	}
	err := c.auth(ctx)
	if err != nil {
		c.h.mu.Lock()
		c.backLocked(before)
		c.h.mu.Unlock()
	}
	return err
}

// Write takes the control lines written on the stream file (control):
// "since <epoch> <seq>" to resume; "only", "want <path>" and "skip
// <origin>" to be spared the events the reader does not want.
func (c *Cursor) Write(_ context.Context, p []byte) (int, error) {
	if err := c.control(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ParseEvents parses what reads of a store's stream returned: whole
// lines, one event each.
func ParseEvents(b []byte) ([]Event, error) {
	var out []Event
	for len(b) > 0 {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok {
			return out, fmt.Errorf("stream: bad event: no newline after %d bytes", len(line))
		}
		ev, err := ParseEvent(line)
		if err != nil {
			return out, err
		}
		out = append(out, ev)
		b = rest
	}
	return out, nil
}

// ParseEvent parses one line of a store's stream. It checks the line's
// shape, not the op's: oplog.Decode does that.
func ParseEvent(line []byte) (Event, error) {
	if ev, ok := parseEventFast(line); ok {
		return ev, nil
	}
	return parseEventSlow(line)
}

// ParseEventAfter is ParseEvent for a reader of a stream's events in a
// row, at less cost per event: the event's Op aliases line, which the
// caller must neither change nor reuse while it holds the event, and its
// epoch, type and path are prev's own strings where they are the same
// (prev, if not nil, is the event before: a stream has one epoch, and the
// events of an oplog often come in runs).
func ParseEventAfter(line []byte, prev *Event) (Event, error) {
	if ev, ok := parseLineAfter(line, prev); ok {
		return ev, nil
	}
	return parseEventSlow(line)
}

// parseEventSlow is ParseEvent by encoding/json, for any form of a line.
func parseEventSlow(line []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(line, &ev); err != nil {
		return Event{}, fmt.Errorf("stream: bad event: %w", err)
	}
	if ev.Type == "" && ev.Path == "" && ev.Op == nil && ev.Seq > 0 && ev.Epoch != "" {
		return ev, nil // a mark (Event.Mark)
	}
	if ev.Type == "" || ev.Path == "" || ev.Op == nil {
		return Event{}, fmt.Errorf("stream: bad event: needs type, path and op")
	}
	return ev, nil
}

// parseEventFast parses an event line of the shape the store writes
// ({"seq":N,"epoch":"E","type":"T","path":"P","op":{...}}, strings without
// escapes) without the reflection of encoding/json: every event of a
// user's stream is parsed by each of its clients. It reports false for
// anything else, which ParseEvent then decodes in full. The op is the rest
// of the line, not checked (oplog.Decode does).
func parseEventFast(b []byte) (Event, bool) {
	ev, ok := parseLineFast(b)
	if ok {
		ev.Op = bytes.Clone(ev.Op)
	}
	return ev, ok
}

// parseLineFast parses a line of the shape the store's stream and push
// lines have: {"seq":N,"epoch":"E",…} as parseEventFast says, or the same
// without seq and epoch ({"type":"T","path":"P","op":{...}}, a push line
// as AppendRecord writes it). Op aliases b.
func parseLineFast(b []byte) (Event, bool) { return parseLineAfter(b, nil) }

// parseLineAfter is parseLineFast sharing prev's strings, as
// ParseEventAfter says.
func parseLineAfter(b []byte, prev *Event) (Event, bool) {
	if prev == nil {
		prev = &Event{}
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	var ev Event
	rest, ok := bytes.CutPrefix(b, []byte(`{"seq":`))
	if ok {
		var seq uint64
		i := 0
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
			d := uint64(rest[i] - '0')
			if seq > (1<<64-1-d)/10 {
				return Event{}, false // past a uint64: encoding/json says so
			}
			seq = seq*10 + d
		}
		if i == 0 || (rest[0] == '0' && i > 1) {
			return Event{}, false
		}
		ev.Seq = seq
		if ev.Epoch, rest, ok = fastString(rest[i:], `,"epoch":"`, prev.Epoch); !ok {
			return Event{}, false
		}
		if rest, ok = bytes.CutPrefix(rest, []byte(",")); !ok {
			return Event{}, false
		}
	} else if rest, ok = bytes.CutPrefix(b, []byte("{")); !ok {
		return Event{}, false
	}
	if ev.Type, rest, ok = fastString(rest, `"type":"`, prev.Type); !ok || ev.Type == "" {
		return Event{}, false
	}
	if ev.Path, rest, ok = fastString(rest, `,"path":"`, prev.Path); !ok || ev.Path == "" {
		return Event{}, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"op":`)); !ok {
		return Event{}, false
	}
	// The op is an object, and the event's brace closes the line.
	if len(rest) < 3 || rest[0] != '{' || rest[len(rest)-2] != '}' || rest[len(rest)-1] != '}' {
		return Event{}, false
	}
	ev.Op = rest[:len(rest)-1]
	return ev, true
}

// fastString cuts prefix (which ends with a string's opening quote) and
// the string after it, which must have no escape, no control character and
// be valid UTF-8; if it is same, it returns same (no new string).
func fastString(b []byte, prefix, same string) (string, []byte, bool) {
	b, ok := bytes.CutPrefix(b, []byte(prefix))
	if !ok {
		return "", nil, false
	}
	for i, c := range b {
		switch {
		case c == '"':
			if !utf8.Valid(b[:i]) {
				return "", nil, false
			}
			if string(b[:i]) == same {
				return same, b[i+1:], true
			}
			return string(b[:i]), b[i+1:], true
		case c == '\\' || c < 0x20:
			return "", nil, false
		}
	}
	return "", nil, false
}

// appendEvent appends the JSON of an event, as json.Marshal of Event
// writes it, without its reflection when the strings need no escape; op
// is an op's JSON as oplog.Op.AppendJSON writes it (compact).
func appendEvent(b []byte, seq uint64, epoch, typ, path string, op []byte) []byte {
	if !plainString(epoch) || !plainString(typ) || !plainString(path) {
		j, _ := json.Marshal(Event{Seq: seq, Epoch: epoch, Type: typ, Path: path, Op: op})
		return append(b, j...)
	}
	b = append(b, '{')
	if seq != 0 {
		b = append(b, `"seq":`...)
		b = strconv.AppendUint(b, seq, 10)
		b = append(b, ',')
	}
	if epoch != "" {
		b = append(b, `"epoch":"`...)
		b = append(b, epoch...)
		b = append(b, `",`...)
	}
	b = append(b, `"type":"`...)
	b = append(b, typ...)
	b = append(b, `","path":"`...)
	b = append(b, path...)
	b = append(b, `","op":`...)
	b = append(b, op...)
	return append(b, '}')
}

// plainString reports whether json.Marshal writes s as it is, between
// quotes: printable ASCII but for the characters it escapes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
