package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"gigfs.io/gigfs/srv9p"
)

var tunnelCmd = &command{
	name:    "tunnel",
	args:    "[-fingerprint fp | -ca file] <listen_addr> <tls!host!port>",
	summary: "let a 9P client that speaks no TLS reach a TLS server",
	help: `Tunnel listens on listen_addr (a unix socket, or a loopback port) and
carries each connection made to it to the TLS server at tls!host!port,
verifying the server's certificate as the other tools do: the pinned
-fingerprint (gig-channel list prints each store's), else the -ca file
(also GIGFS_CA), else the system roots. A server that fails the check gets
no byte of the client's. It runs until SIGINT or SIGTERM.

mount9p (FUSE) speaks no TLS: mount the tunnel's end instead. A unix socket
is made mode 0600 (only you can use it); a loopback port is open to every
user of the machine, who still needs a credential to attach.

Example:

	$ gig-tunnel -fingerprint sha256:4f1c… 'unix!/tmp/store.sock' 'tls!store.example!5641' &
	$ setsid mount9p -user alice -aname 'token <store_token>' /tmp/store.sock /mnt/store &`,
	run: runTunnel,
}

// TunnelMain is gig-tunnel.
func TunnelMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(tunnelCmd, args, stdin, stdout, stderr)
}

func runTunnel(e *env, args []string) error {
	fs := e.flags()
	pin := fs.String("fingerprint", "", "pin the server's certificate: sha256:<hex>")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usageErr("want <listen_addr> <tls!host!port>, got %s", count(len(rest), "argument"))
	}
	from, to := rest[0], rest[1]
	if !srv9p.IsTLS(to) {
		return usageErr("%s: want tls!host!port (a plain server needs no tunnel)", to)
	}
	if srv9p.IsTLS(from) {
		return usageErr("%s: the tunnel's end is plain: want unix!/path or tcp!127.0.0.1!port", from)
	}
	trust := srv9p.Trust{CAFile: e.set.CAFile}
	if *pin != "" {
		fp, err := srv9p.ParseFingerprint(*pin)
		if err != nil {
			return usageErr("-fingerprint: %v", err)
		}
		trust = srv9p.Trust{Fingerprint: fp}
	}
	l, err := e.listenTunnel(from)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "%s: carrying %s (%s) to %s\n", e.name(), from, l.Addr(), to)
	return ServeTunnel(e.ctx, l, to, trust, func(format string, args ...any) {
		fmt.Fprintf(e.stderr, e.name()+": "+format+"\n", args...)
	})
}

// ServeTunnel accepts connections on l until ctx ends, and carries each to
// the TLS server at the dial string to, verified as trust says (see
// srv9p.DialTLS). A connection whose server cannot be reached or fails the
// check is closed, logged with logf. It closes l and returns nil once ctx
// ends and every connection is closed.
func ServeTunnel(ctx context.Context, l net.Listener, to string, trust srv9p.Trust, logf func(string, ...any)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.Close()
			return fmt.Errorf("accept: %w", err)
		}
		wg.Go(func() { carry(ctx, c, to, trust, logf) })
	}
}

// carry copies c to and from a TLS connection to the server, until either
// side ends or ctx does.
func carry(ctx context.Context, c net.Conn, to string, trust srv9p.Trust, logf func(string, ...any)) {
	defer c.Close()
	s, _, err := srv9p.DialTLS(ctx, to, trust)
	if err != nil {
		logf("%v", err)
		return
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { c.Close(); s.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); done <- struct{}{} }()
	go func() { io.Copy(c, s); done <- struct{}{} }()
	<-done // one side ended: end both
	c.Close()
	s.Close()
	<-done
}

// listenTunnel listens on the tunnel's plain end, saying so when it binds
// every interface of the machine (whoever reaches it then talks to the
// server as the tunnel's clients do); a unix socket is made mode 0600.
func (e *env) listenTunnel(from string) (net.Listener, error) {
	l, err := e.listenConfig("the tunnel's end").Listen(from, nil)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", from, err)
	}
	if ul, ok := l.(*net.UnixListener); ok {
		if err := os.Chmod(ul.Addr().String(), 0o600); err != nil {
			l.Close()
			return nil, fmt.Errorf("listen %s: %w", from, err)
		}
	}
	return l, nil
}
