package tools

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"gigfs.io/gigfs"
	"gigfs.io/gigfs/oplog"
)

var pushCmd = &command{
	name:    "push",
	args:    "<channel> [<type> <path> <payload>]",
	summary: "push a payload, or JSON lines from stdin",
	shell:   true,
	help: `Push adds an op to an oplog. With a type, a path and a payload (any JSON
value: quote strings for the shell, '"text"'), it pushes one op and prints
the new value. With the channel alone it reads JSON lines from stdin:

	{"type":T,"path":P,"payload":X}   pushes a new op with payload X
	{"type":T,"path":P,"op":{...}}    mirrors an op made elsewhere, unchanged
	                                  (the lines gig-watch prints)

and prints one line per input line: {"type","path","sha","value","stored"}
for a payload, {"type","path","sha","new","stored"} for an op (-q:
nothing). "stored" is true once a store durably holds the op (a remote
store, or an on-disk local one), false while it is pending: held only by
this process (or an in-memory store), gone if it is killed. A pending op
that a store takes before gig-push exits gets a second line,
{"type","path","sha","stored":true}. A line read from gig-watch carries
a "cursor"; gig-push's line for it repeats it while no op is pending,
that is once every op read so far is stored: a mirror killed and started
again with gig-watch -since <the last cursor printed> loses nothing. So

	gig-watch a | gig-push b

mirrors channel a into channel b; mirroring an op b has is a no-op.

A payload the type's reducer refuses (a string pushed to a counter) is
refused before any op is made. A push returns once one store of the
channel, local or remote, has durably accepted the op; before exiting,
gig-push syncs the paths it pushed to so that every store that answers
has them. An op that no store accepted
within -wait is pending: gig-push says so and exits with status 3 (the op
is lost unless the channel has an on-disk local store, which would have
accepted it). An op that every store answered and refused (over a
store's date horizon, an (origin, seq) another op holds) is never
accepted: the client takes it back and gig-push exits with status 5.
Lines are pushed as they are read, up to -inflight (64) at once, so that
the stores' group commit takes them together; the ops are made in input
order (a counter's values print as its running sum) and the lines are
printed in input order. With -inflight 1, each line waits for the
previous one's answer. An op every store refused is taken back, but the
values printed for later lines of its path, made while it was on its way,
include it.
In gigsh, -wait is 0 by default: the shell's client keeps a
pending op and sends it when a store comes back. A bad input line is
reported on stderr with its number and skipped; gig-push then exits with
status 1.

Example:

	$ gig-push demo lww /greeting '"hello"'
	"hello"
	$ gig-push demo counter /visits 1
	1
	$ echo '{"type":"set","path":"/tags","payload":{"add":"go"}}' | gig-push demo
	{"type":"set","path":"/tags","value":["go"]}`,
	run: runPush,
}

// PushMain is gig-push.
func PushMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(pushCmd, args, stdin, stdout, stderr)
}

type pathID struct{ typ, path string }

type pusher struct {
	e       *env
	cl      *gigfs.Client
	channel string
	wait    time.Duration
	quiet   bool
	out     lineWriter
	touched map[pathID]bool
	order   []pathID
	pending map[pathID][]string // paths with ops no store durably holds: their shas
	cursor  string              // the cursor of the last gig-watch line read

	fromStdin bool // pushing the lines of stdin
	inflight  int  // -inflight: pushes of stdin lines on their way at once

	// mu guards what the reading of stdin and the reporting of its
	// pushes share: the fields above and below but e, cl and out.
	mu sync.Mutex

	// unread counts the pushes not made because no store answered a
	// read of their path within -wait; waitUntil ends the retries (one
	// -wait for the whole run), waitSaid says the waiting line is out.
	unread    int
	unreadErr error
	waitUntil time.Time
	waitSaid  bool
}

