package tools

import (
	"fmt"
	"io"

	"gigfs.io/gigfs/valuefs"
)

var fsCmd = &command{
	name:    "fs",
	args:    "",
	summary: "serve the values of the channels as 9P files",
	help: `Fs serves the client's channels over 9P2000 as plain files that stay
current: /<channel>/<type>/<path> reads as the value (one JSON line) and
each JSON line written to it is pushed as a payload (a line left
unfinished at close is dropped, and the close fails saying so); /<channel>/events
blocks and yields {"type","path","value"} for every change in the channel.
Mount it with any 9P client. It runs until SIGINT or SIGTERM.

mount9p (FUSE, from github.com/knusbaum/go9p) takes host:port or a unix
socket path, and cannot append to a file it creates in the same call:
create the file first (: >> file), then append.

With -addr tls!host!port it serves 9P over TLS, with -cert and -cert-key,
else a self-signed certificate made on first start in the state folder
(<data>/gig-fs, else $XDG_STATE_HOME/gigfs/gig-fs, else
~/.local/state/gigfs/gig-fs); it prints the fingerprint for clients to
pin. mount9p speaks no TLS: reach it through gig-tunnel.

Example:

	$ gig-fs -addr 'tcp!127.0.0.1!5650' &
	$ mount9p 127.0.0.1:5650 /mnt/gig &
	$ mkdir /mnt/gig/demo/counter; : >> /mnt/gig/demo/counter/visits
	$ echo '{"add":1}' >> /mnt/gig/demo/counter/visits
	$ cat /mnt/gig/demo/counter/visits
	1`,
	run: runFs,
}

// FsMain is gig-fs.
func FsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(fsCmd, args, stdin, stdout, stderr)
}

func runFs(e *env, args []string) error {
	fs := e.flags()
	addr := fs.String("addr", "tcp!127.0.0.1!5650", "listen on this dial string (tcp!host!port, tls!host!port, unix!/path or host:port)")
	key := fs.String("key", "", "if set, attaches must give the aname \"key <key>\"")
	certFile := fs.String("cert", "", "with tls!host!port: the certificate, PEM (default: a self-signed one in the state folder)")
	keyFile := fs.String("cert-key", "", "with -cert: its private key, PEM")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageErr("gig-fs takes no arguments, got %s", count(len(rest), "argument"))
	}
	e.newsOn()
	cl, err := e.client()
	if err != nil {
		return err
	}
	l, err := e.listenFs(*addr, *certFile, *keyFile)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	cl.WaitTable(e.ctx) // so that the channels it names are the table's
	srv := valuefs.NewServer(&valuefs.FS{C: cl, Key: *key})
	srv.Logf = e.logf
	fmt.Fprintf(e.stderr, "%s: serving the values of %v on %s (%s)\n", e.name(), cl.Channels(), *addr, l.Addr())
	return srv.Serve(e.ctx, l)
}
