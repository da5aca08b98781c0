package tools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gigfs.io/gigfs"
	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/adminkey"
	"gigfs.io/gigfs/internal/atomicfile"
	"gigfs.io/gigfs/internal/tlscert"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/storefs"
	"gigfs.io/gigfs/srv9p"
	"gigfs.io/gigfs/table"
)

var quickstartCmd = &command{
	name: "gig-quickstart",
	args: "[-data ./gigfs-data] [-local] [-tls]",
	help: `Quickstart brings up a whole GiG.fs on loopback, in this one process: a
table and two stores (9P servers, data under -data: table/, store1/,
store2/), a user with a master (kept in <data>/master), a session, and a
channel served by both stores; it writes <data>/quickstart.env and opens
gigsh on it. When gigsh exits, the servers stop. From a second terminal,
after

	. ./gigfs-data/quickstart.env

gig-get, gig-push, gig-watch and gigsh work against the same servers
(go install ./cmd/... puts them in $GOPATH/bin).

A second run reuses what exists: the same user and master, the session if
it is still valid, the stores already in the channel. The servers' logs go
to <data>/quickstart.log.

With -tls the servers speak 9P over TLS (tls!127.0.0.1!5640 and so on),
each with a self-signed certificate made in its data folder; the table's
fingerprint goes into quickstart.env (GIGFS_TABLE_FINGERPRINT) and the
stores' into the mount table, so every tool verifies them.

With -local there are no servers: the channel has an on-disk store under
<data>/local and an in-memory store, and <data>/local.json describes them
for GIGFS_LOCAL (usable once quickstart has exited: one process at a time
opens an on-disk store).

Example:

	$ go run ./cmd/gig-quickstart
	gig% push demo lww /greeting "hello"
	"hello"
	gig% get demo lww /greeting
	"hello"`,
	run: runQuickstart,
}

// QuickstartMain is gig-quickstart.
func QuickstartMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(quickstartCmd, args, stdin, stdout, stderr)
}

// Quickstart's defaults.
const (
	QuickstartTable  = "tcp!127.0.0.1!5640"
	QuickstartStores = "tcp!127.0.0.1!5641,tcp!127.0.0.1!5642"
)

type quickstart struct {
	e       *env
	data    string
	tabAddr string
	stores  []string
	user    string
	channel string
	logger  *log.Logger
	out     io.Writer

	stops []func()
	keys  map[string]string // server address -> admin key
	fps   map[string]string // server address -> TLS certificate fingerprint
}

