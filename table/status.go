package table

import (
	"context"
	"sync/atomic"
	"time"

	"gigfs.io/gigfs/internal/latency"
	"gigfs.io/gigfs/srv9p"
)

// writeLatency times the table's durable writes (temp file, fsync,
// rename, fsync of the folder), for the status file.
var writeLatency latency.Recorder

// tableStats is what the status file needs besides the users.
type tableStats struct {
	start atomic.Int64                 // unix ms of Open
	srv   atomic.Pointer[srv9p.Server] // the server of NewServer
}

// statusFile is /status at the root of every attach: how the table is
// doing, one "name value" line each (PROTOCOL.md).
func (s *Service) statusFile(id string) srv9p.Node {
	return srv9p.NewSnapshotFile(srv9p.Info{Name: "status", Mode: 0o444, Path: qpath(id, "/status")}, func(context.Context) ([]byte, error) {
		return []byte(s.Status()), nil
	})
}

// Status is the text of the status file.
func (s *Service) Status() string {
	var st srv9p.StatusText
	line := st.Line
	line("server", "gig-table")
	if ms := s.stats.start.Load(); ms != 0 {
		line("uptime", "%v", time.Since(time.UnixMilli(ms)).Round(time.Second))
	}
	users, sessions, channels := s.counts()
	line("users", "%d", users)
	line("sessions", "%d", sessions)
	line("channels", "%d", channels)
	st.Server(s.stats.srv.Load())
	line("durable_writes", "%s", writeLatency.Text())
	st.Memory()
	return st.String()
}

// counts counts the users, their live sessions and their channels.
func (s *Service) counts() (users, sessions, channels int) {
	s.mu.RLock()
	list := make([]*user, 0, len(s.users))
	for _, u := range s.users {
		list = append(list, u)
	}
	s.mu.RUnlock()
	now := s.cfg.Now()
	for _, u := range list {
		u.mu.Lock()
		if !u.gone {
			users++
			for _, ss := range u.sessions {
				if ss.state(now) == nil {
					sessions++
				}
			}
			channels += len(u.tab.Channels)
		}
		u.mu.Unlock()
	}
	return users, sessions, channels
}
