package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"gigfs.io/gigfs/table"
)

var statusCmd = &command{
	name:    "status",
	args:    "[<channel>...]",
	summary: "say whether the table and the stores answer, and what is pending",
	shell:   true,
	help: `Status says, for the configured user, one JSON line each: whether the
table answers (and the round trip of a call to it) and when the session
expires if unused; for each channel (the channels given, else all the
client knows), each store up or down, with the round trip of a call to a
remote store; then the ops no durable store has acknowledged yet, of every
run of the tools with this configuration (the origin lease folder):

	{"table":A,"reachable":true,"rtt_ms":0.4,"user":U,"session":ID,"expires":ms,"expires_time":T}
	{"channel":C,"store":S,"up":true,"rtt_ms":0.3}
	{"channel":C,"store":S,"up":false,"error":"…"}
	{"pending":3,"paths":[{"channel":C,"type":T,"path":P,"ops":3}]}

It exits with status 1 when the table or a store does not answer, or the
table refuses the session. Each
server says more of itself in the file status at its root (cat it).

Example:

	$ gig-status demo
	{"table":"tcp!127.0.0.1!5640","reachable":true,"rtt_ms":0.41,"user":"alice",…}
	{"channel":"demo","store":"store 7c1e… at tcp!127.0.0.1!5641","up":true,"rtt_ms":0.3}
	{"pending":0,"paths":[]}`,
	run: runStatus,
}

// StatusMain is gig-status.
func StatusMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(statusCmd, args, stdin, stdout, stderr)
}

type tableStatusLine struct {
	Table       string   `json:"table"`
	Reachable   bool     `json:"reachable"`
	RTT         *float64 `json:"rtt_ms,omitempty"`
	User        string   `json:"user"`
	Session     string   `json:"session,omitempty"`
	Expires     int64    `json:"expires,omitempty"`
	ExpiresTime string   `json:"expires_time,omitempty"`
	Error       string   `json:"error,omitempty"`
}

type storeStatusLine struct {
	Channel string   `json:"channel"`
	Store   string   `json:"store"`
	Local   bool     `json:"local,omitempty"`
	Up      bool     `json:"up"`
	RTT     *float64 `json:"rtt_ms,omitempty"`
	Error   string   `json:"error,omitempty"`
}

type pendingPathLine struct {
	Channel string `json:"channel"`
	Type    string `json:"type"`
	Path    string `json:"path"`
	Ops     int    `json:"ops"`
}

type pendingLine struct {
	Pending int               `json:"pending"`
	Paths   []pendingPathLine `json:"paths"`
}

func ms(d time.Duration) *float64 {
	v := float64(d.Microseconds()) / 1000
	return &v
}

func runStatus(e *env, args []string) error {
	rest, err := e.parseMixed(e.flags(), args)
	if err != nil {
		return err
	}
	lw := lineWriter{w: e.stdout}
	down := 0
	if e.set.Table != "" {
		l := e.tableStatus()
		if !l.Reachable || l.Error != "" {
			down++
		}
		if err := lw.write(l); err != nil {
			return err
		}
	}
	cl, err := e.client()
	if err != nil {
		return err
	}
	channels := rest
	if len(channels) == 0 {
		cl.WaitTable(e.ctx)
		channels = cl.Channels()
	}
	for _, ch := range channels {
		states, err := cl.StoreStates(e.ctx, ch)
		if err != nil {
			return e.explain(err, ch)
		}
		for _, st := range states {
			l := storeStatusLine{Channel: ch, Store: st.Store, Local: st.Local, Up: st.Up}
			if st.Up && !st.Local {
				l.RTT = ms(st.RTT)
			}
			if st.Err != nil {
				l.Error = oneLine(st.Err.Error())
			}
			if !st.Up {
				down++
			}
			if err := lw.write(l); err != nil {
				return err
			}
		}
	}
	pend, err := cl.Pending()
	if err != nil {
		return fmt.Errorf("pending ops: %w", err)
	}
	pl := pendingLine{Paths: []pendingPathLine{}}
	for _, p := range pend {
		pl.Pending += p.Ops
		pl.Paths = append(pl.Paths, pendingPathLine{p.Channel, p.Type, p.Path, p.Ops})
	}
	if err := lw.write(pl); err != nil {
		return err
	}
	if down > 0 {
		return fmt.Errorf("%s down or refusing", count(down, "server"))
	}
	return nil
}

// tableStatus asks the table about the session, timing the call.
func (e *env) tableStatus() tableStatusLine {
	l := tableStatusLine{Table: e.set.Table, User: e.set.User}
	ctx, cancel := context.WithTimeout(e.ctx, e.set.callTimeout())
	defer cancel()
	tc, err := table.DialTrust(ctx, e.set.Table, e.set.Trust(), e.set.User, "session "+e.set.Session)
	if err != nil {
		l.Error = oneLine(err.Error())
		var refused bool
		if !isNetErr(err) && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			refused = true // it answered: with a refusal
		}
		l.Reachable = refused
		return l
	}
	defer tc.Close()
	start := time.Now()
	si, err := tc.Session(ctx)
	if err != nil {
		l.Error = oneLine(err.Error())
		l.Reachable = !isNetErr(err)
		return l
	}
	l.Reachable, l.RTT = true, ms(time.Since(start))
	l.Session, l.Expires, l.ExpiresTime = si.ID, si.Expires.UnixMilli(), timeText(si.Expires.UnixMilli())
	return l
}