func runQuickstart(e *env, args []string) error {
	fs := flag.NewFlagSet(e.name(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.cmdFlags = fs
	data := fs.String("data", "./gigfs-data", "data folder of the servers and of the files quickstart writes")
	tabAddr := fs.String("table", QuickstartTable, "address the table listens on")
	storeAddrs := fs.String("stores", QuickstartStores, "addresses the stores listen on, comma-separated")
	user := fs.String("user", "demo", "the user")
	channel := fs.String("channel", "demo", "the channel")
	local := fs.Bool("local", false, "no servers: a local on-disk store and an in-memory store")
	useTLS := fs.Bool("tls", false, "serve 9P over TLS (tcp! addresses become tls!), self-signed certificates")
	shell := fs.Bool("shell", true, "open gigsh; -shell=false serves until interrupted")
	verbose := fs.Bool("v", false, "log the servers on stderr too")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageErr("%v", err)
	}
	if *showVersion {
		return errVersion
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if _, err := gig.ParseUser(*user); err != nil {
		return err
	}
	if _, err := gig.ParseChannel(*channel); err != nil {
		return err
	}
	dir, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	q := &quickstart{e: e, data: dir, tabAddr: *tabAddr, user: *user, channel: *channel, out: e.stdout,
		keys: make(map[string]string), fps: make(map[string]string)}
	for _, a := range strings.Split(*storeAddrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			q.stores = append(q.stores, a)
		}
	}
	if *useTLS {
		q.tabAddr = toTLS(q.tabAddr)
		for i, a := range q.stores {
			q.stores[i] = toTLS(a)
		}
	}
	if *local {
		return q.runLocal(*shell)
	}
	if len(q.stores) == 0 {
		return usageErr("-stores: want at least one address")
	}
	logf, err := os.OpenFile(filepath.Join(dir, "quickstart.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	var logw io.Writer = logf
	if *verbose {
		logw = io.MultiWriter(logf, e.stderr)
	}
	q.logger = log.New(logw, "", log.LstdFlags)
	defer q.stop()
	if err := q.start(); err != nil {
		return err
	}
	set, err := q.setUp()
	if err != nil {
		return err
	}
	if !*shell {
		q.say("serving until interrupted (Ctrl-C)")
		<-e.ctx.Done()
		return nil
	}
	set.Verbose = *verbose
	if e.releaseSignals != nil {
		e.releaseSignals()
	}
	code := RunShell(set, e.stdin, e.stdout, e.stderr)
	q.stop()
	q.say("servers stopped")
	if code != 0 {
		return &exitErr{code, errQuiet}
	}
	return nil
}

func (q *quickstart) say(format string, args ...any) {
	fmt.Fprintf(q.out, "gig-quickstart: "+format+"\n", args...)
}

// rel shows a path relative to the current folder when it is below it.
func rel(path string) string {
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
			return "./" + r
		}
	}
	return path
}

// start serves the table and the stores.
func (q *quickstart) start() error {
	tdir := filepath.Join(q.data, "table")
	key, err := adminkey.Load(tdir)
	if err != nil {
		return err
	}
	l, fp, err := q.listen(q.tabAddr, "-table", tdir)
	if err != nil {
		return err
	}
	q.tabAddr = publicAddr(q.tabAddr, l.Addr())
	q.fps[q.tabAddr] = fp
	// AllowUnixStores: the quickstart adds only its own stores, which -stores may put on unix sockets.
	svc, err := table.Open(table.Config{DataDir: tdir, TableAddr: q.tabAddr, TableFingerprint: fp, AdminKey: key, AllowUnixStores: true,
		Logf: prefixed(q.logger, "table: ")})
	if err != nil {
		l.Close()
		return err
	}
	q.keys[q.tabAddr] = key
	q.serve(table.NewServer(svc), l, func() { svc.Close() })
	q.say("table on %s, data in %s%s", q.tabAddr, rel(tdir), fpNote(fp))

	for i, addr := range q.stores {
		sdir := filepath.Join(q.data, fmt.Sprintf("store%d", i+1))
		key, err := adminkey.Load(sdir)
		if err != nil {
			return err
		}
		l, fp, err := q.listen(addr, "-stores", sdir)
		if err != nil {
			return err
		}
		addr = publicAddr(addr, l.Addr())
		q.stores[i] = addr
		q.fps[addr] = fp
		logf := prefixed(q.logger, fmt.Sprintf("store%d: ", i+1))
		svc, err := netstore.Open(netstore.Config{Dir: sdir, Checker: table.NewChecker(), AllowUnixTable: true, Logf: logf})
		if err != nil {
			l.Close()
			return err
		}
		q.keys[addr] = key
		q.serve(&srv9p.Server{Attach: (&storefs.Tree{S: svc, AdminKey: key}).Attach, Logf: logf}, l, func() { svc.Close() })
		q.say("store on %s, data in %s%s", addr, rel(sdir), fpNote(fp))
	}
	return nil
}

func prefixed(l *log.Logger, prefix string) func(string, ...any) {
	return func(format string, args ...any) { l.Printf(prefix+format, args...) }
}

// listen listens on addr and says which flag changes it when it is taken,
// and when it binds every interface of the machine. Over TLS it serves the
// self-signed certificate of the data folder dir and returns its
// fingerprint.
func (q *quickstart) listen(addr, flagName, dir string) (net.Listener, string, error) {
	if _, _, err := srv9p.ParseAddr(addr); err != nil {
		return nil, "", usageErr("%s: %v", flagName, err)
	}
	var (
		l   net.Listener
		fp  string
		err error
	)
	lc := srv9p.ListenConfig{Name: flagName, Bind: q.e.bind, Warn: func(line string) { q.say("%s", line) }}
	if srv9p.IsTLS(addr) {
		var cert *tlscert.Cert
		if cert, err = tlscert.Load(dir, "", ""); err != nil {
			return nil, "", err
		}
		fp = cert.Fingerprint
		l, err = lc.Listen(addr, &cert.TLS)
	} else {
		l, err = lc.Listen(addr, nil)
	}
	if err != nil {
		return nil, "", fmt.Errorf("listen on %s: %v (is another gig-quickstart running? %s picks another address)", addr, err, flagName)
	}
	return l, fp, nil
}

// toTLS turns a tcp!host!port address into tls!host!port.
func toTLS(addr string) string {
	if rest, ok := strings.CutPrefix(addr, "tcp!"); ok {
		return "tls!" + rest
	}
	return addr
}

func fpNote(fp string) string {
	if fp == "" {
		return ""
	}
	return ", certificate " + fp
}

// publicAddr is addr with the port the system chose, if addr asked for
// port 0.
func publicAddr(addr string, la net.Addr) string {
	ta, ok := la.(*net.TCPAddr)
	if !ok {
		return addr
	}
	network, hostport, err := srv9p.ParseAddr(addr)
	if err != nil || !strings.HasPrefix(network, "tcp") && network != "tls" {
		return addr
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port != "0" {
		return addr
	}
	if network == "tls" {
		return "tls!" + host + "!" + strconv.Itoa(ta.Port)
	}
	return "tcp!" + host + "!" + strconv.Itoa(ta.Port)
}

// serve serves srv on l until stop; then it calls closeSvc.
func (q *quickstart) serve(srv *srv9p.Server, l net.Listener, closeSvc func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		if err := srv.Serve(ctx, l); err != nil {
			q.logger.Printf("serve: %v", err)
		}
		close(done)
	}()
	q.stops = append(q.stops, sync.OnceFunc(func() { cancel(); <-done; closeSvc() }))
}

// stop stops the servers, the stores first.
func (q *quickstart) stop() {
	for i := len(q.stops) - 1; i >= 0; i-- {
		q.stops[i]()
	}
}

// setUp makes (or finds) the user, its master, a session and the channel,
// writes quickstart.env, and returns the settings of the shell.
func (q *quickstart) setUp() (*Settings, error) {
	ctx, cancel := context.WithTimeout(q.e.ctx, time.Minute)
	defer cancel()
	master, err := q.ensureUser(ctx)
	if err != nil {
		return nil, err
	}
	tc, err := table.DialTrust(ctx, q.tabAddr, q.trust(q.tabAddr), q.user, "master "+master)
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	session, err := q.ensureSession(ctx, tc)
	if err != nil {
		return nil, err
	}
	if err := q.ensureChannel(ctx, tc); err != nil {
		return nil, err
	}
	envFile := filepath.Join(q.data, "quickstart.env")
	content := fmt.Sprintf("# GiG.fs quickstart (%s): . %s, then gig-get, gig-push, gig-watch, gigsh\n"+
		"# (GIGFS_MASTER is for gig-session and gig-channel; keep this file private)\n"+
		"export GIGFS_TABLE=%s\nexport GIGFS_USER=%s\nexport GIGFS_SESSION=%s\nexport GIGFS_MASTER=%s\n",
		time.Now().Format(time.DateTime), rel(envFile), shQuote(q.tabAddr), shQuote(q.user), shQuote(session), shQuote(master))
	if fp := q.fps[q.tabAddr]; fp != "" {
		content += "export GIGFS_TABLE_FINGERPRINT=" + shQuote(fp) + "\n"
	} else {
		content += "unset GIGFS_TABLE_FINGERPRINT\n"
	}
	if dir := toolsDir(); dir != "" {
		content += pathLine(dir)
	}
	if err := atomicfile.WriteFile(envFile, []byte(content), 0o600); err != nil {
		return nil, err
	}
	if toolsDir() != "" {
		q.say("wrote %s; in another terminal: . %s && gig-watch %s", rel(envFile), rel(envFile), q.channel)
	} else {
		q.say("wrote %s; in another terminal: go install ./cmd/... && . %s && gig-watch %s", rel(envFile), rel(envFile), q.channel)
	}
	q.say("try: push %s lww /greeting \"hello\"   get %s lww /greeting   watch -values %s lww /greeting   help",
		q.channel, q.channel, q.channel)
	return &Settings{Table: q.tabAddr, TableFP: q.fps[q.tabAddr], User: q.user, Session: session, Data: q.data,
		Reducers: map[string]string{}, sources: map[string]string{}, getenv: os.Getenv}, nil
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// admin runs one command on the admin ctl of the server at addr.
func (q *quickstart) admin(ctx context.Context, addr, cmd string) (string, error) {
	c, err := srv9p.DialTrust(ctx, addr, q.trust(addr), "admin", "admin "+q.keys[addr])
	if err != nil {
		return "", err
	}
	defer c.Close()
	reply, err := c.Ctl(ctx, "/admin/ctl", cmd)
	return strings.TrimSpace(reply), err
}

// trust pins the certificate of the server at addr.
func (q *quickstart) trust(addr string) srv9p.Trust { return srv9p.Trust{Fingerprint: q.fps[addr]} }

// ensureUser makes the user with a new master, unless the table has it and
// <data>/master holds its master.
func (q *quickstart) ensureUser(ctx context.Context) (string, error) {
	masterFile := filepath.Join(q.data, "master")
	list, err := q.admin(ctx, q.tabAddr, "user list")
	if err != nil {
		return "", fmt.Errorf("table admin: %w", err)
	}
	known := slices.Contains(strings.Fields(list), q.user)
	if b, err := os.ReadFile(masterFile); err == nil && known {
		var saved struct{ User, Master string }
		if json.Unmarshal(b, &saved) == nil && saved.User == q.user && saved.Master != "" {
			if tc, err := table.DialTrust(ctx, q.tabAddr, q.trust(q.tabAddr), q.user, "master "+saved.Master); err == nil {
				tc.Close()
				q.say("user %s exists; its master is in %s", q.user, rel(masterFile))
				return saved.Master, nil
			}
		}
	}
	b := make([]byte, 16)
	rand.Read(b)
	master := hex.EncodeToString(b)
	if _, err := q.admin(ctx, q.tabAddr, "user set "+q.user+" "+master); err != nil {
		return "", fmt.Errorf("table admin: user set: %w", err)
	}
	rec, _ := json.Marshal(struct{ User, Master string }{q.user, master})
	if err := atomicfile.WriteFile(masterFile, append(rec, '\n'), 0o600); err != nil {
		return "", err
	}
	if known {
		q.say("user %s: new master, in %s (its old sessions are revoked)", q.user, rel(masterFile))
	} else {
		q.say("user %s made; its master is in %s", q.user, rel(masterFile))
	}
	return master, nil
}

// ensureSession reuses the session of quickstart.env if it is still
// valid, else makes one.
func (q *quickstart) ensureSession(ctx context.Context, master *table.Client) (string, error) {
	old := readEnvFile(filepath.Join(q.data, "quickstart.env"))
	if tok := old["GIGFS_SESSION"]; tok != "" && old["GIGFS_USER"] == q.user && old["GIGFS_TABLE"] == q.tabAddr {
		if tc, err := table.DialTrust(ctx, q.tabAddr, q.trust(q.tabAddr), q.user, "session "+tok); err == nil {
			_, err = tc.Table(ctx)
			tc.Close()
			if err == nil {
				q.say("session of quickstart.env still valid: reused")
				return tok, nil
			}
		}
	}
	tok, err := master.SessionNew(ctx, DefaultSessionTimeout, "gig-quickstart")
	if err != nil {
		return "", fmt.Errorf("session new: %w", err)
	}
	q.say("session made (expires when unused for %v)", DefaultSessionTimeout)
	return strings.TrimSpace(tok), nil
}

// readEnvFile reads the export lines of an env file.
func readEnvFile(name string) map[string]string {
	m := make(map[string]string)
	b, err := os.ReadFile(name)
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, "'")
		}
		m[k] = v
	}
	return m
}

