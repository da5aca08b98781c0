package tools

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/peterh/liner"

	"gigfs.io/gigfs"
)

var gigshCmd = &command{
	name: "gigsh",
	args: "[script]",
	help: `Gigsh is an interactive shell over the commands of the gig-* tools, with
one client for the whole session: get, push, watch, sync, log, ls, calls,
status, session, channel, admin, channels, help, exit. A command takes the flags of its
tool but not the common ones (-table, -user, ...), which gigsh itself takes.

On a terminal it edits lines (Emacs keys), keeps its history in
$GIGFS_DATA/gigsh_history (else ~/.gigfs_history), and completes with Tab
commands, channels, types and the paths used in the session. Ctrl-C stops
the running command (a watch) and returns to the prompt; Ctrl-D exits.

Words are split on spaces; a JSON object, array or string is one word,
spaces and all; '...' quotes literally; # starts a comment line.

Read from a pipe or a file (or the script argument), it runs the commands
one by one and prints no prompt. It exits with the status of its last
command, as sh does (exit n: with n); on a terminal, Ctrl-D ends the
session cleanly, with status 0.

Example:

	$ gigsh
	gig% push demo lww /greeting "hello"
	"hello"
	gig% get demo lww /greeting
	"hello"
	gig% watch -values demo lww /greeting
	$ printf 'push demo counter /n 2\nget demo counter /n\n' | gigsh`,
	run: runGigsh,
}

// GigshMain is gigsh.
func GigshMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(gigshCmd, args, stdin, stdout, stderr)
}

// shellCommands are the commands of gigsh, by name.
var shellCommands map[string]*command

func init() {
	shellCommands = make(map[string]*command)
	for _, c := range []*command{getCmd, pushCmd, watchCmd, syncCmd, logCmd, lsCmd, callsCmd, statusCmd, sessionCmd, channelCmd, adminCmd} {
		shellCommands[c.name] = c
	}
}

// builtins are the shell's own commands.
var shellBuiltins = map[string]string{
	"channels": "list the channels the client knows",
	"help":     "list the commands, or help <command>",
	"exit":     "leave gigsh (also quit, Ctrl-D); exit n leaves with status n",
}

