package tools

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"gigfs.io/gigfs"
	"gigfs.io/gigfs/internal/version"
	"gigfs.io/gigfs/srv9p"
)

// A command is one tool: gig-<name> on its own, <name> in gigsh.
type command struct {
	name    string // "get"
	args    string // what follows the flags: "<channel> <type> <path>"
	summary string // one line
	help    string // what it does, then an example
	shell   bool   // offered by gigsh
	run     func(e *env, args []string) error
}

// prog is the command's program name.
func (c *command) prog() string {
	if c.name == "gigsh" || strings.HasPrefix(c.name, "gig-") {
		return c.name
	}
	return "gig-" + c.name
}

// Exit statuses (see the package doc).
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitPending  = 3
	exitDisagree = 4
	exitRefused  = 5
)

// exitErr carries an exit status other than 1.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

// errHelp asks for the help text.
var errHelp = errors.New("help requested")

// errVersion asks for the version line.
var errVersion = errors.New("version requested")

// usageErr is bad usage: exit status 2.
func usageErr(format string, args ...any) error {
	return &exitErr{exitUsage, fmt.Errorf(format, args...)}
}

// errSignal is the cause of a context ended by a signal.
type errSignal struct{ sig os.Signal }

func (e errSignal) Error() string { return "interrupted by " + e.sig.String() }

// An env is what a command runs with: its files, its context, its settings
// and its client. On its own, a tool parses the common flags and opens a
// client of its own; in gigsh, it uses the shell's.
type env struct {
	cmd    *command
	ctx    context.Context
	cancel context.CancelCauseFunc
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	sh  *shell // in gigsh; nil on its own
	cf  *commonFlags
	set *Settings
	cl  *gigfs.Client

	// releaseSignals stops runMain's handling of SIGINT and SIGTERM, for a
	// shell that handles them itself (Ctrl-C stops a command, not gigsh).
	releaseSignals func()

	resume    gigfs.Cursor // where the client's streams start (gig-watch -since)
	maxPushes int          // gigfs.Config.MaxPushes (gig-push -inflight past the default)

	cmdFlags *flag.FlagSet // the parsed flags, for the help text
	common   bool          // cmdFlags holds the common flags

	errMu  sync.Mutex
	getenv func(string) string

	news      bool // tell of servers that stop and start answering (feedback.go)
	tableDown bool // under errMu: the table was said not to answer

	// bind, if set, makes the listeners of gig-fs, gig-tunnel and
	// gig-quickstart in place of net.Listen (srv9p.ListenConfig.Bind):
	// tests see what an address of every interface does without binding it.
	bind func(network, address string) (net.Listener, error)
}

// listenConfig is how the tools' servers listen on an address that name
// gave ("-addr"): a line on stderr first when it binds every interface of
// the machine.
func (e *env) listenConfig(name string) srv9p.ListenConfig {
	return srv9p.ListenConfig{Name: name, Bind: e.bind, Warn: func(line string) {
		fmt.Fprintf(e.stderr, "%s: %s\n", e.name(), line)
	}}
}

// name is how the command names itself in messages.
func (e *env) name() string {
	if e.sh != nil {
		return e.cmd.name
	}
	return e.cmd.prog()
}

// runMain runs a command as a program: it handles SIGINT and SIGTERM
// (they end the command's context), parses the common flags, runs the
// command, closes the client, and reports an error as one line on stderr.
func runMain(c *command, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer func() { signal.Stop(sigs); close(sigs) }()
	go func() {
		select {
		case s, ok := <-sigs:
			if !ok {
				return
			}
			cancel(errSignal{s})
		case <-ctx.Done():
			return
		}
		// A second signal while the tool winds up ends it at once.
		if _, ok := <-sigs; ok {
			fmt.Fprintf(stderr, "%s: interrupted twice: exiting\n", c.prog())
			os.Exit(130)
		}
	}()
	// A reader of stdout that goes away must give write errors, not kill
	// the program: the tool then exits 0.
	signal.Ignore(syscall.SIGPIPE)

	e := &env{cmd: c, ctx: ctx, cancel: cancel, stdin: stdin, stdout: stdout, stderr: stderr,
		cf: new(commonFlags), getenv: os.Getenv, releaseSignals: func() { signal.Stop(sigs) }}
	err := c.run(e, args)
	// A command that ends quietly because the table refused its session
	// (a watch) fails with the table's reason.
	var sig errSignal
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) && !errors.As(cause, &sig) {
		err = cause
	}
	if e.cl != nil {
		if cerr := e.cl.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return e.report(err)
}

// report prints err on stderr, one line, and returns the exit status.
func (e *env) report(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errHelp) {
		e.printHelp(e.stdout)
		return exitOK
	}
	if errors.Is(err, errVersion) {
		fmt.Fprintln(e.stdout, version.Line(e.name()))
		return exitOK
	}
	if isBrokenPipe(err) {
		return exitOK
	}
	// What ended the context explains a failure better than the failure:
	// a signal, or the table's refusal of the session (tableTrouble).
	if cause := context.Cause(e.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		var sig errSignal
		switch {
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			err = cause
		case !errors.As(cause, &sig) && (errors.Is(err, gigfs.ErrPending) ||
			errors.Is(err, gigfs.ErrUnknownChannel) || errors.Is(err, gigfs.ErrNoAnswer)):
			err = cause
		}
	}
	code := exitError
	var ee *exitErr
	if errors.As(err, &ee) {
		code = ee.code
	}
	if errors.Is(err, errQuiet) {
		return code
	}
	msg := oneLine(err.Error())
	if code == exitUsage {
		msg += " (" + e.name() + " -h for help)"
	}
	e.errMu.Lock()
	fmt.Fprintf(e.stderr, "%s: %s\n", e.name(), msg)
	e.errMu.Unlock()
	return code
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", "; ")
}

