package table

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SessionInfo describes a session, as `session list` shows it. The token
// itself is not kept by the table and never shown.
type SessionInfo struct {
	ID          string
	Description string
	Created     time.Time
	Expires     time.Time // if unused until then
}

type sessionJSON struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	Created     int64  `json:"created"` // unix ms
	Expires     int64  `json:"expires"` // unix ms
}

// MarshalJSON encodes the session as one JSON object, times in unix ms.
func (si SessionInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(sessionJSON{si.ID, si.Description, si.Created.UnixMilli(), si.Expires.UnixMilli()})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (si *SessionInfo) UnmarshalJSON(b []byte) error {
	var j sessionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*si = SessionInfo{j.ID, j.Description, time.UnixMilli(j.Created), time.UnixMilli(j.Expires)}
	return nil
}

var errNeedMaster = denied("session commands need the master")

// NewSession makes a session of p's user (p must hold the master) that
// expires when unused for timeout, and returns its token.
func (s *Service) NewSession(p *Principal, timeout time.Duration, description string) (string, error) {
	if p.Kind() != KindMaster {
		return "", errNeedMaster
	}
	if err := validTimeout(timeout, s.cfg.MaxTimeout); err != nil {
		return "", err
	}
	if err := validDescription(description); err != nil {
		return "", err
	}
	u, _, err := s.acquire(p, false)
	if err != nil {
		return "", err
	}
	defer u.mu.Unlock()
	now := s.cfg.Now()
	live := 0
	for _, ss := range u.sessions {
		if ss.state(now) == nil {
			live++
		}
	}
	if live >= MaxSessions {
		return "", badRequest("too many sessions: %d live, revoke some", live)
	}
	id := newID()
	token, err := s.keys.newSessionToken(u.id, id)
	if err != nil {
		return "", err
	}
	ms := now.UnixMilli()
	u.sessions[id] = &session{rec: sessionRecord{
		ID:          id,
		Hash:        tokenHash(token),
		Description: description,
		TimeoutMs:   timeout.Milliseconds(),
		Created:     ms,
		Expires:     ms + timeout.Milliseconds(),
	}}
	if err := u.saveSessions(now, s.cfg.TombstoneAge); err != nil {
		delete(u.sessions, id)
		return "", fmt.Errorf("session new: %w", err)
	}
	return token, nil
}

// Sessions lists the live sessions of p's user (p must hold the master),
// oldest first.
func (s *Service) Sessions(p *Principal) ([]SessionInfo, error) {
	if p.Kind() != KindMaster {
		return nil, errNeedMaster
	}
	u, _, err := s.acquire(p, false)
	if err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	now := s.cfg.Now()
	var list []SessionInfo
	for _, ss := range u.sessions {
		if ss.state(now) != nil {
			continue
		}
		list = append(list, SessionInfo{
			ID:          ss.rec.ID,
			Description: ss.rec.Description,
			Created:     time.UnixMilli(ss.rec.Created),
			Expires:     time.UnixMilli(ss.rec.Expires),
		})
	}
	slices.SortFunc(list, func(a, b SessionInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return list, nil
}

// RevokeSession revokes the session id of p's user (p must hold the
// master): it is written down, then every store that was given a token of
// the session is told to drop it. It returns once the session is revoked
// and the stores told, or RevokeWait has passed: the warnings name the
// stores not told (logged; a store refuses the token anyway once its
// cache bound has passed). They are not an error: the session is revoked.
func (s *Service) RevokeSession(p *Principal, id string) (warnings []string, err error) {
	if p.Kind() != KindMaster {
		return nil, errNeedMaster
	}
	if err := validID("session", id); err != nil {
		return nil, err
	}
	u, _, err := s.acquire(p, false)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	ss := u.sessions[id]
	if ss == nil || ss.state(now) != nil {
		u.mu.Unlock()
		return nil, notFound("no live session %s", id)
	}
	ss.rec.Revoked = now.UnixMilli()
	if err := u.saveSessions(now, s.cfg.TombstoneAge); err != nil {
		ss.rec.Revoked = 0
		u.mu.Unlock()
		return nil, fmt.Errorf("session revoke: %w", err)
	}
	revs := s.revocations(u, []*session{ss})
	u.mu.Unlock()
	return s.notify(u.id, revs), nil
}

// StoreToken returns the store token of p's session for the store
// storeID of p's user (p must be a session). The table remembers that the
// store was given a token of the session, to tell it on revocation.
func (s *Service) StoreToken(p *Principal, storeID string) (string, error) {
	if p.Kind() != KindSession {
		return "", denied("store tokens are derived from a session: attach with one")
	}
	if err := validID("store", storeID); err != nil {
		return "", err
	}
	u, ss, err := s.acquire(p, true)
	if err != nil {
		return "", err
	}
	defer u.mu.Unlock()
	if u.tab.Stores[storeID] == nil {
		return "", notFound("no store %s in the table", storeID)
	}
	if !slices.Contains(ss.rec.Stores, storeID) {
		ss.rec.Stores = append(ss.rec.Stores, storeID)
		if err := u.saveSessions(s.cfg.Now(), s.cfg.TombstoneAge); err != nil {
			ss.rec.Stores = ss.rec.Stores[:len(ss.rec.Stores)-1]
			return "", fmt.Errorf("store token: %w", err)
		}
	}
	return s.keys.storeToken(u.id, storeID, ss.rec.ID), nil
}

// Check checks a store token for the store p (p must be a store
// credential) and returns when its session expires if unused. A good
// check is a use of the session: its expiry slides. The refusals are
// ErrTokenRevoked, ErrTokenExpired, ErrUnknownToken and ErrWrongStore.
func (s *Service) Check(p *Principal, token string) (until time.Time, err error) {
	return s.check(p, token, true)
}

// check is Check; slide false only looks (for a stat).
func (s *Service) check(p *Principal, token string, slide bool) (time.Time, error) {
	if p.Kind() != KindStore {
		return time.Time{}, denied("only stores check tokens")
	}
	u, _, err := s.acquire(p, false)
	if err != nil {
		return time.Time{}, err
	}
	defer u.mu.Unlock()
	storeID, sessionID, ok := s.keys.parseStoreToken(u.id, token)
	switch {
	case !ok:
		return time.Time{}, ErrUnknownToken
	case storeID != p.id:
		return time.Time{}, ErrWrongStore
	}
	ss := u.sessions[sessionID]
	if ss == nil {
		return time.Time{}, ErrUnknownToken
	}
	now := s.cfg.Now()
	if err := ss.state(now); err != nil {
		return time.Time{}, err
	}
	if slide {
		if err := s.slide(u, ss, now); err != nil {
			return time.Time{}, err
		}
	}
	return time.UnixMilli(ss.rec.Expires), nil
}

// A revocation is what one store is told when sessions end.
type revocation struct {
	storeID, addr, fingerprint, secret string
	tokens                             []string
}

// revocations returns, per store of u still in its table, the tokens of
// the sessions list it was given. u.mu is held.
func (s *Service) revocations(u *user, list []*session) []revocation {
	by := map[string]*revocation{}
	var revs []*revocation
	for _, ss := range list {
		for _, id := range ss.rec.Stores {
			st := u.tab.Stores[id]
			if st == nil {
				continue
			}
			r := by[id]
			if r == nil {
				r = &revocation{storeID: id, addr: st.Addr, fingerprint: st.Fingerprint, secret: st.Secret}
				by[id] = r
				revs = append(revs, r)
			}
			r.tokens = append(r.tokens, s.keys.storeToken(u.id, id, ss.rec.ID))
		}
	}
	out := make([]revocation, len(revs))
	for i, r := range revs {
		out[i] = *r
	}
	return out
}

// notify tells the stores of user about revoked tokens, all at once, each
// within StoreTimeout. It waits at most RevokeWait, then returns one
// warning per store not told: failed, or still being told in the
// background. Failures are logged with their cause; the warnings only say
// which store (the same words whatever went wrong).
func (s *Service) notify(user string, revs []revocation) (warnings []string) {
	if len(revs) == 0 {
		return nil
	}
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(revs))
	s.bgMu.Lock()
	if s.bgDone {
		s.bgMu.Unlock()
		return []string{"the table is closing: no store was told"}
	}
	for i, r := range revs {
		s.bgWG.Go(func() {
			ctx, cancel := context.WithTimeout(s.bg, s.cfg.StoreTimeout)
			defer cancel()
			err := s.cfg.Stores.Revoke(ctx, r.addr, r.fingerprint, user, r.secret, r.tokens)
			if err != nil {
				s.logf("table: user %s: revoke %d token(s) on store %s at %s: %v; skipped, the store re-checks within its cache bound",
					user, len(r.tokens), r.storeID, r.addr, err)
			}
			results <- result{i, err}
		})
	}
	s.bgMu.Unlock()
	told := make([]bool, len(revs))
	failed := make([]bool, len(revs))
	timer := time.NewTimer(s.cfg.RevokeWait)
	defer timer.Stop()
	for n := 0; n < len(revs); n++ {
		select {
		case res := <-results:
			told[res.i], failed[res.i] = res.err == nil, res.err != nil
		case <-timer.C:
			n = len(revs) // stop waiting
		}
	}
	for i, r := range revs {
		switch {
		case failed[i]:
			warnings = append(warnings, fmt.Sprintf("store %s at %s could not be told; it refuses the token(s) once its cache bound has passed", r.storeID, r.addr))
		case !told[i]:
			warnings = append(warnings, fmt.Sprintf("store %s at %s did not answer within %v; still telling it in the background; it refuses the token(s) once its cache bound has passed", r.storeID, r.addr, s.cfg.RevokeWait))
		}
	}
	return warnings
}
