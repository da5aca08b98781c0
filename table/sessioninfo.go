package table

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

const usageSessionInfo = "usage: session info"

// ThisSession describes the session p attached with (p must be a session
// credential): its id, description, and when it expires if unused from
// now (asking is a use: its expiry slides).
func (s *Service) ThisSession(p *Principal) (SessionInfo, error) {
	if p.Kind() != KindSession {
		return SessionInfo{}, badRequest("session info tells of the session attached with: attach with one")
	}
	u, ss, err := s.acquire(p, true)
	if err != nil {
		return SessionInfo{}, err
	}
	defer u.mu.Unlock()
	return SessionInfo{
		ID:          ss.rec.ID,
		Description: ss.rec.Description,
		Created:     time.UnixMilli(ss.rec.Created),
		Expires:     time.UnixMilli(ss.rec.Expires),
	}, nil
}

// sessionInfoCtl is the ctl command "session info".
func (s *Service) sessionInfoCtl(p *Principal, f []string) (string, error) {
	if len(f) != 2 {
		return "", badRequest(usageSessionInfo)
	}
	si, err := s.ThisSession(p)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(si)
	if err != nil {
		return "", err
	}
	return string(b) + "\n", nil
}

// Session describes the session the client attached with (session info).
func (c *Client) Session(ctx context.Context) (SessionInfo, error) {
	reply, err := c.ctl(ctx, "session info")
	if err != nil {
		return SessionInfo{}, err
	}
	var si SessionInfo
	if err := json.Unmarshal([]byte(strings.TrimSpace(reply)), &si); err != nil {
		return SessionInfo{}, err
	}
	return si, nil
}
