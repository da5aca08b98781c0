package srv9p

// Held returns how many connections of s are paused by back-pressure:
// not read from until they take their replies.
func Held(s *Server) int { return int(s.guard().held.Load()) }

// Unauth returns how many connections of s have not attached yet.
func Unauth(s *Server) int {
	g := s.guard()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.unauth
}

// AttachWaiting returns how many attaches to s wait for their address's
// turn (the per-address attach delay).
func AttachWaiting(s *Server) int { return int(s.guard().turning.Load()) }

// Ending returns how many connections of s hold a Tclunk or Tremove back
// until the other kind's replies are written (clunk.go).
func Ending(s *Server) int { return int(s.guard().ending.Load()) }
