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

-since and -until (RFC 3339, or unix milliseconds) keep the records dated
in that range, bounds included (the checkpoint too, by its date); -time
starts each line with the readable date, "time":"2026-12-02T13:00:00.123Z".

Example:

	$ gig-log demo counter /visits
	{"date":0,"sha":"…","value":null}
	{"date":1732550000123,"origin":"6f1c…","seq":1,"sha":"…","payload":1}
	$ gig-log -time -since 2024-11-25T00:00:00Z demo counter /visits
	{"time":"2024-11-25T15:53:20.123Z","date":1732550000123,"origin":"6f1c…","seq":1,"sha":"…","payload":1}`,
	run: runLog,
}

// LogMain is gig-log.
func LogMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(logCmd, args, stdin, stdout, stderr)
}

func runLog(e *env, args []string) error {
	fs := e.flags()
	var r dateRange
	fs.StringVar(&r.since, "since", "", "only records dated at or after this time (RFC 3339 or unix ms)")
	fs.StringVar(&r.until, "until", "", "only records dated at or before this time (RFC 3339 or unix ms)")
	readable := fs.Bool("time", false, `start each line with the readable date ("time")`)
	cl, channel, typ, path, err := e.onePathFlags(fs, args)
	if err != nil {
		return err
	}
	lo, hi, err := r.bounds()
	if err != nil {
		return err
	}
	l, err := cl.Log(e.ctx, channel, typ, path)
	if err != nil {
		return e.explain(err, channel)
	}
	w := bufio.NewWriter(e.stdout)
	var b []byte
	for _, o := range l.Records() {
		if o.Date < lo || o.Date > hi {
			continue
		}
		b = b[:0]
		if *readable {
			b = append(append(append(b, `{"time":"`...), timeText(o.Date)...), `",`...)
			b = append(b, o.AppendJSON(nil)[1:]...)
		} else {
			b = o.AppendJSON(b)
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return w.Flush()
}