func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrClosedPipe)
}

// flags returns the flag set of the command: its own flags, and on its own
// also the common ones.
func (e *env) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(e.name(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if e.sh == nil {
		e.cf.register(fs)
		e.common = true
	}
	return fs
}

// parse parses args with fs, then resolves the settings (on its own). It
// returns the arguments after the flags.
func (e *env) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	return e.parseArgs(fs, args, false)
}

// parseMixed is parse for commands whose arguments are names, never
// negative numbers: flags may also follow them (gig-sync demo counter /n
// -prune); "--" ends the flags.
func (e *env) parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	return e.parseArgs(fs, args, true)
}

func (e *env) parseArgs(fs *flag.FlagSet, args []string, mixed bool) ([]string, error) {
	e.cmdFlags = fs
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usageErr("%v", err)
		}
		used := len(args) - fs.NArg()
		ended := used > 0 && args[used-1] == "--" // flag stopped at "--"
		args = fs.Args()
		if !mixed || ended || len(args) == 0 {
			break
		}
		rest, args = append(rest, args[0]), args[1:]
	}
	rest = append(rest, args...)
	if e.cf != nil && e.cf.version {
		return nil, errVersion
	}
	if e.sh != nil {
		e.set = e.sh.set
		return rest, nil
	}
	set, err := loadSettings(e.cf, e.getenv)
	if err != nil {
		return nil, err
	}
	e.set = set
	return rest, nil
}

// printHelp prints the usage, the help text and the flags.
func (e *env) printHelp(w io.Writer) {
	c := e.cmd
	fmt.Fprintf(w, "usage: %s [flags] %s\n\n%s\n", e.name(), c.args, strings.TrimSpace(c.help))
	if e.cmdFlags != nil {
		own, common := 0, 0
		isCommon := func(name string) bool { return e.common && isCommonFlag(name) }
		e.cmdFlags.VisitAll(func(f *flag.Flag) {
			if isCommon(f.Name) {
				common++
			} else {
				own++
			}
		})
		if own > 0 {
			fmt.Fprintf(w, "\nFlags:\n")
			printFlags(w, e.cmdFlags, func(name string) bool { return !isCommon(name) })
		}
		if common > 0 {
			fmt.Fprintf(w, "\nCommon flags (each else from the environment, GIGFS_TABLE, GIGFS_USER, GIGFS_SESSION,\nGIGFS_LOCAL, GIGFS_DATA, or the config file, $GIGFS_CONFIG or ~/.config/gigfs/config.json):\n")
			printFlags(w, e.cmdFlags, isCommon)
		}
	}
}

var commonFlagNames = map[string]bool{"config": true, "table": true, "user": true, "session": true,
	"local": true, "data": true, "timeout": true, "reducer": true, "v": true, "version": true}

func isCommonFlag(name string) bool { return commonFlagNames[name] }

func printFlags(w io.Writer, fs *flag.FlagSet, keep func(string) bool) {
	tmp := flag.NewFlagSet("", flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if keep(f.Name) {
			tmp.Var(f.Value, f.Name, f.Usage)
			tmp.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	tmp.SetOutput(w)
	tmp.PrintDefaults()
}

// client returns the client: the shell's, or one of its own, opened at
// the first call.
func (e *env) client() (*gigfs.Client, error) {
	if e.sh != nil {
		return e.sh.client()
	}
	if e.cl != nil {
		return e.cl, nil
	}
	cfg, err := e.set.clientConfig(e.logf, func(err error) {
		if err := tableTrouble(err, e.set); err != nil && e.cancel != nil {
			e.cancel(err)
			return
		}
		if e.news {
			e.tableNews(err)
		}
	})
	if err != nil {
		return nil, err
	}
	if e.news {
		cfg.OnStore = e.storeNews
	}
	cfg.Resume = e.resume
	cfg.MaxPushes = e.maxPushes
	cl, err := gigfs.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := registerReducers(cl, e.set.Reducers); err != nil {
		cl.Close()
		return nil, err
	}
	e.cl = cl
	return cl, nil
}

// logf logs the client's background work, with -v.
func (e *env) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if e.set == nil || !e.set.Verbose {
		return
	}
	e.errMu.Lock()
	defer e.errMu.Unlock()
	fmt.Fprintf(e.stderr, "%s: %s\n", e.name(), oneLine(msg))
}

// verbosef says what the tool does, with -v.
func (e *env) verbosef(format string, args ...any) { e.logf(format, args...) }

// lineWriter writes JSON lines, one write per line, without HTML escapes.
type lineWriter struct {
	w   io.Writer
	buf []byte
}

func (lw *lineWriter) write(v any) error {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := io.WriteString(lw.w, b.String())
	return err
}

// raw writes a JSON value as one line.
func (lw *lineWriter) raw(v json.RawMessage) error {
	lw.buf = append(append(lw.buf[:0], v...), '\n')
	_, err := lw.w.Write(lw.buf)
	return err
}