func runPush(e *env, args []string) error {
	fs := e.flags()
	defWait := 5 * time.Second
	if e.sh != nil {
		defWait = 0 // the shell's client keeps a pending op and sends it when a store is back
	}
	wait := fs.Duration("wait", defWait, "how long to keep trying to get a pending op accepted")
	quiet := fs.Bool("q", false, "print nothing for the lines read from stdin")
	inflight := fs.Int("inflight", DefaultPushInflight, "at most this many pushes of stdin lines on their way to the stores at once")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 && len(rest) != 4 {
		return usageErr("want <channel> [<type> <path> <payload>], got %s", count(len(rest), "argument"))
	}
	if *inflight < 1 {
		return usageErr("-inflight %d: want at least 1", *inflight)
	}
	if len(rest) == 1 && e.sh != nil {
		return usageErr("in gigsh, push takes <channel> <type> <path> <payload>")
	}
	var payload json.RawMessage
	if len(rest) == 4 {
		if payload, err = parsePayload(rest[3]); err != nil {
			return err
		}
	}
	if len(rest) == 1 {
		e.newsOn() // a pipeline's end: say when its stores stop and start answering
		if *inflight > DefaultPushInflight {
			e.maxPushes = *inflight // as many push fids per store connection
		}
	}
	cl, err := e.client()
	if err != nil {
		return err
	}
	p := &pusher{e: e, cl: cl, channel: rest[0], wait: *wait, quiet: *quiet, inflight: *inflight, out: lineWriter{w: e.stdout},
		touched: make(map[pathID]bool), pending: make(map[pathID][]string)}
	var runErr error
	if len(rest) == 4 {
		runErr = p.one(rest[1], rest[2], payload)
	} else {
		p.fromStdin = true
		runErr = p.lines()
	}
	if ferr := p.flush(); runErr == nil {
		runErr = ferr
	}
	return runErr
}

// DefaultPushInflight is gig-push's -inflight: how many pushes of stdin
// lines may be on their way at once. It matches the push fids a client
// keeps per store connection (gigfs.Config.MaxPushes); a larger -inflight
// raises that too.
const DefaultPushInflight = 64

// parsePayload checks that s is one JSON value.
func parsePayload(s string) (json.RawMessage, error) {
	if !json.Valid([]byte(s)) {
		return nil, fmt.Errorf("payload %.60q is not JSON (a string needs quotes: '\"text\"')", s)
	}
	return json.RawMessage(s), nil
}

// one pushes one payload and prints the new value.
func (p *pusher) one(typ, path string, payload json.RawMessage) error {
	p.e.note(p.channel, typ, path)
	var a gigfs.Ack
	err := p.retry(func() (err error) {
		a, err = p.cl.PushAck(p.e.ctx, p.channel, typ, path, payload)
		return err
	})
	p.mu.Lock()
	_, err = p.done(typ, path, a.Op.Sha, a.Stored, err)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if a.Value == nil {
		return nil // not made: no store answered (see flush)
	}
	return p.out.raw(a.Value)
}

// done records a push of the op sha to (typ, path) and its outcome: stored
// by a store, or pending. Any other error means the op was not made (a
// payload the reducer refuses, an unknown channel) and is returned. It
// reports whether the op is stored. Called with p.mu held.
func (p *pusher) done(typ, path, sha string, stored bool, err error) (bool, error) {
	k := pathID{typ, path}
	switch {
	case err == nil:
	case errors.Is(err, gigfs.ErrPending):
		stored = false
	case errors.Is(err, gigfs.ErrRefused):
		// Never accepted, taken back by the client: not pending.
		return false, &exitErr{exitRefused, err}
	case errors.Is(err, gigfs.ErrNoAnswer) && p.e.ctx.Err() == nil:
		// No store answered a read of the path: no op was made.
		p.unread++
		p.unreadErr = err
		return false, nil
	default:
		return false, p.e.explain(err, p.channel)
	}
	if stored && slices.Contains(p.pending[k], sha) {
		stored = false // the client holds it from our own pending push
	}
	if !stored && !slices.Contains(p.pending[k], sha) {
		p.pending[k] = append(p.pending[k], sha)
	}
	if !p.touched[k] {
		p.touched[k] = true
		p.order = append(p.order, k)
	}
	return stored, nil
}

