package srv9p

import (
	"fmt"
	"sort"
	"strings"
)

// Stats is what a Server says of itself in a status file.
type Stats struct {
	Conns     int64            // connections open
	Unauth    int              // of them, not attached yet
	LimitsHit map[string]int64 // times each limit bit, by kind (as logged)
}

// Stats returns the server's counts now.
func (s *Server) Stats() Stats {
	g := s.guard()
	g.mu.Lock()
	defer g.mu.Unlock()
	st := Stats{Conns: g.conns.Load(), Unauth: g.unauth, LimitsHit: make(map[string]int64, len(g.logs))}
	for k, l := range g.logs {
		st.LimitsHit[k] = l.hits
	}
	return st
}

// LimitsText is LimitsHit as one line: "none", or "kind n, kind n" sorted
// by kind.
func (st Stats) LimitsText() string {
	if len(st.LimitsHit) == 0 {
		return "none"
	}
	kinds := make([]string, 0, len(st.LimitsHit))
	for k := range st.LimitsHit {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, st.LimitsHit[k])
	}
	return strings.Join(parts, ", ")
}
