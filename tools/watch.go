package tools

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"gigfs.io/gigfs"
)

var watchCmd = &command{
	name:    "watch",
	args:    "[-all | -since <cursor>] [-time] <channel> | -values <channel> <type> <path>...",
	summary: "print the ops new on a channel, or the value changes of paths",
	shell:   true,
	help: `Watch prints, one JSON line each, the ops that are new to the client on
any path of a channel, written by anyone, as push lines:

	{"type":T,"path":P,"op":{"date":..,"origin":..,"seq":..,"sha":..,"payload":..},"cursor":C}

which gig-push reads: gig-watch a | gig-push b mirrors channel a into b.
Each op is printed once, whichever stores it comes from. With -all it
first prints every op the stores hold (since their checkpoints), so that
gig-watch -all a | gig-push b copies a's history (ops b has are no-ops).

"cursor" says where the watch is in the streams of every remote store of
the channel; -since <cursor> starts a new watch there, missing nothing (a
store that can no longer serve it, restarted or too far behind, has the
channel replayed; an op may come twice, a mirror's push of it is a
no-op). gig-push echoes the cursor of the lines it has stored, so a
mirror resumes from the last cursor its output shows. The cursor "all"
(given while a -all replay runs) means -all. On exit, gig-watch prints
"cursor <C>" on stderr.

With -values, or given a type and paths after the channel, it prints the
value of each path given, then every change of it, local or remote, once
per change:

	{"channel":C,"type":T,"path":P,"value":V}

(a reducer that fails gives a line with "error" instead of "value").
-time adds to each op line its date, readable: "time":"2026-12-02T13:00:00.123Z".

Once the stores have answered it says "watching ..." on stderr: from
then on no op is missed. It says there too when a store stops answering,
and when it answers again. It runs until interrupted (SIGINT, SIGTERM;
Ctrl-C in gigsh returns to the prompt), until it has printed -n lines or
-for has passed since it began watching, or until the reader of its
output goes away (then it exits 0).

Example:

	$ gig-watch demo
	{"type":"lww","path":"/greeting","op":{"date":1732550000123,…,"payload":"hello"}}
	$ gig-watch -values -n 2 demo counter /visits
	{"channel":"demo","type":"counter","path":"/visits","value":3}
	{"channel":"demo","type":"counter","path":"/visits","value":4}`,
	run: runWatch,
}

// WatchMain is gig-watch.
func WatchMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(watchCmd, args, stdin, stdout, stderr)
}

// The oplog that gig-watch reads once, so that it knows the stores have
// answered (and their streams are open) before it says it is watching.
const (
	probeType = "gig-watch"
	probePath = "/ready"
)

func runWatch(e *env, args []string) error {
	fs := e.flags()
	values := fs.Bool("values", false, "print the value changes of the paths given, not ops")
	n := fs.Int("n", 0, "stop after this many lines (0: no limit)")
	dur := fs.Duration("for", 0, "stop after this long (0: until interrupted)")
	all := fs.Bool("all", false, "first print every op the stores hold")
	since := fs.String("since", "", "resume from a cursor printed earlier")
	withTime := fs.Bool("time", false, "add each op's date, readable (\"time\", RFC 3339)")
	rest, err := e.parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) >= 3 {
		*values = true // a type and paths can only mean their values
	}
	switch {
	case *values && len(rest) < 3:
		return usageErr("-values wants <channel> <type> <path>...")
	case !*values && len(rest) != 1:
		return usageErr("want <channel>, or <channel> <type> <path>... for values")
	case *n < 0 || *dur < 0:
		return usageErr("-n and -for must not be negative")
	case *values && (*all || *since != ""):
		return usageErr("-all and -since are for a channel-wide watch, not -values")
	case *values && *withTime:
		return usageErr("-time is for a channel-wide watch (its ops have dates), not -values")
	case *all && *since != "":
		return usageErr("-all or -since, not both")
	case e.sh != nil && *since != "":
		return usageErr("in gigsh, watch takes no -since (the shell's client is already following the stores)")
	}
	if *since != "" {
		cu, isAll, err := gigfs.ParseCursor(*since)
		if err != nil {
			return usageErr("-since: %v", err)
		}
		*all = isAll
		e.resume = cu
	}
	e.newsOn()
	cl, err := e.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	// -for counts from when the watch is set up (the first values are
	// printed), however long the stores took to answer.
	begin := func() {}
	if *dur > 0 {
		begin = func() { time.AfterFunc(*dur, cancel) }
	}
	if e.sh == nil {
		if gone := readerGone(ctx, e.stdout); gone != nil {
			go func() {
				select {
				case <-gone:
					cancel()
				case <-ctx.Done():
				}
			}()
		}
	}
	w := &limitWriter{lw: lineWriter{w: e.stdout}, max: *n}
	if *values {
		return watchValues(ctx, e, cl, w, begin, rest[0], rest[1], rest[2:])
	}
	return watchOps(ctx, e, cl, w, begin, rest[0], *all, *withTime)
}