func runGigsh(e *env, args []string) error {
	rest, err := e.parse(e.flags(), args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usageErr("want at most one script file")
	}
	in := e.stdin
	interactive := isTerminal(e.stdin) && isTerminal(os.Stdout) && e.stdout == io.Writer(os.Stdout)
	if len(rest) == 1 {
		f, err := os.Open(rest[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in, interactive = f, false
	}
	if e.releaseSignals != nil {
		e.releaseSignals()
	}
	sh := newShell(e.set, in, e.stdout, e.stderr, interactive)
	defer sh.close()
	if code := sh.run(); code != 0 {
		return &exitErr{code, errQuiet}
	}
	return nil
}

// errQuiet is an exit status whose reason was already printed.
var errQuiet = errors.New("")

// RunShell runs gigsh over set, reading commands from stdin (a terminal:
// interactively), and returns its exit status. gig-quickstart calls it.
func RunShell(set *Settings, stdin io.Reader, stdout, stderr io.Writer) int {
	interactive := isTerminal(stdin) && isTerminal(os.Stdout) && stdout == io.Writer(os.Stdout)
	sh := newShell(set, stdin, stdout, stderr, interactive)
	defer sh.close()
	return sh.run()
}

// A shell is one gigsh session.
type shell struct {
	set         *Settings
	in          io.Reader
	out, errw   io.Writer
	interactive bool
	line        *liner.State // interactive only

	openOnce sync.Once
	cl       *gigfs.Client
	clErr    error

	mu       sync.Mutex
	outMu    sync.Mutex
	types    map[string]map[string]bool // type -> paths used
	channels map[string]bool            // channels used
	cancel   context.CancelCauseFunc    // of the running command
}

func newShell(set *Settings, in io.Reader, out, errw io.Writer, interactive bool) *shell {
	sh := &shell{set: set, in: in, out: out, errw: errw, interactive: interactive,
		types: make(map[string]map[string]bool), channels: make(map[string]bool)}
	for _, t := range []string{"lww", "counter", "merge", "set", "list"} {
		sh.types[t] = make(map[string]bool)
	}
	for t := range set.Reducers {
		sh.types[t] = make(map[string]bool)
	}
	return sh
}

// client opens the session's one client at the first use.
func (sh *shell) client() (*gigfs.Client, error) {
	sh.openOnce.Do(func() {
		var warned sync.Once
		cfg, err := sh.set.clientConfig(func(format string, args ...any) {
			if sh.set.Verbose {
				sh.printf("gigsh: %s\n", oneLine(fmt.Sprintf(format, args...)))
			}
		}, func(err error) {
			if err := tableTrouble(err, sh.set); err != nil {
				warned.Do(func() { sh.printf("gigsh: %v\n", err) })
			}
		})
		if err != nil {
			sh.clErr = err
			return
		}
		cl, err := gigfs.New(cfg)
		if err != nil {
			sh.clErr = err
			return
		}
		if err := registerReducers(cl, sh.set.Reducers); err != nil {
			cl.Close()
			sh.clErr = err
			return
		}
		sh.cl = cl
	})
	return sh.cl, sh.clErr
}

func (sh *shell) close() {
	if sh.cl != nil {
		sh.cl.Close()
	}
}

// printf writes to the shell's stderr.
func (sh *shell) printf(format string, args ...any) {
	sh.outMu.Lock()
	defer sh.outMu.Unlock()
	fmt.Fprintf(sh.errw, format, args...)
}

// note records a channel, a type and a path for completion.
func (sh *shell) note(channel, typ, path string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if channel != "" {
		sh.channels[channel] = true
	}
	if typ == "" {
		return
	}
	if sh.types[typ] == nil {
		sh.types[typ] = make(map[string]bool)
	}
	if path != "" {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		sh.types[typ][path] = true
	}
}

// note records what a command used, in gigsh.
func (e *env) note(channel, typ, path string) {
	if e.sh != nil && typ != probeType {
		e.sh.note(channel, typ, path)
	}
}

// historyPath is where gigsh keeps its history.
func (sh *shell) historyPath() string {
	if sh.set.Data != "" {
		return filepath.Join(sh.set.Data, "gigsh_history")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".gigfs_history")
	}
	return ""
}

// run reads and runs commands until EOF or exit, and returns the status of
// the last command (exit n: n; 0 at the end of an interactive session).
func (sh *shell) run() int {
	// Signals: SIGINT stops the running command (at the prompt the
	// terminal is raw, so Ctrl-C is a key, not a signal); SIGTERM, and
	// SIGINT when reading a script, end the shell.
	quit := make(chan struct{})
	var quitOnce sync.Once
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				sh.mu.Lock()
				cancel := sh.cancel
				sh.mu.Unlock()
				if cancel != nil {
					cancel(errSignal{s})
				}
				if s == syscall.SIGTERM || !sh.interactive || cancel == nil {
					quitOnce.Do(func() { close(quit) })
				}
			case <-done:
				return
			}
		}
	}()

	if _, err := sh.client(); err != nil {
		sh.printf("gigsh: %v\n", err)
	}
	next := sh.reader(quit)
	if sh.interactive {
		sh.banner()
	}
	status, lineNo := 0, 0
	for {
		text, ok := next()
		if !ok {
			break
		}
		lineNo++
		words, err := splitWords(text)
		if err != nil {
			sh.printf("gigsh: %s\n", sh.where(lineNo, err))
			status = exitUsage
			continue
		}
		if len(words) == 0 {
			continue
		}
		if words[0] == "exit" || words[0] == "quit" {
			if len(words) > 1 {
				n, err := strconv.Atoi(words[1])
				if err != nil || n < 0 || n > 255 || len(words) > 2 {
					sh.printf("gigsh: %s\n", sh.where(lineNo, fmt.Errorf("usage: %s [status 0-255]", words[0])))
					status = exitUsage
					continue
				}
				status = n
			}
			return status
		}
		status = sh.exec(words)
		if status != 0 && !sh.interactive {
			sh.printf("gigsh: line %d: %s failed (status %d)\n", lineNo, words[0], status)
		}
		select {
		case <-quit:
			return status
		default:
		}
	}
	if sh.interactive {
		fmt.Fprintln(sh.out)
		return exitOK // Ctrl-D: a clean end
	}
	return status
}

