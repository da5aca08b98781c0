package tools

import (
	"io"
)

var getCmd = &command{
	name:    "get",
	args:    "<channel> <type> <path>",
	summary: "print the value of a path",
	shell:   true,
	help: `Get prints the value of the oplog (channel, type, path): its stores'
oplogs merged and reduced with the type's reducer, as one line of JSON. A
path nobody wrote has the value null.

Example:

	$ gig-get demo lww /greeting
	"hello"
	$ gig-get -reducer score=./max.py demo score /alice
	42`,
	run: runGet,
}

// GetMain is gig-get.
func GetMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(getCmd, args, stdin, stdout, stderr)
}

func runGet(e *env, args []string) error {
	rest, err := e.parseMixed(e.flags(), args)
	if err != nil {
		return err
	}
	if len(rest) != 3 {
		return usageErr("want <channel> <type> <path>, got %d arguments", len(rest))
	}
	channel, typ, path := rest[0], rest[1], rest[2]
	cl, err := e.client()
	if err != nil {
		return err
	}
	e.note(channel, typ, path)
	v, err := cl.Get(e.ctx, channel, typ, path)
	if err != nil {
		return e.explain(err, channel)
	}
	lw := lineWriter{w: e.stdout}
	return lw.raw(v)
}
