package tools

import (
	"fmt"
	"io"

	"gigfs.io/gigfs"
)

var syncCmd = &command{
	name:    "sync",
	args:    "[-prune] <channel> [<type> <path>...]",
	summary: "compare and repair the stores of paths",
	shell:   true,
	help: `Sync reads the oplog of each path from every store of the channel, pushes
to each store the ops it lacks, and prints one line per path:

	{"channel":C,"type":T,"path":P,"agreed":true,"pruned":false,
	 "stores":[{"store":S,"answered":true,"had":3,"copied":1},...]}

With the channel alone it syncs every path its stores hold, with a
progress bar on stderr when stderr is a terminal, and ends with a one-line
summary on stderr.

"agreed" is true when every store answered and all now hold the same log
(after the checkpoint, when one was pushed: a checkpoint that some stores
did not take leaves them different, and gig-sync says so);
"had" counts the records a store held, "copied" those it lacked and took;
"refused" lists ops a store refused; "taken_back" lists the ops every
store answered and refused, which the client takes back (they are never
accepted, so they are not sent again). When they agree and the tail since
the last checkpoint is long or old enough (always, with -prune), it pushes
a checkpoint covering exactly the agreed ops: "pruned" is true and
"checkpoint" is its sha. Gig-sync exits with status 4 when some path's
stores did not agree.

Example:

	$ gig-sync -prune demo counter /visits
	{"channel":"demo","type":"counter","path":"/visits","agreed":true,"pruned":true,"checkpoint":"9f2c…","stores":[…]}
	$ gig-sync demo
	…one line per path…
	gig-sync: channel demo: 12 paths: 12 agreed, 0 not; 3 records copied, 1 pruned`,
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
	TakenBack  []string    `json:"taken_back,omitempty"`
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
	if len(rest) == 2 || len(rest) == 0 {
		return usageErr("want <channel> [<type> <path>...], got %s", count(len(rest), "argument"))
	}
	channel := rest[0]
	cl, err := e.client()
	if err != nil {
		return err
	}
	var paths []gigfs.TypePath
	whole := len(rest) == 1
	if whole {
		if paths, err = cl.Paths(e.ctx, channel); err != nil {
			return e.explain(err, channel)
		}
	} else {
		for _, path := range rest[2:] {
			paths = append(paths, gigfs.TypePath{Type: rest[1], Path: path})
		}
	}
	bar := newProgress(e, whole, len(paths))
	lw := lineWriter{w: e.stdout}
	disagree, copied, pruned := 0, 0, 0
	for i, tp := range paths {
		if e.ctx.Err() != nil {
			bar.done()
			return e.ctx.Err()
		}
		e.note(channel, tp.Type, tp.Path)
		rep, err := cl.Sync(e.ctx, channel, tp.Type, tp.Path, *prune)
		bar.set(i + 1)
		if err != nil && len(rep.Stores) == 0 {
			bar.done()
			return e.explain(err, channel)
		}
		if err := lw.write(syncLineOf(rep)); err != nil {
			bar.done()
			return err
		}
		if err != nil {
			bar.done()
			return fmt.Errorf("%s %s: %v", tp.Type, tp.Path, err)
		}
		if !rep.Agreed {
			disagree++
		}
		if rep.Pruned != "" {
			pruned++
		}
		for _, s := range rep.Stores {
			copied += s.Copied
		}
	}
	bar.done()
	if whole {
		e.errMu.Lock()
		fmt.Fprintf(e.stderr, "%s: channel %s: %d paths: %d agreed, %d not; %d records copied, %d pruned\n",
			e.name(), channel, len(paths), len(paths)-disagree, disagree, copied, pruned)
		e.errMu.Unlock()
	}
	if disagree > 0 {
		return &exitErr{exitDisagree, fmt.Errorf("the stores of %d of %s do not agree", disagree, count(len(paths), "path"))}
	}
	return nil
}

func syncLineOf(rep gigfs.SyncReport) syncLine {
	l := syncLine{Channel: rep.Channel, Type: rep.Type, Path: rep.Path, Agreed: rep.Agreed,
		Pruned: rep.Pruned != "", Checkpoint: rep.Pruned, TakenBack: rep.TakenBack, Stores: []storeLine{}}
	for _, s := range rep.Stores {
		l.Stores = append(l.Stores, storeLine{Store: s.Store, Answered: s.Answered, Had: s.Had,
			Copied: s.Copied, Refused: s.Refused, Error: s.Err})
	}
	return l
}
