package srv9p

// Paused returns how many connections of s have been paused by
// back-pressure at least once: not read from until they took their
// replies. (Whether one is paused at a given moment is no condition to
// wait for: a connection the server reads again can stall in TCP's zero
// window for a while, its sender waiting for the window to open.)
func Paused(s *Server) int { return int(s.guard().paused.Load()) }

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

// FileMux returns the Mux of f.
func FileMux(f *MuxFile) *Mux { return f.m }
