package table

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// waitRecheck is how often a wait for a change of a mount table checks
// that its principal is still good (a revoked or expired session ends the
// wait with the reason).
const waitRecheck = 30 * time.Second

// wakeWaiters tells the waits on u's mount table that its version moved.
// u.mu is held.
func (u *user) wakeWaiters() {
	if u.tabWake != nil {
		close(u.tabWake)
		u.tabWake = nil
	}
}

// WaitTable returns p's mount table once its version is above since, at
// once if it already is, else when a change moves it (or ctx ends). It
// counts as a use of a session when it returns the table, not while it
// waits.
func (s *Service) WaitTable(ctx context.Context, p *Principal, since uint64) (MountTable, TableInfo, error) {
	if err := userRights(p); err != nil {
		return nil, TableInfo{}, err
	}
	for {
		u, _, err := s.acquire(p, false)
		if err != nil {
			return nil, TableInfo{}, err
		}
		if u.tab.Version > since {
			u.mu.Unlock()
			return s.Table(p)
		}
		if u.tabWake == nil {
			u.tabWake = make(chan struct{})
		}
		wake := u.tabWake
		u.mu.Unlock()
		t := time.NewTimer(waitRecheck)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, TableInfo{}, ctx.Err()
		}
		t.Stop()
	}
}

// waitJSON is the reply of tablewait: {"version":N,"table":{...}}.
func waitJSON(mt MountTable, ti TableInfo) []byte {
	if mt == nil {
		mt = MountTable{}
	}
	b, _ := json.Marshal(struct {
		Version uint64     `json:"version"`
		Table   MountTable `json:"table"`
	}{ti.Version, mt})
	return append(b, '\n')
}

// tableWaitFile is /user/<id>/tablewait: write "since <version>" (or
// nothing), read: the mount table and its version, once the version is
// above the one given (at once without one). The version is also the
// qid version of /user/<id>/table.
func (s *Service) tableWaitFile(p *Principal) srv9p.File {
	return srv9p.NewFile(srv9p.Info{Name: "tablewait", Mode: ctlMode, Path: qpath(p.User(), "tablewait")},
		func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
			return srv9p.NewWait(func(ctx context.Context, cmd string) ([]byte, error) {
				since, err := parseSince(cmd)
				if err != nil {
					return nil, err
				}
				var mt MountTable
				var ti TableInfo
				if since < 0 {
					mt, ti, err = s.Table(p)
				} else {
					mt, ti, err = s.WaitTable(ctx, p, uint64(since))
				}
				if err != nil {
					return nil, err
				}
				return waitJSON(mt, ti), nil
			}), nil
		})
}

// parseSince parses "since <version>"; an empty command is -1 (no wait).
func parseSince(cmd string) (int64, error) {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return -1, nil
	}
	if len(f) != 2 || f[0] != "since" {
		return 0, badRequest("usage: since <version>")
	}
	v, err := strconv.ParseUint(f[1], 10, 63)
	if err != nil {
		return 0, badRequest("since: bad version %q", gig.Clip(f[1]))
	}
	return int64(v), nil
}

// WaitTable returns the mount table and its version once the version is
// above since (at once if it is; since < 0: at once), or ctx's error. It
// blocks the connection while it waits: use a Client of its own.
func (c *Client) WaitTable(ctx context.Context, since int64) (MountTable, uint64, error) {
	cmd := ""
	if since >= 0 {
		cmd = fmt.Sprintf("since %d", since)
	}
	reply, err := c.c.Ctl(ctx, "/user/"+c.user+"/tablewait", cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("table: %w", err)
	}
	var a struct {
		Version uint64     `json:"version"`
		Table   MountTable `json:"table"`
	}
	if err := json.Unmarshal([]byte(reply), &a); err != nil {
		return nil, 0, fmt.Errorf("table: tablewait: %w", err)
	}
	return a.Table, a.Version, nil
}
