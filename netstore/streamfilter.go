package netstore

import (
	"fmt"
	"strconv"
	"strings"

	"gigfs.io/gigfs/gig"
)

// DefaultStreamWants bounds the wants of one filtered stream reader
// (Config.StreamWants).
const DefaultStreamWants = 100_000

// ErrStreamControl is a bad control line written on a stream file.
var ErrStreamControl = gig.Errorf(gig.ErrInvalid, "bad stream control line")

// A filter is what a stream reader said it wants (the "only", "want" and
// "skip" lines of the stream file, PROTOCOL.md): the events of the oplogs
// its client holds and of the channels it watches, less those of the ops
// its client made itself, which it holds already.
//
// An event passes when its channel is wanted, or when its oplog is wanted
// and its op's origin is not skipped: a channel watch sees every op, even
// the client's own.
type filter struct {
	paths map[string]struct{} // oplog paths, "/<channel>/<path>"
	chans map[string]struct{} // channels, as "/<channel>/"
	skip  map[string]struct{} // origins
}

func newFilter() *filter {
	return &filter{paths: map[string]struct{}{}, chans: map[string]struct{}{}, skip: map[string]struct{}{}}
}

// size is the number of wants and skips the filter holds.
func (f *filter) size() int { return len(f.paths) + len(f.chans) + len(f.skip) }

// pass reports whether the reader wants ev.
func (f *filter) pass(ev *hubEvent) bool {
	if _, ok := f.chans[channelOf(ev.path)]; ok {
		return true
	}
	if _, ok := f.skip[ev.origin]; ok {
		return false
	}
	_, ok := f.paths[ev.path]
	return ok
}

// channelOf is the channel part of an oplog path, "/<channel>/" ("" if
// there is none).
func channelOf(spath string) string {
	if len(spath) < 2 || spath[0] != '/' {
		return ""
	}
	i := strings.IndexByte(spath[1:], '/')
	if i < 0 {
		return ""
	}
	return spath[:i+2]
}

// control applies the control lines of one write on a stream file:
//
//	since <epoch> <seq>   resume after seq of epoch
//	only                  from now on, only the events wanted
//	want <path>           the events of an oplog, "/<channel>/<path>",
//	                      or of a whole channel, "/<channel>/"
//	skip <origin>         not the events of that origin's ops (but for
//	                      wanted channels)
//
// want and skip without only are an error: a reader that gets every
// event has nothing to add. All the lines are checked before any is
// applied, so a refused write changes nothing (but a since whose
// position the store does not have, found only when it is applied).
func (c *Cursor) control(p []byte) error {
	lines := strings.Split(strings.TrimSuffix(string(p), "\n"), "\n")
	if err := c.check(lines); err != nil {
		return err // none of the write's lines applied
	}
	wanted := false // a want applied: a waiting reader looks again (rescan)
	defer func() {
		if wanted {
			c.rescan()
		}
	}()
	for _, line := range lines {
		cmd, arg, _ := strings.Cut(line, " ")
		var err error
		switch cmd {
		case "since":
			err = c.sinceLine(arg)
		case "only":
			c.mu.Lock()
			if c.f == nil && !c.unfiltered {
				c.f = newFilter()
			}
			c.mu.Unlock()
		default:
			c.add(cmd, arg)
			wanted = wanted || cmd == "want"
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// check refuses the lines of one write before any is applied, so that a
// refused write changes nothing: a reader that takes the refusal for a
// store that does not filter gets every event, as it believes.
func (c *Cursor) check(lines []string) error {
	c.mu.Lock()
	only := c.f != nil || c.unfiltered
	c.mu.Unlock()
	for _, line := range lines {
		cmd, arg, _ := strings.Cut(line, " ")
		switch cmd {
		case "since":
			if _, _, err := parseSince(arg); err != nil {
				return err
			}
		case "only":
			if arg != "" {
				return fmt.Errorf("%w: usage: only", ErrStreamControl)
			}
			only = true
		case "want", "skip":
			if err := checkWant(cmd, arg); err != nil {
				return err
			}
			if !only {
				return fmt.Errorf("%w: %s before only", ErrStreamControl, cmd)
			}
		default:
			return fmt.Errorf("%w: %.40q: want since, only, want or skip", ErrStreamControl, line)
		}
	}
	return nil
}

// sinceLine takes the argument of "since <epoch> <seq>".
func (c *Cursor) sinceLine(arg string) error {
	epoch, seq, err := parseSince(arg)
	if err != nil {
		return err
	}
	return c.Since(epoch, seq)
}

// parseSince parses the argument of "since <epoch> <seq>".
func parseSince(arg string) (string, uint64, error) {
	f := strings.Fields(arg)
	if len(f) != 2 {
		return "", 0, fmt.Errorf("%w: usage: since <epoch> <seq>", ErrStreamCursor)
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("%w: seq %q", ErrStreamCursor, f[1])
	}
	return f[0], seq, nil
}

// checkWant checks the argument of a want or a skip.
func checkWant(cmd, arg string) error {
	switch {
	case arg == "" || len(arg) > gig.MaxPathLen+2:
		return fmt.Errorf("%w: %s needs an argument of 1-%d bytes", ErrStreamControl, cmd, gig.MaxPathLen+2)
	case cmd == "want" && (arg[0] != '/' || channelOf(arg) == ""):
		return fmt.Errorf("%w: want %.40q: want /<channel>/ or /<channel>/<path>", ErrStreamControl, arg)
	}
	return nil
}

// add takes a want or a skip. Past the reader's bound of wants
// (Config.StreamWants) the reader gets every event from then on, as one
// that never said what it wants: more than it needs, never less.
// The line was checked (check): an only came before it.
func (c *Cursor) add(cmd, arg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unfiltered {
		return
	}
	switch {
	case cmd == "skip":
		c.f.skip[arg] = struct{}{}
	case arg == channelOf(arg):
		c.f.chans[arg] = struct{}{}
	default:
		c.f.paths[arg] = struct{}{}
	}
	if c.f.size() > c.maxWants {
		c.f, c.unfiltered = nil, true
		c.logf("store: a stream reader of user %s wants more than %d oplogs and channels (-stream-wants): it gets every event", c.user, c.maxWants)
	}
}

// wants reports whether the cursor's reader wants ev.
func (c *Cursor) wants(ev *hubEvent) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wantsLocked(ev)
}

// wantsLocked is wants, called with c.mu held.
func (c *Cursor) wantsLocked(ev *hubEvent) bool { return c.f == nil || c.f.pass(ev) }

// markEvery is how many events in a row a filtered reader may be spared
// before it is sent a mark of its position: half of what the stream
// keeps, so that a reader that resumes from its last line is never too
// old for want of events it did not want.
func (h *hub) markEvery() uint64 { return uint64(max(1, h.max/2)) }

// appendMark appends the line that tells a filtered reader its position
// when the events it was spared have moved it: {"seq":N,"epoch":"E"}.
func appendMark(b []byte, seq uint64, epoch string) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"epoch":`...)
	b = strconv.AppendQuote(b, epoch)
	return append(b, "}\n"...)
}
