package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"gigfs.io/gigfs/netstore"
)

var callsCmd = &command{
	name:    "calls",
	args:    "<channel>",
	summary: "print the user's call log on each store of a channel",
	shell:   true,
	help: `Calls prints the call log each store of the channel keeps for the user
(the file /user/<id>/calls of its tree): one JSON line per call, oldest
first, store by store, with the session id of the store token that made
it, what it did and its result, or the refusal:

	{"store":S,"time":ms,"session":ID,"call":"push","records":3,
	 "result":"accepted 2, duplicate 1","paths":["counter /demo/visits",…]}

Calls are attaches, pushes (push file) and writes (oplog files), stream
opens and revocations; reads are not logged. -of keeps the calls of
one session (-of <session id>, as gig-session list shows it); -time adds the readable date. A
store keeps the last 1000 calls per user (gig-store -call-log).

Example:

	$ gig-calls -of 3f2a9c demo
	{"store":"store 7c1e… at tcp!127.0.0.1!5641","time":1732550000123,"session":"3f2a9c","call":"push",…}`,
	run: runCalls,
}

// CallsMain is gig-calls.
func CallsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(callsCmd, args, stdin, stdout, stderr)
}

func runCalls(e *env, args []string) error {
	fs := e.flags()
	session := fs.String("of", "", "only the calls of this session id")
	readable := fs.Bool("time", false, `add the readable date ("when")`)
	rest, err := e.parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErr("want <channel>, got %s", count(len(rest), "argument"))
	}
	channel := rest[0]
	cl, err := e.client()
	if err != nil {
		return err
	}
	logs, err := cl.Calls(e.ctx, channel)
	if err != nil {
		return e.explain(err, channel)
	}
	answered := 0
	var b []byte
	for _, l := range logs {
		if l.Err != nil {
			e.errMu.Lock()
			fmt.Fprintf(e.stderr, "%s: %s: %s\n", e.name(), l.Store, oneLine(l.Err.Error()))
			e.errMu.Unlock()
			continue
		}
		answered++
		store, _ := json.Marshal(l.Store)
		for _, line := range bytes.Split(l.Calls, []byte{'\n'}) {
			var c netstore.Call
			if len(line) == 0 || json.Unmarshal(line, &c) != nil {
				continue
			}
			if *session != "" && c.Session != *session {
				continue
			}
			b = append(append(append(b[:0], `{"store":`...), store...), ',')
			if *readable {
				b = append(append(append(b, `"when":"`...), timeText(c.Time)...), `",`...)
			}
			b = append(append(b, line[1:]...), '\n')
			if _, err := e.stdout.Write(b); err != nil {
				return err
			}
		}
	}
	if answered == 0 {
		return fmt.Errorf("channel %s: no store answered with its call log (%d tried)", channel, len(logs))
	}
	return nil
}
