package tools

import (
	"io"

	"gigfs.io/gigfs"
)

var lsCmd = &command{
	name:    "ls",
	args:    "<channel> [<prefix>]",
	summary: "list the paths of a channel with their types, JSON lines",
	shell:   true,
	help: `Ls lists the oplogs of a channel, sorted by type then path, one JSON line
each: {"type":T,"path":P}. With a prefix, only the paths that start with
it ("/notes/" lists what is below /notes, "/no" also /now). The stores
answer from the names of their oplogs: plain ls reads no oplog, however
many there are. -l adds, for each path (read one at a time), the size of
its value in bytes, the number of ops since its checkpoint and the date of
its last change (unix ms; -time adds the readable form):

	{"type":T,"path":P,"size":N,"ops":N,"last":ms}

Example:

	$ gig-ls demo
	{"type":"counter","path":"/visits"}
	{"type":"lww","path":"/greeting"}
	$ gig-ls -l -time demo /gr
	{"type":"lww","path":"/greeting","size":7,"ops":1,"last":1732550000123,"last_time":"2024-11-25T15:53:20.123Z"}`,
	run: runLs,
}

// LsMain is gig-ls.
func LsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(lsCmd, args, stdin, stdout, stderr)
}

type lsLine struct {
	Type     string `json:"type"`
	Path     string `json:"path"`
	Size     *int   `json:"size,omitempty"`
	Ops      *int   `json:"ops,omitempty"`
	Last     *int64 `json:"last,omitempty"`
	LastTime string `json:"last_time,omitempty"`
	Error    string `json:"error,omitempty"`
}

func runLs(e *env, args []string) error {
	fs := e.flags()
	long := fs.Bool("l", false, "add each path's value size, op count and last change")
	readable := fs.Bool("time", false, "with -l, add the last change in RFC 3339 (last_time)")
	rest, err := e.parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) < 1 || len(rest) > 2 {
		return usageErr("want <channel> [<prefix>], got %s", count(len(rest), "argument"))
	}
	channel, prefix := rest[0], ""
	if len(rest) == 2 {
		prefix = rest[1]
	}
	cl, err := e.client()
	if err != nil {
		return err
	}
	paths, err := cl.List(e.ctx, channel, prefix)
	if err != nil {
		return e.explain(err, channel)
	}
	lw := lineWriter{w: e.stdout}
	for _, tp := range paths {
		e.note(channel, tp.Type, tp.Path)
		l := lsLine{Type: tp.Type, Path: tp.Path}
		if *long {
			if err := e.ctx.Err(); err != nil {
				return err
			}
			longLine(e, cl, channel, tp, &l, *readable)
		}
		if err := lw.write(l); err != nil {
			return err
		}
	}
	return nil
}

// longLine fills in what ls -l says of a path.
func longLine(e *env, cl *gigfs.Client, channel string, tp gigfs.TypePath, l *lsLine, readable bool) {
	log, err := cl.Log(e.ctx, channel, tp.Type, tp.Path)
	if err != nil {
		l.Error = err.Error()
		return
	}
	base := log.Base()
	ops := log.Ops()
	n, last := len(ops), base.Date
	for i := range ops {
		last = max(last, ops[i].Date)
	}
	l.Ops, l.Last = &n, &last
	if readable {
		l.LastTime = timeText(last)
	}
	v, err := cl.Get(e.ctx, channel, tp.Type, tp.Path)
	if err != nil {
		l.Error = err.Error()
		return
	}
	size := len(v)
	l.Size = &size
}
