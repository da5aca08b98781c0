package netstore

import (
	"sync"
	"time"
)

// tokenCache remembers recent good token checks and revocations. A good
// check is trusted until the earlier of the session's expiry and the cache
// bound; a revocation is kept until the cache bound has passed for every
// entry that could have held the token, and then some.
type tokenCache struct {
	mu      sync.Mutex
	good    map[tokenKey]goodToken
	revoked map[tokenKey]time.Time // when the revocation may be forgotten
}

type tokenKey struct{ user, token string }

type goodToken struct {
	until time.Time // the later of which is not trusted
}

func (c *tokenCache) init() {
	c.good = make(map[tokenKey]goodToken)
	c.revoked = make(map[tokenKey]time.Time)
}

// lookup returns nil for a token known good now, ErrTokenRevoked for a
// revoked one, and ErrTokenRefused when the table must be asked.
func (c *tokenCache) lookup(user, token string, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := tokenKey{user, token}
	if _, ok := c.revoked[k]; ok {
		return ErrTokenRevoked
	}
	if g, ok := c.good[k]; ok {
		if now.Before(g.until) {
			return nil
		}
		delete(c.good, k)
	}
	return ErrTokenRefused
}

func (c *tokenCache) put(user, token string, until, now time.Time, ttl time.Duration) {
	if bound := now.Add(ttl); bound.Before(until) {
		until = bound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	c.good[tokenKey{user, token}] = goodToken{until: until}
}

// revoke refuses a token from now on. The table refuses it too, so the
// revocation only needs to outlive any cached good check; it is kept a day.
func (c *tokenCache) revoke(user, token string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	k := tokenKey{user, token}
	delete(c.good, k)
	c.revoked[k] = now.Add(24 * time.Hour)
}

// dropUser forgets every good check of a user (its table changed).
func (c *tokenCache) dropUser(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.good {
		if k.user == user {
			delete(c.good, k)
		}
	}
}

// expire drops entries that no longer matter. Called with c.mu held, on
// writes only, so its cost is shared by the puts that make entries.
func (c *tokenCache) expire(now time.Time) {
	for k, g := range c.good {
		if !now.Before(g.until) {
			delete(c.good, k)
		}
	}
	for k, t := range c.revoked {
		if now.After(t) {
			delete(c.revoked, k)
		}
	}
}
