package storefs

import (
	"context"
	"fmt"
	"strings"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/srv9p"
)

// The call log (netstore.Call): the tree tells the service what each
// connection of a user did, with the session of its store token, and
// serves the log as /user/<id>/calls.

// logRefused logs a call refused with err.
func (t *Tree) logRefused(user, sess, call string, err error) {
	t.S.LogCall(user, netstore.Call{Session: sess, Call: call, Result: "refused: " + oneLine(srv9p.ErrorString(err))})
}

// logWrite logs a write of records: their paths (the first few) and the
// count of each result code, from the results' text (a code's word).
func (t *Tree) logWrite(user, sess, call string, recs []netstore.Record, results []string) {
	c := netstore.Call{Session: sess, Call: call, Records: len(results)}
	seen := make(map[string]bool)
	for _, r := range recs {
		k := r.Type + " " + r.Path
		if seen[k] {
			continue
		}
		seen[k] = true
		if len(c.Paths) < 8 {
			c.Paths = append(c.Paths, k)
		} else {
			c.More++
		}
	}
	counts := make(map[string]int)
	var words []string
	for _, r := range results {
		w, _, _ := strings.Cut(r, ":")
		if counts[w] == 0 {
			words = append(words, w)
		}
		counts[w]++
	}
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = fmt.Sprintf("%s %d", w, counts[w])
	}
	c.Result = strings.Join(parts, ", ")
	t.S.LogCall(user, c)
	t.stats.countResults(results)
}

// callsFile is /user/<id>/calls: the user's call log, JSON lines, oldest
// first, as it was when opened.
func (t *Tree) callsFile(user string, auth func(context.Context) error) srv9p.Node {
	return srv9p.NewSnapshotFile(srv9p.Info{Name: "calls", Mode: 0o400, Path: qpath(user, "/calls")}, func(ctx context.Context) ([]byte, error) {
		if err := auth(ctx); err != nil {
			return nil, err
		}
		b, err := t.S.Calls(user)
		if err != nil {
			return nil, gig.Errorf(gig.ErrInternal, "calls: %v", err)
		}
		return b, nil
	})
}
