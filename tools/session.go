package tools

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/peterh/liner"

	"gigfs.io/gigfs/table"
)

var sessionCmd = &command{
	name:    "session",
	args:    "new [-timeout 720h] [description...] | list [-time] | revoke <session> | token <store_id>",
	summary: "make, list and revoke sessions (needs the master); print a store token",
	shell:   true,
	help: `Session manages the user's sessions on the table. It needs the user's
master: -master, else $GIGFS_MASTER, else it asks on the terminal.

	new [-timeout d] [description...]  makes a session that expires when unused
	                                   for d (default 720h) and prints its token
	list [-time]                       prints the live sessions, JSON lines
	                                   {"id","description","created","expires"} (unix ms;
	                                   -time adds created_time and expires_time, RFC 3339)
	revoke <session>                   revokes a session, named by its id or its
	                                   token; its store tokens die with it
	token <store_id>                   prints this session's token for a store
	                                   (no master needed), to mount its tree:
	                                   mount9p -aname 'token <store_token>' ...

Example:

	$ export GIGFS_SESSION=$(gig-session -master 'correct horse' new laptop)
	$ gig-session list
	{"id":"3f2a…","description":"laptop","created":1732550000123,"expires":1735142000123}
	$ gig-session list -time
	{"id":"3f2a…","description":"laptop","created":1732550000123,"expires":1735142000123,"created_time":"2024-11-25T15:53:20.123Z","expires_time":"2024-12-25T15:53:20.123Z"}
	$ gig-session revoke 3f2a…`,
	run: runSession,
}

// SessionMain is gig-session.
func SessionMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(sessionCmd, args, stdin, stdout, stderr)
}

// DefaultSessionTimeout is how long a new session lasts unused.
const DefaultSessionTimeout = 720 * time.Hour

func runSession(e *env, args []string) error {
	fs := e.flags()
	master := fs.String("master", "", "the user's master (default $GIGFS_MASTER, else asked)")
	withTime := fs.Bool("time", false, "list: add the readable dates (created_time, expires_time)")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usageErr("want new, list, revoke or token")
	}
	sub := flag.NewFlagSet(e.name()+" "+rest[0], flag.ContinueOnError)
	sub.SetOutput(io.Discard)
	sub.StringVar(master, "master", *master, "the user's master")
	sub.BoolVar(withTime, "time", *withTime, "add the readable dates")
	timeout := sub.Duration("timeout", DefaultSessionTimeout, "expire when unused for this long")
	if err := sub.Parse(rest[1:]); err != nil {
		if err == flag.ErrHelp {
			return errHelp
		}
		return usageErr("%s: %v", rest[0], err)
	}
	args = sub.Args()
	switch rest[0] {
	case "new":
	case "list":
		if len(args) != 0 {
			return usageErr("list takes no arguments")
		}
	case "revoke":
		if len(args) != 1 {
			return usageErr("revoke wants <session id or token>")
		}
	case "token":
		if len(args) != 1 {
			return usageErr("token wants <store_id> (gig-channel list shows them)")
		}
	default:
		return usageErr("unknown subcommand %q: want new, list, revoke or token", rest[0])
	}
	if err := e.set.needTable(); err != nil {
		return err
	}
	if rest[0] == "token" {
		return e.storeToken(args[0])
	}
	m, err := e.master(*master)
	if err != nil {
		return err
	}
	ctx, cancel := e.callCtx(2)
	defer cancel()
	tc, err := table.DialTrust(ctx, e.set.Table, e.set.Trust(), e.set.User, "master "+m)
	if err != nil {
		return tableErr(err, e.set)
	}
	defer tc.Close()
	lw := lineWriter{w: e.stdout}
	switch rest[0] {
	case "new":
		desc := strings.Join(args, " ")
		if desc == "" {
			host, _ := os.Hostname()
			desc = "gig-session on " + host
		}
		tok, err := tc.SessionNew(ctx, *timeout, desc)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.stdout, strings.TrimSpace(tok))
		return err
	case "list":
		list, err := tc.SessionList(ctx)
		if err != nil {
			return err
		}
		for _, s := range list {
			l := sessionLine{ID: s.ID, Description: s.Description, Created: s.Created.UnixMilli(), Expires: s.Expires.UnixMilli()}
			if *withTime {
				l.CreatedTime, l.ExpiresTime = timeText(l.Created), timeText(l.Expires)
			}
			if err := lw.write(l); err != nil {
				return err
			}
		}
		return nil
	default: // revoke
		id, _, _ := strings.Cut(args[0], ".") // a token starts with its session id
		warnings, err := tc.SessionRevoke(ctx, id)
		for _, w := range warnings {
			fmt.Fprintf(e.stderr, "%s: warning: %s\n", e.name(), w)
		}
		return err
	}
}

// master returns the user's master: from the flag, $GIGFS_MASTER, or asked
// on the terminal.
func (e *env) master(flagV string) (string, error) {
	switch {
	case flagV != "":
		return flagV, nil
	case e.set.Master != "":
		return e.set.Master, nil
	case e.sh != nil && e.sh.line != nil:
		return e.sh.line.PasswordPrompt("master of " + e.set.User + ": ")
	case e.sh == nil && isTerminal(e.stdin):
		l := liner.NewLiner()
		defer l.Close()
		return l.PasswordPrompt("master of " + e.set.User + ": ")
	}
	return "", fmt.Errorf("no master for user %s: set -master or GIGFS_MASTER", e.set.User)
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTTY(f.Fd())
}

// tableErr says which table could not be reached or refused.
func tableErr(err error, s *Settings) error {
	if isNetErr(err) {
		return fmt.Errorf("table %s out of reach: %v", s.Table, err)
	}
	return fmt.Errorf("table %s refused %s: %s", s.Table, s.User, refusal(err))
}

// storeToken prints the session's token for a store.
func (e *env) storeToken(storeID string) error {
	if e.set.Session == "" {
		return usageErr("no session: set -session or GIGFS_SESSION")
	}
	ctx, cancel := e.callCtx(2)
	defer cancel()
	tc, err := table.DialTrust(ctx, e.set.Table, e.set.Trust(), e.set.User, "session "+e.set.Session)
	if err != nil {
		return tableErr(err, e.set)
	}
	defer tc.Close()
	tok, err := tc.StoreToken(ctx, storeID)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, strings.TrimSpace(tok))
	return err
}

// sessionLine is a line of gig-session list.
type sessionLine struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	Created     int64  `json:"created"`
	Expires     int64  `json:"expires"`
	CreatedTime string `json:"created_time,omitempty"`
	ExpiresTime string `json:"expires_time,omitempty"`
}
