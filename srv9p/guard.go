package srv9p

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"gigfs.io/gigfs/gig"
)

// The server-wide guards: connections that have not attached yet, failed
// attaches per source address, and log lines of limits that bite.

// Fixed parts of the attach delay (see Server.AttachDelay).
const (
	attachFreeFails = 5                // failures of an address before its attaches are slowed
	attachForgive   = 30 * time.Second // one failure of an address is forgotten per this much time
	maxAddrs        = 1 << 16          // addresses remembered; then the forgiven ones, then any, are dropped
	logEvery        = time.Minute      // one log line per kind of limit per this much time
)

// guard is the state a Server shares between its connections.
type guard struct {
	mu       sync.Mutex
	unauth   int            // connections not attached yet
	unauthBy map[string]int // the same, by address key
	addrs    map[string]*addrState
	logs     map[string]*logState

	paused  atomic.Int64 // connections whose reading was paused at least once (see waitRoom)
	turning atomic.Int64 // attaches waiting for their turn (see attachTurn)
	conns   atomic.Int64 // connections open (stats.go)
	ending  atomic.Int64 // readers holding a Tclunk or Tremove back (see endsFid)
}

type addrState struct {
	fails float64   // failed attaches, less those forgiven
	at    time.Time // when fails was last brought up to date
	next  time.Time // when the next attach of this address may start
}

type logState struct {
	last       time.Time
	suppressed int
	hits       int64 // every time the limit bit (stats.go)
}

func (s *Server) guard() *guard {
	s.guardOnce.Do(func() {
		s.g = &guard{unauthBy: map[string]int{}, addrs: map[string]*addrState{}, logs: map[string]*logState{}}
	})
	return s.g
}

// limitLog logs a line about a limit that bit, at most one per kind per
// logEvery; the next line says how many were left out meanwhile.
func (s *Server) limitLog(kind, format string, args ...any) {
	g := s.guard()
	now := time.Now()
	g.mu.Lock()
	l := g.logs[kind]
	if l == nil {
		l = &logState{}
		g.logs[kind] = l
	}
	l.hits++
	if !l.last.IsZero() && now.Sub(l.last) < logEvery {
		l.suppressed++
		g.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	g.mu.Unlock()
	if n > 0 {
		format += fmt.Sprintf(" (and %d more like it in the last %v, not logged)", n, logEvery)
	}
	s.logf(format, args...)
}

// addrKey is the unit of the per-address limits: the IP address of a TCP
// peer, its /64 for IPv6 (one host usually holds a whole /64), and one
// key for every peer without an IP (unix sockets).
func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return "local"
	case ip.To4() != nil:
		return ip.To4().String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// admit counts a new connection from key as not attached yet, and
// reports false if that would pass MaxUnauth or MaxUnauthPerAddr.
func (s *Server) admit(key string) bool {
	g := s.guard()
	max, perAddr := orDefault(s.MaxUnauth, DefaultMaxUnauth), orDefault(s.MaxUnauthPerAddr, DefaultMaxUnauthPerAddr)
	g.mu.Lock()
	total, mine := g.unauth, g.unauthBy[key]
	ok := total < max && mine < perAddr
	if ok {
		g.unauth++
		g.unauthBy[key]++
	}
	g.mu.Unlock()
	switch {
	case ok:
	case total >= max:
		s.limitLog("unauth", "%d connections not attached yet (limit %d): closing new connections until some attach or time out", total, max)
	default:
		s.limitLog("unauth-addr", "%s: %d connections not attached yet from this address (limit %d): closing its new connections", key, mine, perAddr)
	}
	return ok
}

// leaveUnauth uncounts a connection admitted from key: it attached or ended.
func (s *Server) leaveUnauth(key string) {
	g := s.guard()
	g.mu.Lock()
	g.unauth--
	if g.unauthBy[key]--; g.unauthBy[key] <= 0 {
		delete(g.unauthBy, key)
	}
	g.mu.Unlock()
}

// attachDelay returns the delay between attaches of an address that has
// failed fails times.
func (s *Server) attachDelay(fails float64) time.Duration {
	// A failure is forgiven whole: one forgiven in part still counts.
	fails = math.Ceil(fails)
	if fails < attachFreeFails {
		return 0
	}
	base := s.AttachDelay
	if base == 0 {
		base = DefaultAttachDelay
	}
	maxd := s.AttachMaxDelay
	if maxd == 0 {
		maxd = DefaultAttachMaxDelay
	}
	if base < 0 || maxd < 0 {
		return 0
	}
	d := base
	for i := attachFreeFails; float64(i) < fails && d < maxd; i++ {
		d *= 2
	}
	return min(d, maxd)
}

// forgive brings a's failures up to date at now.
func (a *addrState) forgive(now time.Time) {
	if a.fails > 0 {
		a.fails = max(0, a.fails-float64(now.Sub(a.at))/float64(attachForgive))
	}
	a.at = now
}

// attachTurn waits for the turn of an attach from key: attaches of an
// address that failed more than attachFreeFails times take turns, one per
// attachDelay, whatever connection they come on. It fails only if ctx ends.
func (s *Server) attachTurn(ctx context.Context, key string) error {
	g := s.guard()
	now := time.Now()
	g.mu.Lock()
	a := g.addrs[key]
	if a == nil {
		g.mu.Unlock()
		return nil
	}
	a.forgive(now)
	d := s.attachDelay(a.fails)
	start := now
	if a.next.After(start) {
		start = a.next
	}
	a.next = start.Add(d)
	g.mu.Unlock()
	if wait := start.Sub(now); wait > 0 {
		g.turning.Add(1)
		defer g.turning.Add(-1)
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// countsAsFailure reports whether a refused attach is the client's doing:
// a bad credential, user or request, not a server that could not decide.
func countsAsFailure(err error) bool {
	return errors.Is(err, gig.ErrPermission) || errors.Is(err, gig.ErrNotExist) || errors.Is(err, gig.ErrInvalid)
}

// attachFailed records a failed attach from key.
func (s *Server) attachFailed(key string) {
	g := s.guard()
	now := time.Now()
	g.mu.Lock()
	a := g.addrs[key]
	if a == nil {
		if len(g.addrs) >= maxAddrs {
			g.sweep(now)
		}
		a = &addrState{at: now}
		g.addrs[key] = a
	}
	a.forgive(now)
	// Past the longest delay more failures change nothing but the time
	// the address takes to be forgiven: they are capped.
	before := s.attachDelay(a.fails)
	a.fails = min(a.fails+1, s.maxFails())
	after, n := s.attachDelay(a.fails), int(math.Ceil(a.fails))
	g.mu.Unlock()
	if before == 0 && after > 0 {
		s.limitLog("attach-delay", "%s: %d failed attaches: its attaches now take turns, %v apart, growing to at most %v",
			key, n, after, s.attachDelay(s.maxFails()))
	}
}

// maxFails is the count of failures from which the delay grows no more.
func (s *Server) maxFails() float64 {
	n := float64(attachFreeFails)
	for s.attachDelay(n) < s.attachDelay(n+1) {
		n++
	}
	return n
}

// sweep forgets addresses whose failures are forgiven and whose turn has
// passed, then if need be a quarter of the rest. g.mu is held.
func (g *guard) sweep(now time.Time) {
	for k, a := range g.addrs {
		a.forgive(now)
		if a.fails == 0 && !a.next.After(now) {
			delete(g.addrs, k)
		}
	}
	drop := len(g.addrs) - maxAddrs*3/4
	for k := range g.addrs {
		if drop <= 0 {
			break
		}
		delete(g.addrs, k)
		drop--
	}
}
