package tools

import (
	"encoding/json"
	"flag"
	"io"

	"gigfs.io/gigfs"
)

var getCmd = &command{
	name:    "get",
	args:    "<channel> <type> <path>",
	summary: "print the value of a path",
	shell:   true,
	help: `Get prints the value of the oplog (channel, type, path): its stores'
oplogs merged and reduced with the type's reducer, as one line of JSON. A
path nobody wrote has the value null.

With -at <time> (RFC 3339, or unix milliseconds) it prints the value as it
was then: the checkpoint and the ops dated at or before it. History is
kept since the last checkpoint; a time before it is an error that says
so, with the checkpoint's date.

Example:

	$ gig-get demo lww /greeting
	"hello"
	$ gig-get -at 2026-12-02T09:00:00Z demo lww /greeting
	"good morning"
	$ gig-get -reducer score=./max.py demo score /alice
	42`,
	run: runGet,
}

// GetMain is gig-get.
func GetMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(getCmd, args, stdin, stdout, stderr)
}

func runGet(e *env, args []string) error {
	fs := e.flags()
	at := fs.String("at", "", "the value as it was at this time (RFC 3339 or unix ms)")
	cl, channel, typ, path, err := e.onePathFlags(fs, args)
	if err != nil {
		return err
	}
	var v json.RawMessage
	if *at != "" {
		var ms int64
		if ms, err = parseTime("at", *at); err != nil {
			return err
		}
		v, err = cl.GetAt(e.ctx, channel, typ, path, ms)
	} else {
		v, err = cl.Get(e.ctx, channel, typ, path)
	}
	if err != nil {
		return e.explain(err, channel)
	}
	lw := lineWriter{w: e.stdout}
	return lw.raw(v)
}

// onePath parses the arguments of a command on one path, <channel> <type>
// <path> (flags before or after), and opens the client.
func (e *env) onePath(args []string) (cl *gigfs.Client, channel, typ, path string, err error) {
	return e.onePathFlags(e.flags(), args)
}

// onePathFlags is onePath with the command's own flags in fs.
func (e *env) onePathFlags(fs *flag.FlagSet, args []string) (cl *gigfs.Client, channel, typ, path string, err error) {
	rest, err := e.parseMixed(fs, args)
	if err != nil {
		return nil, "", "", "", err
	}
	if len(rest) != 3 {
		return nil, "", "", "", usageErr("want <channel> <type> <path>, got %s", count(len(rest), "argument"))
	}
	channel, typ, path = rest[0], rest[1], rest[2]
	if cl, err = e.client(); err != nil {
		return nil, "", "", "", err
	}
	e.note(channel, typ, path)
	return cl, channel, typ, path, nil
}
