package table

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/atomicfile"
)

// SetMaster sets the master of user id, making the user if it does not
// exist. Every session of the user is revoked (and its stores told), and
// connections attached with the old master lose their rights. This is the
// admin's operation: the caller has checked the admin's credential.
func (s *Service) SetMaster(ctx context.Context, id, master string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if _, err := gig.ParseUser(id); err != nil {
		return err
	}
	if err := validMaster(master); err != nil {
		return err
	}
	select {
	case s.hashes <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	h, err := hashMaster(s.cfg.KDF, master)
	<-s.hashes
	if err != nil {
		return err
	}

	s.mu.Lock()
	u := s.users[id]
	if u == nil {
		err := s.newUser(id, h)
		s.mu.Unlock()
		return err
	}
	u.mu.Lock()
	s.mu.Unlock()
	now := s.cfg.Now()
	var ended []*session
	for _, ss := range u.sessions {
		if ss.state(now) == nil {
			ss.rec.Revoked = now.UnixMilli()
			ended = append(ended, ss)
		}
	}
	// Sessions first: a crash between the two writes leaves the sessions
	// revoked and the old master, never live sessions of a master changed.
	if err := u.saveSessions(now, s.cfg.TombstoneAge); err != nil {
		for _, ss := range ended {
			ss.rec.Revoked = 0
		}
		u.mu.Unlock()
		return fmt.Errorf("user set %s: %w", id, err)
	}
	old := u.rec.Master
	u.rec.Master = h
	if err := u.saveUser(); err != nil {
		u.rec.Master = old
		u.gen++ // the sessions are gone anyway; be safe with the master too
		u.mu.Unlock()
		return fmt.Errorf("user set %s: %w", id, err)
	}
	u.gen++
	revs := s.revocations(u, ended)
	u.mu.Unlock()
	s.notify(id, revs)
	return nil
}

// newUser makes the folder and files of a new user. s.mu is held.
func (s *Service) newUser(id string, h masterHash) error {
	dir := filepath.Join(s.dir, id)
	u := &user{id: id, dir: dir, sessions: map[string]*session{}}
	u.rec = userRecord{ID: id, Created: s.cfg.Now().UnixMilli(), Master: h}
	u.tab = tableRecord{Channels: map[string]*channelRecord{}, Stores: map[string]*storeRecord{}}
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("user set %s: %w", id, err)
	}
	if err := u.saveUser(); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("user set %s: %w", id, err)
	}
	s.users[id] = u
	return nil
}

// RemoveUser removes user id and everything the table keeps of it. Its
// sessions end (and their stores are told), its connections lose their
// rights. This is the admin's operation.
func (s *Service) RemoveUser(id string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if _, err := gig.ParseUser(id); err != nil {
		return err
	}
	s.mu.Lock()
	u := s.users[id]
	if u == nil {
		s.mu.Unlock()
		return notFound("no user %q", id)
	}
	u.mu.Lock()
	// Rename first, so that a crash leaves the whole user or nothing;
	// Open finishes the removal of a renamed folder.
	b := make([]byte, 8)
	rand.Read(b)
	gone := filepath.Join(s.dir, removedPrefix+id+"-"+hex.EncodeToString(b))
	if err := os.Rename(u.dir, gone); err != nil {
		u.mu.Unlock()
		s.mu.Unlock()
		return fmt.Errorf("user remove %s: %w", id, err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		s.logf("table: user remove %s: %v", id, err)
	}
	now := s.cfg.Now()
	var live []*session
	for _, ss := range u.sessions {
		if ss.state(now) == nil {
			live = append(live, ss)
		}
	}
	revs := s.revocations(u, live)
	u.gone = true
	delete(s.users, id)
	u.mu.Unlock()
	s.mu.Unlock()
	if err := os.RemoveAll(gone); err != nil {
		s.logf("table: user remove %s: %v", id, err)
	}
	s.notify(id, revs)
	return nil
}
