package tools

import (
	"context"
	"sort"
	"strings"
)

// pathCompletions completes a path of (channel, typ) (typ "" for any):
// the paths used in the session (known) and those the channel's stores
// hold, listed from their names. A path completes to its next element: a
// folder ends with "/" and no space, so that Tab goes on below it.
func (sh *shell) pathCompletions(channel, typ, prefix string, known []string) []string {
	seen := make(map[string]bool)
	add := func(p string) {
		if !strings.HasPrefix(p, prefix) {
			return
		}
		if i := strings.IndexByte(p[len(prefix):], '/'); i >= 0 && len(prefix)+i > 0 {
			seen[p[:len(prefix)+i+1]] = true
			return
		}
		seen[p+" "] = true
	}
	for _, p := range known {
		add(p)
	}
	if cl, err := sh.client(); err == nil && (prefix == "" || strings.HasPrefix(prefix, "/")) {
		ctx, cancel := context.WithTimeout(context.Background(), sh.set.callTimeout())
		paths, _ := cl.List(ctx, channel, prefix)
		cancel()
		for _, tp := range paths {
			if typ == "" || tp.Type == typ {
				add(tp.Path)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