// pushLine is one line of gig-push's input and of gig-watch's output.
type pushLine struct {
	Type    string          `json:"type"`
	Path    string          `json:"path"`
	Op      json.RawMessage `json:"op,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// Cursor is where a channel-wide gig-watch was after this op; gig-push
	// echoes it once the op is stored, to resume a mirror from.
	Cursor string `json:"cursor,omitempty"`
	// Time is the op's date, readable (gig-watch -time); gig-push ignores it.
	Time string `json:"time,omitempty"`
}

// lines pushes the JSON lines of stdin until EOF or the end of the
// context. The pushes are made in input order, one after another, and up
// to -inflight of them travel at once (one path or many: the stores
// accept an origin's ops in any order, and a client's op is made with the
// ops before it in its value); their outcomes are reported in input order.
func (p *pusher) lines() error {
	type line struct {
		no  int
		b   []byte
		err error
	}
	in := make(chan line)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(in)
		r := bufio.NewReaderSize(p.e.stdin, 64<<10)
		for no := 1; ; no++ {
			b, err := readLine(r, 2*oplog.MaxOpSize)
			if len(b) > 0 || (err != nil && err != io.EOF) {
				select {
				case in <- line{no, b, err}:
				case <-stop:
					return
				}
			}
			if err == io.EOF || (err != nil && !errors.Is(err, errLongLine)) {
				return
			}
		}
	}()

	// The pushes started and not yet reported, in input order; slots
	// bounds them.
	started := make(chan *pushItem, p.inflight)
	slots := make(chan struct{}, p.inflight)
	var bad, refused int
	var fatal error // a broken stdout: stop reading
	fatalc := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for it := range started {
			err := it.err
			if fatal == nil {
				if err == nil {
					err = p.finishLine(it)
				}
				if err != nil && isBrokenPipe(err) {
					fatal = err
					close(fatalc)
				} else if err != nil {
					bad++
					if errors.Is(err, gigfs.ErrRefused) {
						refused++
					}
					p.e.errMu.Lock()
					fmt.Fprintf(p.e.stderr, "%s: line %d: %s\n", p.e.name(), it.no, oneLine(err.Error()))
					p.e.errMu.Unlock()
				}
			}
			<-slots
		}
	}()
	n := 0
	var runErr error
	bitSaid := false
read:
	for {
		var l line
		var ok bool
		select {
		case l, ok = <-in:
		case <-p.e.ctx.Done():
			ok = false
		case <-fatalc:
			ok = false
		}
		if !ok {
			break
		}
		n++
		if l.err != nil && !errors.Is(l.err, errLongLine) {
			runErr = fmt.Errorf("stdin: %v", l.err)
			break
		}
		select {
		case slots <- struct{}{}:
		default:
			if !bitSaid {
				bitSaid = true
				p.e.logf("%d pushes on their way (-inflight %d): reading stdin waits for the first to be answered", p.inflight, p.inflight)
			}
			select {
			case slots <- struct{}{}:
			case <-fatalc:
				break read
			}
		}
		it := &pushItem{no: l.no, err: l.err}
		if it.err == nil {
			p.startLine(it, l.b)
		}
		started <- it
	}
	close(started)
	<-finished
	if fatal != nil {
		return fatal
	}
	if runErr != nil {
		return runErr
	}
	if refused > 0 {
		return &exitErr{exitRefused, fmt.Errorf("%d of %s not pushed, %d of them refused by every store", bad, count(n, "line"), refused)}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %s not pushed", bad, count(n, "line"))
	}
	return nil
}

// A pushItem is one input line of gig-push, started.
type pushItem struct {
	no  int
	err error // the line is bad, or its push failed before an op was made
	pl  pushLine
	pp  *gigfs.Pushing // nil: no op made (no store answered a read of the path)
	// noAnswer is the error of a push not made because no store answered
	// a read of its path.
	noAnswer error
}

var errLongLine = fmt.Errorf("line longer than %d bytes", 2*oplog.MaxOpSize)

// readLine reads one line (without its newline) of at most max bytes; a
// longer line is skipped and reported as errLongLine.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var b []byte
	long := false
	for {
		chunk, err := r.ReadSlice('\n')
		if !long {
			b = append(b, chunk...)
			if len(b) > max {
				long, b = true, nil
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if long {
			if err == nil || err == io.EOF {
				return nil, errLongLine
			}
			return nil, err
		}
		return bytes.TrimSpace(b), err
	}
}

// startLine parses one input line and starts its push: the op is made
// (or merged, for a mirrored one) and on its way to the stores. What it
// finds wrong is left in it.err.
func (p *pusher) startLine(it *pushItem, b []byte) {
	pl := &it.pl
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(pl); err != nil {
		it.err = fmt.Errorf("not a JSON object: %v", err)
		return
	}
	var err error
	switch {
	case pl.Type == "" || pl.Path == "":
		err = fmt.Errorf(`want {"type":T,"path":P,"payload":X} or {"type":T,"path":P,"op":{...}}`)
	case pl.Op != nil && pl.Payload != nil:
		err = fmt.Errorf(`a line has "op" or "payload", not both`)
	case pl.Op != nil:
		o, derr := oplog.Decode(pl.Op)
		if derr != nil {
			it.err = fmt.Errorf("op: %v", derr)
			return
		}
		p.e.note(p.channel, pl.Type, pl.Path)
		err = p.retry(func() (err error) {
			it.pp, err = p.cl.PushOpStart(p.e.ctx, p.channel, pl.Type, pl.Path, o)
			return err
		})
		if errors.Is(err, gigfs.ErrNoAnswer) {
			it.noAnswer, err = err, nil
		}
	case pl.Payload != nil:
		p.e.note(p.channel, pl.Type, pl.Path)
		err = p.retry(func() (err error) {
			it.pp, err = p.cl.PushStart(p.e.ctx, p.channel, pl.Type, pl.Path, pl.Payload)
			return err
		})
		if errors.Is(err, gigfs.ErrNoAnswer) {
			it.noAnswer, err = err, nil
		}
	default:
		err = fmt.Errorf(`no "payload" and no "op"`)
	}
	if err != nil {
		// Refusals (ErrRefused) and failures before an op was made are
		// told apart by finishLine's done, in input order.
		it.err = p.startErr(pl, err)
	}
}

// startErr is the error reported for a push that failed to start.
func (p *pusher) startErr(pl *pushLine, err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err = p.done(pl.Type, pl.Path, "", false, err)
	return err
}

// finishLine waits for the push of one input line and prints its line.
func (p *pusher) finishLine(it *pushItem) error {
	pl := &it.pl
	if it.noAnswer != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		_, err := p.done(pl.Type, pl.Path, "", false, it.noAnswer)
		return err
	}
	sha := it.pp.Op().Sha
	a, err := it.pp.Wait(p.e.ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	stored, err := p.done(pl.Type, pl.Path, sha, a.Stored, err)
	if err != nil {
		return err
	}
	if pl.Op != nil {
		if p.quiet {
			return nil
		}
		if pl.Cursor != "" {
			p.cursor = pl.Cursor
		}
		isNew := a.New
		l := opAckLine{Type: pl.Type, Path: pl.Path, Sha: sha, New: &isNew, Stored: stored}
		if len(p.pending) == 0 {
			// Every op read so far is stored: a mirror can resume here.
			l.Cursor = p.cursor
		}
		return p.out.write(l)
	}
	if a.Value == nil || p.quiet {
		return nil
	}
	return p.out.write(valueAckLine{Type: pl.Type, Path: pl.Path, Sha: sha, Value: a.Value, Stored: stored})
}

// opAckLine is gig-push's line for an op: mirrored (New set), or a
// pending op that a store took later.
type opAckLine struct {
	Type   string `json:"type"`
	Path   string `json:"path"`
	Sha    string `json:"sha"`
	New    *bool  `json:"new,omitempty"`
	Stored bool   `json:"stored"`
	Cursor string `json:"cursor,omitempty"`
	// Time is the op's date, readable (gig-watch -time); gig-push ignores it.
	Time string `json:"time,omitempty"`
}

// valueAckLine is gig-push's line for a payload read from stdin.
type valueAckLine struct {
	Type   string          `json:"type"`
	Path   string          `json:"path"`
	Sha    string          `json:"sha"`
	Value  json.RawMessage `json:"value"`
	Stored bool            `json:"stored"`
}

// flush syncs the paths pushed to, so that every store that answers has
// the ops before the client closes (a push returns once one store has
// them; the others would be cut off). A pending op is retried until a
// store holds it or -wait has passed.
func (p *pusher) flush() error {
	if len(p.order) == 0 && p.unread == 0 {
		return nil
	}
	// A signal ends the command, not this last sync.
	base := context.WithoutCancel(p.e.ctx)
	deadline := time.Now().Add(p.wait)
	for _, k := range p.order {
		for {
			ctx, cancel := context.WithTimeout(base, 2*p.e.set.callTimeout())
			rep, err := p.cl.Sync(ctx, p.channel, k.typ, k.path, false)
			cancel()
			if err == nil && held(rep) {
				if err := p.nowStored(k); err != nil {
					return err
				}
				break
			}
			if len(p.pending[k]) == 0 || time.Now().After(deadline) || p.e.ctx.Err() != nil {
				break
			}
			if !p.waitSaid {
				p.waitSaid = true
				p.e.status("waiting up to %v (-wait) for a store of channel %s to accept %s %s", p.wait, p.channel, k.typ, k.path)
			}
			select {
			case <-time.After(retryInterval):
			case <-p.e.ctx.Done():
			}
		}
	}
	if p.unread > 0 {
		what := "the op was not made"
		if p.unread > 1 {
			what = fmt.Sprintf("%d ops were not made", p.unread)
		}
		return &exitErr{exitPending, fmt.Errorf("pending: %v within %v (-wait); %s", p.unreadErr, p.wait, what)}
	}
	if n := len(p.pending); n > 0 {
		what := "1 op is"
		if n > 1 {
			what = fmt.Sprintf("ops on %d paths are", n)
		}
		fate := "lost when gig-push exits"
		if p.e.sh != nil {
			fate = "kept by gigsh and sent when a store is back, lost if gigsh exits first"
		}
		return &exitErr{exitPending, fmt.Errorf("pending: %s not yet accepted by any store of channel %s (waited %v); %s",
			what, p.channel, p.wait, fate)}
	}
	return nil
}

// retry runs push, and again while no store answers the read of its path
// (gigfs.ErrNoAnswer), until -wait has passed since the first such answer
// of the run. It says once on stderr that it waits, and when a store
// answers after that.
func (p *pusher) retry(push func() error) error {
	for {
		err := push()
		p.mu.Lock()
		if !errors.Is(err, gigfs.ErrNoAnswer) || p.e.ctx.Err() != nil {
			if err == nil && p.waitSaid && p.unread == 0 {
				p.e.status("a store of channel %s answers", p.channel)
				p.waitSaid = false
			}
			p.mu.Unlock()
			return err
		}
		if p.waitUntil.IsZero() {
			p.waitUntil = time.Now().Add(p.wait)
		}
		if !time.Now().Before(p.waitUntil) {
			p.mu.Unlock()
			return err
		}
		if !p.waitSaid {
			p.waitSaid = true
			p.e.status("waiting up to %v (-wait) for a store of channel %s to answer: %s", p.wait, p.channel, oneLine(err.Error()))
		}
		p.mu.Unlock()
		select {
		case <-time.After(retryInterval):
		case <-p.e.ctx.Done():
		}
	}
}

// retryInterval is how often gig-push tries again while it waits.
const retryInterval = 200 * time.Millisecond

// nowStored records that a store holds every op of k, and prints a line
// for each op of k that was pending (stdin mode).
func (p *pusher) nowStored(k pathID) error {
	shas := p.pending[k]
	delete(p.pending, k)
	if p.quiet || !p.fromStdin {
		return nil
	}
	for i, sha := range shas {
		l := opAckLine{Type: k.typ, Path: k.path, Sha: sha, Stored: true}
		if i == len(shas)-1 && len(p.pending) == 0 {
			l.Cursor = p.cursor
		}
		if err := p.out.write(l); err != nil {
			return err
		}
	}
	return nil
}

// held reports whether a durable store (any store, in a channel of
// in-memory stores only) answered a sync and took every op it lacked: it
// holds all the client has.
func held(rep gigfs.SyncReport) bool {
	anyDurable := false
	for _, s := range rep.Stores {
		anyDurable = anyDurable || s.Durable
	}
	for _, s := range rep.Stores {
		if s.Answered && s.Err == "" && len(s.Refused) == 0 && (s.Durable || !anyDurable) {
			return true
		}
	}
	return false
}

// valueLine is a value of a path, as gig-push and gig-watch -values print it.
type valueLine struct {
	Channel string          `json:"channel,omitempty"`
	Type    string          `json:"type"`
	Path    string          `json:"path"`
	Value   json.RawMessage `json:"value,omitempty"`
	Error   string          `json:"error,omitempty"`
}
