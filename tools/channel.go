package tools

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"gigfs.io/gigfs/srv9p"
	"gigfs.io/gigfs/table"
)

var channelCmd = &command{
	name:    "channel",
	args:    "add <channel> <store_addr> <code> [<store_fingerprint>] | remove <channel> [<store_id>] | list",
	summary: "add stores to channels, remove them, list the mount table",
	shell:   true,
	help: `Channel edits the user's mount table on the table, with the session (or
the master, with -master or $GIGFS_MASTER).

	add <channel> <store_addr> <code>  adds the store at store_addr to the
	                                   channel, confirming with the one-time
	                                   code its admin gave (gig-admin ... user add);
	                                   prints the store id. On TLS, a fingerprint
	                                   after the code (from the store's admin)
	                                   is the certificate the store must show;
	                                   without one the table takes the one it
	                                   shows
	remove <channel> [<store_id>]      removes a store from the channel, or the
	                                   whole channel
	list                               prints the mount table, JSON lines
	                                   {"channel":C,"stores":[{"store_id","store_addr"}]}

Example:

	$ code=$(gig-admin -addr 'tcp!127.0.0.1!5641' -data store1 user add demo | cut -d' ' -f2)
	$ gig-channel add notes 'tcp!127.0.0.1!5641' $code
	5b0c…
	$ gig-channel list
	{"channel":"notes","stores":[{"store_id":"5b0c…","store_addr":"tcp!127.0.0.1!5641"}]}`,
	run: runChannel,
}

// ChannelMain is gig-channel.
func ChannelMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(channelCmd, args, stdin, stdout, stderr)
}

func runChannel(e *env, args []string) error {
	fs := e.flags()
	master := fs.String("master", "", "attach with the master rather than the session")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usageErr("want add, remove or list")
	}
	sub, args := rest[0], rest[1:]
	switch {
	case sub == "add" && len(args) != 3 && len(args) != 4:
		return usageErr("add wants <channel> <store_addr> <code> [<store_fingerprint>]")
	case sub == "remove" && len(args) != 1 && len(args) != 2:
		return usageErr("remove wants <channel> [<store_id>]")
	case sub == "list" && len(args) != 0:
		return usageErr("list takes no arguments")
	case sub != "add" && sub != "remove" && sub != "list":
		return usageErr("unknown subcommand %q: want add, remove or list", sub)
	}
	if err := e.set.needTable(); err != nil {
		return err
	}
	ctx, cancel := e.callCtx(2)
	defer cancel()
	m := *master
	if m == "" {
		m = e.set.Master
	}
	var tc *table.Client
	switch {
	case m != "":
		tc, err = table.DialTrust(ctx, e.set.Table, e.set.Trust(), e.set.User, "master "+m)
	case e.set.Session != "":
		tc, err = table.DialTrust(ctx, e.set.Table, e.set.Trust(), e.set.User, "session "+e.set.Session)
	default:
		return fmt.Errorf("no session and no master: set GIGFS_SESSION, or -master or GIGFS_MASTER")
	}
	if err != nil {
		return tableErr(err, e.set)
	}
	defer tc.Close()
	switch sub {
	case "add":
		fp := ""
		if len(args) == 4 {
			// As openssl prints it too ("sha256 Fingerprint=AB:CD:..."), one word on the wire.
			if fp, err = srv9p.ParseFingerprint(args[3]); err != nil {
				return usageErr("%v", err)
			}
		}
		id, err := tc.StoreAddPinned(ctx, args[0], args[1], args[2], fp)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.stdout, strings.TrimSpace(id))
		return err
	case "remove":
		if len(args) == 2 {
			return tc.StoreRemove(ctx, args[0], args[1])
		}
		return tc.ChannelRemove(ctx, args[0])
	}
	mt, err := tc.Table(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(mt))
	for ch := range mt {
		names = append(names, ch)
	}
	sort.Strings(names)
	lw := lineWriter{w: e.stdout}
	for _, ch := range names {
		if err := lw.write(struct {
			Channel string           `json:"channel"`
			Stores  []table.StoreRef `json:"stores"`
		}{ch, mt[ch]}); err != nil {
			return err
		}
	}
	return nil
}

// callCtx is the command's context bounded by n call timeouts.
func (e *env) callCtx(n int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, time.Duration(n)*e.set.callTimeout())
}