// limitWriter writes lines until max (if not 0) have been written.
type limitWriter struct {
	lw    lineWriter
	max   int
	count int
}

// write writes one line and reports whether the limit is reached.
func (w *limitWriter) write(v any) (bool, error) {
	if err := w.lw.write(v); err != nil {
		return true, err
	}
	w.count++
	return w.max > 0 && w.count >= w.max, nil
}

func watchOps(ctx context.Context, e *env, cl *gigfs.Client, w *limitWriter, begin func(), channel string, all, withTime bool) error {
	events, err := cl.WatchOpsFrom(ctx, channel, gigfs.WatchOptions{All: all, Positions: true})
	if err != nil {
		return e.explain(err, channel)
	}
	last := ""
	defer func() {
		if last != "" && e.sh == nil {
			e.errMu.Lock()
			fmt.Fprintf(e.stderr, "%s: cursor %s\n", e.name(), last)
			e.errMu.Unlock()
		}
	}()
	pctx, pcancel := context.WithTimeout(ctx, 2*e.set.callTimeout())
	_, perr := cl.Log(pctx, channel, probeType, probePath)
	pcancel()
	if perr != nil && ctx.Err() == nil {
		e.status("watching channel %s; no store answered yet (%s): its ops show when one does", channel, oneLine(perr.Error()))
	} else {
		e.status("watching channel %s", channel)
	}
	begin()
	for ev := range events {
		last = ev.Cursor
		if ev.Type == "" {
			continue // a position only: the stores' streams moved on with nothing of the channel
		}
		e.note(channel, ev.Type, ev.Path)
		l := pushLine{Type: ev.Type, Path: ev.Path, Op: ev.Op.AppendJSON(nil), Cursor: ev.Cursor}
		if withTime {
			l.Time = timeText(ev.Op.Date)
		}
		done, err := w.write(l)
		if err != nil || done {
			return err
		}
	}
	return nil
}

func watchValues(ctx context.Context, e *env, cl *gigfs.Client, w *limitWriter, begin func(), channel, typ string, paths []string) error {
	out := make(chan valueLine)
	var wg sync.WaitGroup
	var first []valueLine
	for _, path := range paths {
		e.note(channel, typ, path)
		changes, err := cl.Watch(ctx, channel, typ, path)
		if err != nil {
			return e.explain(err, channel)
		}
		v, verr := cl.Get(ctx, channel, typ, path)
		first = append(first, lineOf(gigfs.Change{Channel: channel, Type: typ, Path: path, Value: v, Err: verr}))
		wg.Go(func() {
			for c := range changes {
				select {
				case out <- lineOf(c):
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(out) }()
	e.status("watching %s of type %s in channel %s", count(len(paths), "path"), typ, channel)
	for _, l := range first {
		if done, err := w.write(l); err != nil || done {
			return err
		}
	}
	begin()
	for l := range out {
		if done, err := w.write(l); err != nil || done {
			return err
		}
	}
	return nil
}

func lineOf(c gigfs.Change) valueLine {
	l := valueLine{Channel: c.Channel, Type: c.Type, Path: c.Path, Value: c.Value}
	if c.Err != nil {
		l.Value, l.Error = nil, oneLine(c.Err.Error())
	}
	return l
}

// status says what a long-running command does, one line on stderr: in
// gigsh only when it is interactive.
func (e *env) status(format string, args ...any) {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	switch {
	case e.sh == nil:
		fmt.Fprintf(e.stderr, "%s: %s\n", e.name(), fmt.Sprintf(format, args...))
	case e.sh.interactive:
		e.sh.printf(format+" (Ctrl-C stops)\n", args...)
	}
}

// pollInterval is how often gig-watch looks whether the reader of its
// output went away.
const pollInterval = 500 * time.Millisecond
