package tools

import (
	"fmt"
	"io"

	"gigfs.io/gigfs"
)

var syncCmd = &command{
	name:    "sync",
	args:    "[-prune] <channel> <type> <path>...",
	summary: "compare and repair the stores of paths",
	shell:   true,
	help: `Sync reads the oplog of each path from every store of the channel, pushes
to each store the ops it lacks, and prints one line per path:

	{"channel":C,"type":T,"path":P,"agreed":true,"pruned":false,
	 "stores":[{"store":S,"answered":true,"had":3,"copied":1},...]}

"agreed" is true when every store answered and all now hold the same ops;
"had" counts the records a store held, "copied" those it lacked and took;
"refused" lists ops a store refused. When they agree and the tail since
the last checkpoint is long or old enough (always, with -prune), it pushes
a checkpoint covering exactly the agreed ops: "pruned" is true and
"checkpoint" is its sha. Gig-sync exits with status 4 when some path's
stores did not agree.

Example:

	$ gig-sync -prune demo counter /visits
	{"channel":"demo","type":"counter","path":"/visits","agreed":true,"pruned":true,"checkpoint":"9f2c…","stores":[…]}`,
	run: runSync,
}

// SyncMain is gig-sync.
func SyncMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(syncCmd, args, stdin, stdout, stderr)
}

type syncLine struct {
	Channel    string      `json:"channel"`
	Type       string      `json:"type"`
	Path       string      `json:"path"`
	Agreed     bool        `json:"agreed"`
	Pruned     bool        `json:"pruned"`
	Checkpoint string      `json:"checkpoint,omitempty"`
	Stores     []storeLine `json:"stores"`
}

type storeLine struct {
	Store    string   `json:"store"`
	Answered bool     `json:"answered"`
	Had      int      `json:"had"`
	Copied   int      `json:"copied"`
	Refused  []string `json:"refused,omitempty"`
	Error    string   `json:"error,omitempty"`
}

func runSync(e *env, args []string) error {
	fs := e.flags()
	prune := fs.Bool("prune", false, "insert a checkpoint when the stores agree, however short the tail")
	rest, err := e.parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) < 3 {
		return usageErr("want <channel> <type> <path>..., got %s", count(len(rest), "argument"))
	}
	channel, typ := rest[0], rest[1]
	cl, err := e.client()
	if err != nil {
		return err
	}
	lw := lineWriter{w: e.stdout}
	disagree := 0
	for _, path := range rest[2:] {
		e.note(channel, typ, path)
		rep, err := cl.Sync(e.ctx, channel, typ, path, *prune)
		if err != nil && len(rep.Stores) == 0 {
			return e.explain(err, channel)
		}
		if err := lw.write(syncLineOf(rep)); err != nil {
			return err
		}
		if err != nil {
			return fmt.Errorf("%s %s: %v", typ, path, err)
		}
		if !rep.Agreed {
			disagree++
		}
	}
	if disagree > 0 {
		return &exitErr{exitDisagree, fmt.Errorf("the stores of %d of %s do not agree", disagree, count(len(rest)-2, "path"))}
	}
	return nil
}

func syncLineOf(rep gigfs.SyncReport) syncLine {
	l := syncLine{Channel: rep.Channel, Type: rep.Type, Path: rep.Path, Agreed: rep.Agreed,
		Pruned: rep.Pruned != "", Checkpoint: rep.Pruned, Stores: []storeLine{}}
	for _, s := range rep.Stores {
		l.Stores = append(l.Stores, storeLine{Store: s.Store, Answered: s.Answered, Had: s.Had,
			Copied: s.Copied, Refused: s.Refused, Error: s.Err})
	}
	return l
}
