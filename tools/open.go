package tools

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"gigfs.io/gigfs"
	"gigfs.io/gigfs/table"
)

// preflight checks the session with the table while the command runs. The
// client retries a table that refuses its session as it retries one that
// is down, and a command would only see, after a timeout, that the channel
// is unknown; a refusal (an expired or revoked session, a wrong user) ends
// the command at once, with the table's reason as the cause of ctx. A
// table that cannot be reached is not an error: the tools work offline.
// The returned func ends the check and waits for it.
func preflight(ctx context.Context, refused func(error), s *Settings) (stop func()) {
	pctx, pcancel := context.WithTimeout(ctx, s.callTimeout())
	var wg sync.WaitGroup
	wg.Go(func() {
		tc, err := table.DialSession(pctx, s.Table, s.User, s.Session)
		if err == nil {
			tc.Close()
			return
		}
		if pctx.Err() != nil {
			return
		}
		if isNetErr(err) {
			if len(s.Local) == 0 {
				refused(fmt.Errorf("the table %s is out of reach and no local store is configured: %v", s.Table, err))
			}
			return
		}
		refused(fmt.Errorf("table %s refused the session of %s: %s", s.Table, s.User, refusal(err)))
	})
	return func() { pcancel(); wg.Wait() }
}

// isNetErr reports whether err is a failure to reach a server rather than
// its answer.
func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || strings.Contains(err.Error(), "connection refused") ||
		strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "no such file")
}

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
	tc, derr := table.DialSession(ctx, e.set.Table, e.set.User, e.set.Session)
	if derr != nil {
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
