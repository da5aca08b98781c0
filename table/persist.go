package table

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/atomicfile"
)

// The files of a user's folder.
const (
	userFileName     = "user.json"
	sessionsFileName = "sessions.json"
	tableFileName    = "table.json"
)

// userRecord is user.json.
type userRecord struct {
	ID      string     `json:"id"`
	Created int64      `json:"created"` // unix ms
	Master  masterHash `json:"master"`
}

// sessionRecord is one session in sessions.json.
type sessionRecord struct {
	ID          string   `json:"id"`
	Hash        string   `json:"hash"` // hex SHA-256 of the token
	Description string   `json:"description"`
	TimeoutMs   int64    `json:"timeout_ms"`
	Created     int64    `json:"created"`          // unix ms
	Expires     int64    `json:"expires"`          // unix ms, if unused until then
	Stores      []string `json:"stores,omitempty"` // stores given a token of this session
	Revoked     int64    `json:"revoked,omitempty"`
}

// sessionsRecord is sessions.json.
type sessionsRecord struct {
	Sessions []sessionRecord `json:"sessions"`
}

// StoreRef is one store of a channel in the mount table.
type StoreRef struct {
	StoreID   string `json:"store_id"`
	StoreAddr string `json:"store_addr"`
	// Fingerprint is the fingerprint of the store's TLS certificate
	// (srv9p.Fingerprint) that the table saw when the store was added, for
	// clients to pin; empty for a store without TLS. In table.json it is
	// kept once per store (storeRecord), not per channel.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// MountTable maps each channel to its stores.
type MountTable map[string][]StoreRef

// channelRecord is one channel in table.json.
type channelRecord struct {
	Born   uint64     `json:"born"` // the table version that made it: part of its qid path
	Stores []StoreRef `json:"stores"`
}

// storeRecord is what the table keeps to reach a store of the user.
type storeRecord struct {
	Addr        string `json:"addr"`
	Secret      string `json:"secret"`
	Fingerprint string `json:"fingerprint,omitempty"` // of its TLS certificate, pinned
}

// tableRecord is table.json.
type tableRecord struct {
	Version  uint64                    `json:"version"`
	Mtime    int64                     `json:"mtime"` // unix ms
	Channels map[string]*channelRecord `json:"channels"`
	Stores   map[string]*storeRecord   `json:"stores"`
}

// readJSON decodes the file name into v. A missing file gives an error
// satisfying errors.Is(err, fs.ErrNotExist); a bad one an error naming it.
func readJSON(name string, v any) error {
	b, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fmt.Errorf("table: read %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("table: %s is corrupt: %w", name, err)
	}
	return nil
}

func writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return fmt.Errorf("table: encode %s: %w", name, err)
	}
	start := time.Now()
	err = atomicfile.WriteFile(name, append(b, '\n'), 0o600)
	writeLatency.Since(start) // status.go
	if err != nil {
		return fmt.Errorf("table: %w", err)
	}
	return nil
}

// loadUser reads the folder of user id. ok is false for a folder without
// user.json and without anything else: a user whose creation a crash cut
// short, which the caller removes.
func loadUser(dir, id string, now time.Time) (u *user, ok bool, err error) {
	if err := atomicfile.RemoveTemps(dir); err != nil {
		return nil, false, fmt.Errorf("table: %w", err)
	}
	u = &user{id: id, dir: dir, sessions: map[string]*session{}}
	name := filepath.Join(dir, userFileName)
	if err := readJSON(name, &u.rec); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if ents, _ := os.ReadDir(dir); len(ents) == 0 {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("table: %s is missing", name)
		}
		return nil, false, err
	}
	if u.rec.ID != id {
		return nil, false, fmt.Errorf("table: %s is corrupt: id %q in the folder of %q", name, u.rec.ID, id)
	}
	if err := u.rec.Master.check(); err != nil {
		return nil, false, fmt.Errorf("table: %s is corrupt: %w", name, err)
	}

	name = filepath.Join(dir, sessionsFileName)
	var sr sessionsRecord
	if err := readJSON(name, &sr); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	for _, r := range sr.Sessions {
		if err := checkSession(r); err != nil {
			return nil, false, fmt.Errorf("table: %s is corrupt: %w", name, err)
		}
		if u.sessions[r.ID] != nil {
			return nil, false, fmt.Errorf("table: %s is corrupt: session %s twice", name, r.ID)
		}
		u.sessions[r.ID] = &session{rec: r, saved: r.Expires}
	}

	name = filepath.Join(dir, tableFileName)
	if err := readJSON(name, &u.tab); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := checkTable(&u.tab); err != nil {
		return nil, false, fmt.Errorf("table: %s is corrupt: %w", name, err)
	}
	return u, true, nil
}

func checkSession(r sessionRecord) error {
	switch {
	case validID("session", r.ID) != nil:
		return fmt.Errorf("bad session id %q", gig.Clip(r.ID))
	case len(r.Hash) != 64:
		return fmt.Errorf("session %s: bad hash", r.ID)
	case r.TimeoutMs <= 0:
		return fmt.Errorf("session %s: bad timeout", r.ID)
	}
	for _, s := range r.Stores {
		if validID("store", s) != nil {
			return fmt.Errorf("session %s: bad store id %q", r.ID, gig.Clip(s))
		}
	}
	return nil
}

// checkTable checks a table record, making its maps if it has none.
func checkTable(t *tableRecord) error {
	if t.Channels == nil {
		t.Channels = map[string]*channelRecord{}
	}
	if t.Stores == nil {
		t.Stores = map[string]*storeRecord{}
	}
	for id, s := range t.Stores {
		if s == nil || validID("store", id) != nil || validStoreAddr(s.Addr) != nil || len(s.Secret) != 2*secretLen {
			return fmt.Errorf("bad store %q", gig.Clip(id))
		}
	}
	for name, c := range t.Channels {
		if _, err := gig.ParseChannel(name); err != nil {
			return err
		}
		if c == nil || len(c.Stores) == 0 {
			return fmt.Errorf("channel %q has no stores", name)
		}
		for _, ref := range c.Stores {
			s := t.Stores[ref.StoreID]
			if s == nil || s.Addr != ref.StoreAddr {
				return fmt.Errorf("channel %q: store %q not in the stores", name, gig.Clip(ref.StoreID))
			}
		}
	}
	return nil
}

// saveUser writes user.json. u.mu is held.
func (u *user) saveUser() error {
	return writeJSON(filepath.Join(u.dir, userFileName), &u.rec)
}

// saveSessions writes sessions.json, dropping tombstones older than
// keep. u.mu is held.
func (u *user) saveSessions(now time.Time, keep time.Duration) error {
	cut := now.Add(-keep).UnixMilli()
	var sr sessionsRecord
	for id, s := range u.sessions {
		end := s.rec.Expires
		if s.rec.Revoked != 0 {
			end = min(end, s.rec.Revoked)
		}
		if end < cut {
			delete(u.sessions, id)
			continue
		}
		sr.Sessions = append(sr.Sessions, s.rec)
	}
	slices.SortFunc(sr.Sessions, func(a, b sessionRecord) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.ID, b.ID))
	})
	if err := writeJSON(filepath.Join(u.dir, sessionsFileName), &sr); err != nil {
		return err
	}
	for _, s := range u.sessions {
		s.saved = s.rec.Expires
	}
	return nil
}

// saveTable writes table.json. u.mu is held.
func (u *user) saveTable() error {
	return writeJSON(filepath.Join(u.dir, tableFileName), &u.tab)
}