// ensureChannel adds each store to the channel unless it is there and the
// store knows the user.
func (q *quickstart) ensureChannel(ctx context.Context, tc *table.Client) error {
	mt, err := tc.Table(ctx)
	if err != nil {
		return err
	}
	for _, addr := range q.stores {
		users, err := q.admin(ctx, addr, "user list")
		if err != nil {
			return fmt.Errorf("store %s admin: %w", addr, err)
		}
		onStore := slices.Contains(strings.Fields(users), q.user)
		inChannel := slices.ContainsFunc(mt[q.channel], func(r table.StoreRef) bool { return r.StoreAddr == addr })
		if onStore && inChannel {
			continue
		}
		cmd := "user add " + q.user
		if onStore {
			cmd = "user code " + q.user
		}
		reply, err := q.admin(ctx, addr, cmd)
		if err != nil {
			return fmt.Errorf("store %s admin: %s: %w", addr, cmd, err)
		}
		code := strings.TrimSpace(strings.TrimPrefix(reply, "code "))
		id, err := tc.StoreAdd(ctx, q.channel, addr, code)
		if err != nil {
			return fmt.Errorf("store add %s %s: %w", q.channel, addr, err)
		}
		q.say("store %s added to channel %s (store id %s)", addr, q.channel, strings.TrimSpace(id))
	}
	q.say("channel %s is served by %s", q.channel, count(len(q.stores), "store"))
	return nil
}

