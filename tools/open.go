package tools

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gigfs.io/gigfs"
	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
	"gigfs.io/gigfs/table"
)

// tableTrouble turns what the client says of the table (Config.OnTable)
// into the error that ends a command: a refusal of the session (expired,
// revoked, a wrong user), at once, and a table out of reach when no local
// store is configured (nothing could answer). Other news, nil included,
// ends nothing.
func tableTrouble(err error, s *Settings) error {
	switch {
	case errors.Is(err, gigfs.ErrTableRefused):
		return fmt.Errorf("table %s refused the session of %s: %w", s.Table, s.User, cause(err, gigfs.ErrTableRefused))
	case errors.Is(err, gigfs.ErrTableUnreachable) && len(s.Local) == 0:
		return fmt.Errorf("the table %s is out of reach and no local store is configured: %w", s.Table, cause(err, gigfs.ErrTableUnreachable))
	}
	return nil
}

// cause is what err wraps besides the sentinel that marks it: the client
// reports table news as fmt.Errorf("%w: %w", sentinel, cause).
func cause(err, sentinel error) error {
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range m.Unwrap() {
			if e != sentinel {
				return e
			}
		}
	}
	return err
}

// isNetErr reports whether err is a failure to reach a server rather than
// its answer.
func isNetErr(err error) bool { return errors.Is(err, gig.ErrTransport) }

// refusal is the server's reason in an attach error: the text after
// "attach <addr> as <user>: ".
func refusal(err error) string {
	msg := err.Error()
	i := strings.Index(msg, "attach ")
	if i < 0 {
		return msg
	}
	rest := msg[i:]
	j := strings.Index(rest, ": ")
	if j < 0 {
		return msg
	}
	return rest[j+2:]
}

// explain makes a client error about a channel clearer when it can: an
// unknown channel with a remote table configured is either a table out of
// reach (the client works with the local stores alone) or a channel the
// table does not have (it lists those it has).
func (e *env) explain(err error, channel string) error {
	if err == nil || !errors.Is(err, gigfs.ErrUnknownChannel) || e.set == nil || e.set.Table == "" {
		return err
	}
	if cause := context.Cause(e.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(e.set.callTimeout(), 2*time.Second))
	defer cancel()
	tc, derr := table.DialTrust(ctx, e.set.Table, e.set.Trust(), e.set.User, "session "+e.set.Session)
	if derr != nil {
		if errors.Is(derr, srv9p.ErrUntrusted) {
			return fmt.Errorf("table %s: %v", e.set.Table, derr)
		}
		if isNetErr(derr) || ctx.Err() != nil {
			return fmt.Errorf("channel %s: the table %s is out of reach (%v) and no local store serves it", channel, e.set.Table, derr)
		}
		return fmt.Errorf("table %s refused the session of %s: %s", e.set.Table, e.set.User, refusal(derr))
	}
	defer tc.Close()
	mt, terr := tc.Table(ctx)
	if terr != nil {
		return err
	}
	if _, ok := mt[channel]; ok {
		return err
	}
	names := make([]string, 0, len(mt))
	for ch := range mt {
		names = append(names, ch)
	}
	for ch := range e.set.Local {
		names = append(names, ch+" (local)")
	}
	sort.Strings(names)
	if len(names) == 0 {
		return fmt.Errorf("unknown channel %q: user %s has no channels yet (gig-channel add makes one)", channel, e.set.User)
	}
	return fmt.Errorf("unknown channel %q: user %s has channels %s", channel, e.set.User, strings.Join(names, ", "))
}
