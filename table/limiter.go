package table

import (
	"sync"
	"time"
)

// maxLimited bounds how many users and how many hosts the limiter
// remembers; past it, entries whose window has passed are forgotten, then
// arbitrary ones.
const maxLimited = 1 << 16

// A limiter slows down failed attaches, per user and per remote host.
// After n failures, each within window of the one before, the next attach
// waits base·2^(n-1), at most max; a success resets the user and the host.
// An attach waits for the larger of its user's and its host's delays, and
// waits alone: other attaches are not held up.
type limiter struct {
	base, max, window time.Duration
	now               func() time.Time

	mu    sync.Mutex
	users map[string]*failures
	hosts map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

func newLimiter(base, max, window time.Duration, now func() time.Time) *limiter {
	return &limiter{base: base, max: max, window: window, now: now,
		users: map[string]*failures{}, hosts: map[string]*failures{}}
}

// delay returns how long an attach of user from host waits.
func (l *limiter) delay(user, host string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	return max(l.delayOf(l.users[user], now), l.delayOf(l.hosts[host], now))
}

func (l *limiter) delayOf(f *failures, now time.Time) time.Duration {
	if f == nil || f.n == 0 || now.Sub(f.last) > l.window {
		return 0
	}
	d := l.base
	for i := 1; i < f.n && d < l.max; i++ {
		d *= 2
	}
	return min(d, l.max)
}

// fail records a failed attach.
func (l *limiter) fail(user, host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.bump(l.users, user, now)
	l.bump(l.hosts, host, now)
}

func (l *limiter) bump(m map[string]*failures, key string, now time.Time) {
	f := m[key]
	if f == nil {
		if len(m) >= maxLimited {
			l.sweep(m, now)
		}
		f = &failures{}
		m[key] = f
	}
	if now.Sub(f.last) > l.window {
		f.n = 0
	}
	f.n++
	f.last = now
}

// sweep forgets entries whose window has passed, and if that is not
// enough, a quarter of the rest.
func (l *limiter) sweep(m map[string]*failures, now time.Time) {
	for k, f := range m {
		if now.Sub(f.last) > l.window {
			delete(m, k)
		}
	}
	drop := len(m) - maxLimited*3/4
	for k := range m {
		if drop <= 0 {
			break
		}
		delete(m, k)
		drop--
	}
}

// succeed records a successful attach.
func (l *limiter) succeed(user, host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.users, user)
	delete(l.hosts, host)
}