// runLocal runs gigsh on local stores alone.
func (q *quickstart) runLocal(shell bool) error {
	ldir := filepath.Join(q.data, "local")
	lt := map[string][]gigfs.LocalStore{q.channel: {{StoragePath: "local"}, {InMemory: true}}}
	b, _ := json.Marshal(lt)
	tableFile := filepath.Join(q.data, "local.json")
	if err := atomicfile.WriteFile(tableFile, append(b, '\n'), 0o600); err != nil {
		return err
	}
	q.say("local mode: no servers; channel %s on an on-disk store in %s and an in-memory store", q.channel, rel(ldir))
	q.say("wrote %s (GIGFS_LOCAL=%s works once this has exited)", rel(tableFile), rel(tableFile))
	if !shell {
		return nil
	}
	q.say("try: push %s lww /greeting \"hello\"   get %s lww /greeting   help", q.channel, q.channel)
	if q.e.releaseSignals != nil {
		q.e.releaseSignals()
	}
	set := &Settings{Local: resolveStorage(lt, q.data), Data: q.data, Reducers: map[string]string{},
		sources: map[string]string{}, getenv: os.Getenv}
	if code := RunShell(set, q.e.stdin, q.e.stdout, q.e.stderr); code != 0 {
		return &exitErr{code, errQuiet}
	}
	return nil
}
