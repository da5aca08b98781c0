package srv9p

import (
	"fmt"
	"runtime"
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

// A StatusText builds a server's status file: one "name value" line each
// (PROTOCOL.md). The zero value is ready.
type StatusText struct{ b strings.Builder }

// Line adds the line name, then the value format makes of args.
func (t *StatusText) Line(name, format string, args ...any) {
	fmt.Fprintf(&t.b, "%s %s\n", name, fmt.Sprintf(format, args...))
}

// Server adds what every 9P server says: its connections and the limits
// that bit. A nil srv adds nothing.
func (t *StatusText) Server(srv *Server) {
	if srv == nil {
		return
	}
	st := srv.Stats()
	t.Line("connections", "%d (%d not attached)", st.Conns, st.Unauth)
	t.Line("limits_hit", "%s", st.LimitsText())
}

// Memory adds the memory line of the process.
func (t *StatusText) Memory() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	t.Line("memory", "heap %.1f MiB, sys %.1f MiB, goroutines %d", float64(m.HeapAlloc)/(1<<20), float64(m.Sys)/(1<<20), runtime.NumGoroutine())
}

// String is the text of the file.
func (t *StatusText) String() string { return t.b.String() }
