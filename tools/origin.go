package tools

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
)

// originDir is the folder of origin leases of this configuration: the
// tools reuse an origin per writer, not per run (see gigfs.Config.OriginDir).
// A writer is a configuration (table, user, session, local stores) in a
// state folder: <data>/state with a data folder, else
// $XDG_STATE_HOME/gigfs, else ~/.local/state/gigfs. The session is part of
// it because it names a device and dies with the table's data: a table
// made afresh on the same address is another world, where the seqs of the
// old one would leave gaps. Empty when there is no such folder, or no
// store that outlives the run (in-memory stores only): each run then has
// an origin of its own.
func (s *Settings) originDir() string {
	state := ""
	switch {
	case s.Data != "":
		state = filepath.Join(s.Data, "state")
	case s.getenv != nil && s.getenv("XDG_STATE_HOME") != "":
		state = filepath.Join(s.getenv("XDG_STATE_HOME"), "gigfs")
	case s.getenv != nil && s.getenv("HOME") != "":
		state = filepath.Join(s.getenv("HOME"), ".local", "state", "gigfs")
	default:
		return ""
	}
	durable := s.Table != ""
	for _, stores := range s.Local {
		for _, ls := range stores {
			durable = durable || ls.StoragePath != ""
		}
	}
	if !durable {
		return ""
	}
	if abs, err := filepath.Abs(state); err == nil {
		state = abs
	}
	local, _ := json.Marshal(s.Local) // map keys sorted: a stable form
	h := sha256.New()
	for _, part := range [][]byte{[]byte(s.Table), []byte(s.User), []byte(s.Session), local} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return filepath.Join(state, "origins", hex.EncodeToString(h.Sum(nil))[:16])
}
