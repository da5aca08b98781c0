package tools

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"gigfs.io/gigfs"
	"gigfs.io/gigfs/srv9p"
	"gigfs.io/gigfs/table"
)

// tableTrouble reads a line of the client's log for what the table said.
// The client retries a table that refuses its session as it retries one
// that is down, and only logs why; a command would see, after a timeout,
// only that its channel is unknown. So a refusal (an expired or revoked
// session, a wrong user) is returned at once, and so is a table out of
// reach when no local store is configured (nothing could answer). The
// client library has no other way to tell (see the package doc); when the
// log line changes, explain still finds the reason after the timeout.
func tableTrouble(msg string, s *Settings) error {
	// A session refused later, when a store token is asked for: revoked
	// or expired while the command runs (a watch).
	if strings.HasPrefix(msg, "gigfs: store ") && strings.Contains(msg, ": store token: ") {
		if i := strings.Index(msg, "permission denied"); i >= 0 {
			return fmt.Errorf("table %s refused the session of %s: %s", s.Table, s.User, msg[i:])
		}
	}
	prefix := "gigfs: table " + s.Table + ": "
	if !strings.HasPrefix(msg, prefix) {
		return nil
	}
	reason := strings.TrimPrefix(msg, prefix)
	switch {
	case strings.Contains(reason, "attach ") && strings.Contains(reason, "permission denied"):
		return fmt.Errorf("table %s refused the session of %s: %s", s.Table, s.User, refusal(errors.New(reason)))
	case len(s.Local) == 0 && strings.Contains(reason, ": dial "):
		return fmt.Errorf("the table %s is out of reach and no local store is configured: %s", s.Table, reason)
	}
	return nil
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
