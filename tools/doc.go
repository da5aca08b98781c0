// Package tools is the code of the GiG.fs command-line tools and of gigsh,
// so that they are the same code. Each tool is a function
//
//	func XxxMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int
//
// that cmd/gig-xxx calls with os.Args[1:] and the process's files, and that
// gigsh runs as its command xxx with the shell's client. One file holds
// each tool, with its help text and an example.
//
//	gig-get     [-at time] <channel> <type> <path>   print the value (-at: as it was then)
//	gig-push    <channel> [<type> <path> <payload>]  push a payload, or JSON lines from stdin
//	gig-watch   <channel>                            print the ops new to the client, as push lines
//	gig-watch   -values <channel> <type> <path>...   print the value changes of paths
//	gig-log     [-since t] [-until t] <ch> <t> <p>   print the oplog, JSON lines
//	gig-ls      [-l] <channel> [<prefix>]            list the paths of a channel with their types
//	gig-sync    [-prune] <channel> <type> <path>...  compare and repair the stores, one report per path
//	gig-calls   [-of session_id] <channel>           the user's call log on each store of the channel
//	gig-status  [<channel>...]                       the table, the stores, the session's expiry, pending ops
//	gig-session new|list|revoke                      manage sessions (needs the master)
//	gig-channel add|remove|list                      manage the mount table
//	gig-admin   <ctl command...>                     talk to a server's /admin/ctl (admin key)
//	gig-fs      [-addr dialstring] [-key k]          serve the channels' values as 9P files (package valuefs)
//	gigsh                                            an interactive shell over the same commands
//	gig-quickstart                                   a table, two stores, a user and a channel on loopback, then gigsh
//
// # Configuration
//
// Each setting comes from a flag, else the environment, else the config
// file ($GIGFS_CONFIG, else ~/.config/gigfs/config.json):
//
//	flag       environment     config file    what
//	-table     GIGFS_TABLE     "table"        dial string of the table (tcp!host!port, unix!/path, host:port)
//	-user      GIGFS_USER      "user"         user id
//	-session   GIGFS_SESSION   "session"      session token (gig-session new)
//	-local     GIGFS_LOCAL     "local_table"  local stores: a local-table JSON file (or inline JSON)
//	-data      GIGFS_DATA      "data"         data folder (gig-admin's admin.key, gigsh's history)
//	-reducer   -               "reducers"     type=builtin-name or type=program, repeatable
//	-timeout   -               "timeout"      bound on each call to the table or one store
//	-master    GIGFS_MASTER    -              the user's master (gig-session, gig-channel)
//
// A local table is in the seed's form, {"notes":[{"storage_path":"notes"},
// {"in_memory":true}]}; relative storage paths are relative to the file
// that names them (the current folder for inline JSON).
//
// # Reducers
//
// Types named like a built-in reducer (lww, counter, merge, set, list) use
// it. -reducer todo=merge gives the type todo the built-in merge;
// -reducer score=/usr/local/bin/max gives it an external program: it reads
// the oplog as JSON lines on stdin, the checkpoint first,
//
//	{"value":<checkpoint value>}
//	{"payload":<payload>}
//	...
//
// and writes the value as JSON on stdout. A program that fails, answers
// nothing or answers something that is not JSON gives an error naming the
// type and the path; the oplog is never changed by a reducer.
//
// # Notes
//
// Each run of a tool is a client of its own, with a new origin (the id in
// its ops). gig-push syncs the paths it pushed to before it exits, so that
// every store that answers has its ops, not only the first to accept them.
// An on-disk local store is opened by one process at a time. When the
// table refuses the session (expired, revoked), a tool stops at once with
// the table's reason; when the table is out of reach, a tool works with
// the local stores, or, with none, fails at once.
//
// # Exit status
//
//	0  success (also when stdout's reader went away: gig-watch | head -1)
//	1  an error, explained in one line on stderr
//	2  bad usage
//	3  gig-push: the op is pending, accepted by no store within -wait; it is
//	   lost when gig-push exits unless the channel has an on-disk local store
//	   (or it was not even made: no store answered a read of its path)
//	4  gig-sync: the stores of some path do not agree (a store did not
//	   answer or refused an op)
//	5  gig-push: every store answered and refused the op (over a store's
//	   date horizon or size bound, its (origin, seq) held by another op):
//	   it is never accepted, so the client took it back
//
// gigsh exits with the status of its last command (exit n: n), and with 0
// when Ctrl-D ends an interactive session.
package tools