func (sh *shell) where(lineNo int, err error) string {
	if sh.interactive {
		return err.Error()
	}
	return fmt.Sprintf("line %d: %v", lineNo, err)
}

// reader returns a function giving the next line of input.
func (sh *shell) reader(quit <-chan struct{}) func() (string, bool) {
	if sh.interactive {
		sh.line = liner.NewLiner()
		sh.line.SetCtrlCAborts(true)
		sh.line.SetTabCompletionStyle(liner.TabPrints)
		sh.line.SetWordCompleter(sh.complete)
		hist := sh.historyPath()
		if f, err := os.Open(hist); err == nil {
			sh.line.ReadHistory(f)
			f.Close()
		}
		return func() (string, bool) {
			for {
				text, err := sh.line.Prompt("gig% ")
				switch {
				case errors.Is(err, liner.ErrPromptAborted):
					continue
				case err != nil:
					return "", false
				}
				if strings.TrimSpace(text) != "" {
					sh.line.AppendHistory(text)
					sh.saveHistory(hist)
				}
				return text, true
			}
		}
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReader(sh.in)
		for {
			text, err := r.ReadString('\n')
			if text != "" {
				select {
				case lines <- strings.TrimRight(text, "\r\n"):
				case <-quit:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return func() (string, bool) {
		select {
		case text, ok := <-lines:
			return text, ok
		case <-quit:
			return "", false
		}
	}
}

func (sh *shell) saveHistory(path string) {
	if path == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	sh.line.WriteHistory(f)
	f.Close()
}

func (sh *shell) banner() {
	who := "local stores only"
	if sh.set.Table != "" {
		who = "user " + sh.set.User + " on table " + sh.set.Table
	}
	sh.printf("gigsh: %s. help lists the commands; Tab completes; Ctrl-D exits.\n", who)
}

// exec runs one command and returns its exit status.
func (sh *shell) exec(words []string) int {
	name, args := words[0], words[1:]
	switch name {
	case "help":
		return sh.help(args)
	case "channels":
		cl, err := sh.client()
		if err != nil {
			sh.printf("channels: %v\n", err)
			return exitError
		}
		for _, ch := range cl.Channels() {
			fmt.Fprintln(sh.out, ch)
		}
		return exitOK
	}
	c := shellCommands[name]
	if c == nil {
		sh.printf("gigsh: unknown command %q (help lists them)\n", name)
		return exitUsage
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sh.mu.Lock()
	sh.cancel = cancel
	sh.mu.Unlock()
	defer func() {
		sh.mu.Lock()
		sh.cancel = nil
		sh.mu.Unlock()
	}()
	e := &env{cmd: c, ctx: ctx, cancel: cancel, stdin: strings.NewReader(""), stdout: sh.out, stderr: sh.errw,
		sh: sh, getenv: os.Getenv}
	return e.report(c.run(e, args))
}

func (sh *shell) help(args []string) int {
	if len(args) == 1 {
		if c := shellCommands[args[0]]; c != nil {
			return sh.exec([]string{args[0], "-h"})
		}
		if s, ok := shellBuiltins[args[0]]; ok {
			fmt.Fprintf(sh.out, "%s: %s\n", args[0], s)
			return exitOK
		}
		sh.printf("help: unknown command %q\n", args[0])
		return exitUsage
	}
	names := make([]string, 0, len(shellCommands))
	for n := range shellCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(sh.out, "commands (help <command> for more):")
	for _, n := range names {
		c := shellCommands[n]
		fmt.Fprintf(sh.out, "  %-8s %s\n", n, c.summary)
	}
	builtins := make([]string, 0, len(shellBuiltins))
	for n := range shellBuiltins {
		builtins = append(builtins, n)
	}
	sort.Strings(builtins)
	for _, n := range builtins {
		fmt.Fprintf(sh.out, "  %-8s %s\n", n, shellBuiltins[n])
	}
	return exitOK
}

// splitWords splits a command line into words: on spaces, except that a
// JSON object, array or string is one word (spaces and all, quotes kept),
// and '...' quotes literally (” is a quote inside). A line starting with
// # is a comment.
func splitWords(line string) ([]string, error) {
	if strings.HasPrefix(strings.TrimSpace(line), "#") {
		return nil, nil
	}
	var words []string
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			return words, nil
		}
		var w strings.Builder
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			switch line[i] {
			case '\'':
				j := i + 1
				for {
					k := strings.IndexByte(line[j:], '\'')
					if k < 0 {
						return nil, errors.New("unclosed '")
					}
					w.WriteString(line[j : j+k])
					j += k + 1
					if j < len(line) && line[j] == '\'' {
						w.WriteByte('\'')
						j++
						continue
					}
					break
				}
				i = j
			case '{', '[', '"':
				n, err := jsonSpan(line[i:])
				if err != nil {
					return nil, err
				}
				w.WriteString(line[i : i+n])
				i += n
			default:
				w.WriteByte(line[i])
				i++
			}
		}
		words = append(words, w.String())
	}
}

// jsonSpan returns the length of the JSON object, array or string at the
// start of s: up to its matching close, strings respected.
func jsonSpan(s string) (int, error) {
	depth := 0
	inString := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
				if depth == 0 {
					return i + 1, nil
				}
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	if inString {
		return 0, errors.New(`unclosed "`)
	}
	return 0, fmt.Errorf("unclosed %c", s[0])
}

// pathCommands take <channel> <type> <path> after their flags.
var pathCommands = map[string]bool{"get": true, "push": true, "watch": true, "sync": true, "log": true}

// complete completes the word at pos: a command, then for the path
// commands a channel, a type and paths; subcommands for session and
// channel.
func (sh *shell) complete(line string, pos int) (head string, completions []string, tail string) {
	head, tail = line[:pos], line[pos:]
	start := strings.LastIndexAny(head, " \t") + 1
	prefix := head[start:]
	head = head[:start]
	var args []string
	for _, w := range strings.Fields(head) {
		if !strings.HasPrefix(w, "-") {
			args = append(args, w)
		}
	}
	var cands []string
	switch {
	case len(args) == 0:
		for n := range shellCommands {
			cands = append(cands, n)
		}
		for n := range shellBuiltins {
			cands = append(cands, n)
		}
	case args[0] == "help" && len(args) == 1:
		for n := range shellCommands {
			cands = append(cands, n)
		}
	case args[0] == "session" && len(args) == 1:
		cands = []string{"new", "list", "revoke"}
	case args[0] == "channel" && len(args) == 1:
		cands = []string{"add", "remove", "list"}
	case args[0] == "ls" && len(args) == 1:
		cands = sh.knownChannels()
	case args[0] == "ls" && len(args) == 2:
		return head, sh.pathCompletions(args[1], "", prefix, nil), tail
	case !pathCommands[args[0]]:
	case len(args) == 1:
		cands = sh.knownChannels()
	case len(args) == 2:
		sh.mu.Lock()
		for t := range sh.types {
			cands = append(cands, t)
		}
		sh.mu.Unlock()
	case len(args) == 3 || args[0] == "sync" || args[0] == "watch":
		sh.mu.Lock()
		for p := range sh.types[args[2]] {
			cands = append(cands, p)
		}
		sh.mu.Unlock()
		return head, sh.pathCompletions(args[1], args[2], prefix, cands), tail
	}
	sort.Strings(cands)
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) {
			completions = append(completions, c+" ")
		}
	}
	return head, completions, tail
}

// knownChannels are the client's channels and those used in the session.
func (sh *shell) knownChannels() []string {
	seen := make(map[string]bool)
	if sh.cl != nil {
		for _, ch := range sh.cl.Channels() {
			seen[ch] = true
		}
	}
	sh.mu.Lock()
	for ch := range sh.channels {
		seen[ch] = true
	}
	sh.mu.Unlock()
	out := make([]string, 0, len(seen))
	for ch := range seen {
		out = append(out, ch)
	}
	return out
}
