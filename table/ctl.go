package table

import (
	"context"
	"encoding/json"
	"strings"

	"gigfs.io/gigfs/gig"
)

// Usage lines of the ctl commands, also their errors when misused.
const (
	usageSessionNew    = "usage: session new <timeout> <description>"
	usageSessionList   = "usage: session list"
	usageSessionRevoke = "usage: session revoke <session_id>"
	usageStoreAdd      = "usage: store add <channel> <store_addr> <code> [<store_fingerprint>]"
	usageStoreRemove   = "usage: store remove <channel> <store_id>"
	usageStoreToken    = "usage: store token <store_id>"
	usageChannelRemove = "usage: channel remove <channel>"
	usageUserSet       = "usage: user set <id> <master>"
	usageUserRemove    = "usage: user remove <id>"
	usageUserList      = "usage: user list"
	maxCommandLen      = 4096
	replyOK            = "ok\n"
)

// userCtl runs one command written to /user/<id>/ctl by p. Every reply
// ends with a newline:
//
//	session new <timeout> <description...>  the session token      (master)
//	session list                            JSON lines {"id","description","created","expires"} (master)
//	session revoke <session_id>             ok                     (master)
//	session info                            JSON {"id","description","created","expires"} of this session (session)
//	store add <channel> <store_addr> <code> the store id
//	store remove <channel> <store_id>       ok
//	channel remove <channel>                ok
//	store token <store_id>                  the store token        (session)
//
// A bad command changes nothing and fails with one line.
func (s *Service) userCtl(ctx context.Context, p *Principal, cmd string) (string, error) {
	reply, err := s.runUserCtl(ctx, p, cmd)
	if err != nil && !isRequestError(err) {
		s.logf("table: user %s: ctl %s: %v", p.User(), verb(cmd), err)
	}
	return reply, err
}

func (s *Service) runUserCtl(ctx context.Context, p *Principal, cmd string) (string, error) {
	f, err := fields(cmd)
	if err != nil {
		return "", err
	}
	switch verb(cmd) {
	case "session new":
		if len(f) < 4 {
			return "", badRequest(usageSessionNew)
		}
		timeout, err := parseTimeout(f[2], s.cfg.MaxTimeout)
		if err != nil {
			return "", err
		}
		token, err := s.NewSession(p, timeout, strings.Join(f[3:], " "))
		if err != nil {
			return "", err
		}
		return token + "\n", nil
	case "session list":
		if len(f) != 2 {
			return "", badRequest(usageSessionList)
		}
		list, err := s.Sessions(p)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		for _, si := range list {
			line, err := json.Marshal(si)
			if err != nil {
				return "", err
			}
			b.Write(line)
			b.WriteByte('\n')
		}
		return b.String(), nil
	case "session info":
		return s.sessionInfoCtl(p, f)
	case "session revoke":
		if len(f) != 3 {
			return "", badRequest(usageSessionRevoke)
		}
		warnings, err := s.RevokeSession(p, f[2])
		if err != nil {
			return "", err
		}
		reply := replyOK
		for _, w := range warnings {
			reply += "warning: " + w + "\n"
		}
		return reply, nil
	case "store add":
		if len(f) != 5 && len(f) != 6 {
			return "", badRequest(usageStoreAdd)
		}
		fp := ""
		if len(f) == 6 {
			fp = f[5]
		}
		id, err := s.AddStorePinned(ctx, p, f[2], f[3], f[4], fp)
		if err != nil {
			return "", err
		}
		return id + "\n", nil
	case "store remove":
		if len(f) != 4 {
			return "", badRequest(usageStoreRemove)
		}
		return replyOK, s.RemoveStore(p, f[2], f[3])
	case "store token":
		if len(f) != 3 {
			return "", badRequest(usageStoreToken)
		}
		token, err := s.StoreToken(p, f[2])
		if err != nil {
			return "", err
		}
		return token + "\n", nil
	case "channel remove":
		if len(f) != 3 {
			return "", badRequest(usageChannelRemove)
		}
		return replyOK, s.RemoveChannel(p, f[2])
	}
	return "", unknownCommand(cmd)
}

// adminCtl runs one command written to /admin/ctl:
//
//	user set <id> <master...>  ok  (makes the user, or changes its master and revokes its sessions)
//	user remove <id>           ok
//	user list                  the user ids, one per line
//
// The master is the rest of the line; it may hold spaces.
func (s *Service) adminCtl(ctx context.Context, cmd string) (string, error) {
	reply, err := s.runAdminCtl(ctx, cmd)
	if err != nil && !isRequestError(err) {
		s.logf("table: admin: ctl %s: %v", verb(cmd), err)
	}
	return reply, err
}

func (s *Service) runAdminCtl(ctx context.Context, cmd string) (string, error) {
	f, err := fields(cmd)
	if err != nil {
		return "", err
	}
	switch verb(cmd) {
	case "user set":
		if len(f) < 4 {
			return "", badRequest(usageUserSet)
		}
		// The master is the rest of the line after the id.
		rest := strings.TrimLeft(cmd, " ")
		for range 3 {
			_, rest, _ = strings.Cut(rest, " ")
			rest = strings.TrimLeft(rest, " ")
		}
		return replyOK, s.SetMaster(ctx, f[2], rest)
	case "user remove":
		if len(f) != 3 {
			return "", badRequest(usageUserRemove)
		}
		return replyOK, s.RemoveUser(f[2])
	case "user list":
		if len(f) != 2 {
			return "", badRequest(usageUserList)
		}
		var b strings.Builder
		for _, id := range s.Users() {
			b.WriteString(id)
			b.WriteByte('\n')
		}
		return b.String(), nil
	}
	return "", unknownCommand(cmd)
}

// fields splits a command into words, refusing what no command is.
func fields(cmd string) ([]string, error) {
	if len(cmd) > maxCommandLen {
		return nil, badRequest("command too long: at most %d bytes", maxCommandLen)
	}
	if strings.ContainsAny(cmd, "\n\r\x00") {
		return nil, badRequest("one command per write, on one line")
	}
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return nil, badRequest("empty command")
	}
	return f, nil
}

// verb returns the first two words of a command ("session new"), which
// name it; the rest may be secret and is never logged.
func verb(cmd string) string {
	f := strings.Fields(cmd)
	if len(f) > 2 {
		f = f[:2]
	}
	return strings.Join(f, " ")
}

func unknownCommand(cmd string) error {
	v := verb(cmd)
	if f := strings.Fields(v); len(f) > 0 {
		switch f[0] {
		case "session", "store", "channel", "user":
		default:
			v = f[0]
		}
	}
	return badRequest("unknown command %q", gig.Clip(v))
}
