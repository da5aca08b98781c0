package tools

import (
	"bufio"
	"io"
)

var logCmd = &command{
	name:    "log",
	args:    "<channel> <type> <path>",
	summary: "print the oplog of a path, JSON lines",
	shell:   true,
	help: `Log prints the oplog of (channel, type, path), merged from its stores,
one record per line in order: the checkpoint first ({"date":..,"value":..,
"covers":{..}}), then the ops it does not cover ({"date":..,"origin":..,
"seq":..,"sha":..,"payload":..}).

Example:

	$ gig-log demo counter /visits
	{"date":0,"sha":"…","value":null}
	{"date":1732550000123,"origin":"6f1c…","seq":1,"sha":"…","payload":1}`,
	run: runLog,
}

// LogMain is gig-log.
func LogMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(logCmd, args, stdin, stdout, stderr)
}

func runLog(e *env, args []string) error {
	cl, channel, typ, path, err := e.onePath(args)
	if err != nil {
		return err
	}
	l, err := cl.Log(e.ctx, channel, typ, path)
	if err != nil {
		return e.explain(err, channel)
	}
	w := bufio.NewWriter(e.stdout)
	if _, err := l.WriteTo(w); err != nil {
		return err
	}
	return w.Flush()
}
