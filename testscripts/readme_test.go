package testscripts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The README's code blocks, with what the README test does with each. An
// HTML comment right before a block or a table says what it is:
//
//	<!-- readme-test: terminal 1 -->        the set-up command, run in the background; its stdin
//	                                         gets the gig% lines of the next text block
//	<!-- readme-test: after terminal 1 -->  end terminal 1 (close its stdin, wait) before this block
//	<!-- readme-test: skip (why) -->        not run (only checked for bash history expansion)
//	<!-- readme-test: flags -->             the table of each program's own flags
//	<!-- readme-test: packages -->          the table of packages
//
// Every other ```bash block runs, in order; the blocks under one heading
// share one bash (a terminal), each heading gets a new one.
type readmeBlock struct {
	lang    string // bash, text
	mark    string // terminal 1, after terminal 1, skip, flags, packages, or ""
	heading string
	line    int
	body    string
}

var readmeMark = regexp.MustCompile(`^<!-- readme-test: ([a-z0-9 ]+?)(?: \(.*\))? -->$`)

func readmeRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// readREADME splits the README into its fenced blocks and its marked tables.
func readREADME(t *testing.T) (blocks []readmeBlock, tables map[string][]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(readmeRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	tables = make(map[string][]string)
	lines := strings.Split(string(b), "\n")
	heading, mark := "", ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "```"):
			blk := readmeBlock{lang: strings.Fields(l + " x")[0][3:], mark: mark, heading: heading, line: i + 1}
			var body []string
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
				body = append(body, lines[i])
			}
			blk.body = strings.Join(body, "\n") + "\n"
			blocks = append(blocks, blk)
			mark = ""
		case strings.HasPrefix(l, "#"):
			heading, mark = l, ""
		case readmeMark.MatchString(l):
			mark = readmeMark.FindStringSubmatch(l)[1]
		case strings.HasPrefix(l, "|") && mark != "":
			for ; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
				tables[mark] = append(tables[mark], lines[i])
			}
			mark = ""
		case strings.TrimSpace(l) != "":
			mark = ""
		}
	}
	return blocks, tables
}

// TestREADME_HistoryExpansion: no command of the README trips bash's
// history expansion (an unquoted tcp!host!port in an interactive bash is
// "event not found"), the skipped blocks included.
func TestREADME_HistoryExpansion(t *testing.T) {
	blocks, _ := readREADME(t)
	n := 0
	for _, b := range blocks {
		if b.lang != "bash" {
			continue
		}
		n++
		cmd := exec.Command("bash", "--noprofile", "--norc", "-n", "-o", "history", "-o", "histexpand")
		cmd.Stdin = strings.NewReader(b.body)
		out, err := cmd.CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("README.md:%d: the block does not parse in an interactive bash: %v\n%s", b.line, err, out)
		}
	}
	if n < 5 {
		t.Fatalf("README: %d bash blocks; the set-up, first five minutes, by hand and local stores have more", n)
	}
}

// TestREADME_CI: CI's entry point runs the README's test command, and mk
// test runs it too.
func TestREADME_CI(t *testing.T) {
	blocks, _ := readREADME(t)
	var testCmd string
	for _, b := range blocks {
		if b.lang == "bash" && strings.Contains(b.body, "test.sh") {
			testCmd = strings.TrimSpace(b.body)
		}
	}
	if testCmd != "./test.sh" {
		t.Fatalf("README: the test command is %q, want ./test.sh", testCmd)
	}
	root := readmeRoot(t)
	ci, err := os.ReadFile(filepath.Join(root, ".ci/run"))
	if err != nil {
		t.Fatal(err)
	}
	if last := lastCommand(string(ci)); last != testCmd {
		t.Errorf(".ci/run ends with %q, not the README's test command %q", last, testCmd)
	}
	mk, err := os.ReadFile(filepath.Join(root, "mkfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^test:V:\n\t` + regexp.QuoteMeta(testCmd) + `$`).Match(mk) {
		t.Errorf("mkfile: the test target does not run %s", testCmd)
	}
}

func lastCommand(script string) string {
	last := ""
	for _, l := range strings.Split(script, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			last = strings.TrimPrefix(l, "exec ")
		}
	}
	return last
}

// helpFlags runs prog -h and returns its own flags: those listed before
// the common flags, less the TLS ones every client tool shares (the
// README's settings table has those).
func helpFlags(t *testing.T, prog string) []string {
	t.Helper()
	var out bytes.Buffer
	var code int
	switch prog {
	case "gig-bench", "gig-tunnel":
		// Not in the programs map (gig-bench runs workloads; gig-tunnel
		// dials): their -h is printed before anything runs.
		cmd := exec.Command("go", "run", "./cmd/"+prog, "-h")
		cmd.Dir = readmeRoot(t)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else {
				t.Fatal(err)
			}
		}
	default:
		// testscript.Main put the programs on PATH (this test binary,
		// by another name): the servers print on the real stdout.
		if _, ok := programs[prog]; !ok {
			t.Fatalf("%s: not a program of the test", prog)
		}
		cmd := exec.Command(prog, "-h")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else {
				t.Fatal(err)
			}
		}
	}
	if code != 0 && prog != "gig-bench" {
		t.Errorf("%s -h: exit status %d", prog, code)
	}
	var flags []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "Common flags") {
			break
		}
		if m := regexp.MustCompile(`^  (-[a-z0-9-]+)`).FindStringSubmatch(l); m != nil {
			if m[1] != "-ca" && m[1] != "-table-fingerprint" {
				flags = append(flags, m[1])
			}
		}
	}
	slices.Sort(flags)
	return flags
}

// TestREADME_Flags: the README's table of each program's flags is every
// program of cmd/ with exactly the flags its -h lists.
func TestREADME_Flags(t *testing.T) {
	_, tables := readREADME(t)
	rows := tables["flags"]
	if len(rows) < 3 {
		t.Fatal("README: no flags table (<!-- readme-test: flags -->)")
	}
	documented := make(map[string][]string)
	for _, r := range rows[2:] {
		cells := strings.Split(r, "|")
		if len(cells) < 4 {
			t.Fatalf("README flags table: bad row %q", r)
		}
		prog := strings.Trim(strings.TrimSpace(cells[1]), "`")
		flags := regexp.MustCompile("`(-[a-z0-9-]+)`").FindAllStringSubmatch(cells[2], -1)
		var fl []string
		for _, f := range flags {
			fl = append(fl, f[1])
		}
		slices.Sort(fl)
		documented[prog] = fl
	}
	entries, err := os.ReadDir(filepath.Join(readmeRoot(t), "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		prog := e.Name()
		doc, ok := documented[prog]
		if !ok {
			t.Errorf("README flags table: no row for %s", prog)
			continue
		}
		delete(documented, prog)
		if testing.Short() && (prog == "gig-bench" || prog == "gig-tunnel") {
			continue // go run builds them
		}
		if got := helpFlags(t, prog); !slices.Equal(got, doc) {
			t.Errorf("README flags table, %s:\n have %v\n -h   %v", prog, doc, got)
		}
	}
	for prog := range documented {
		t.Errorf("README flags table: %s is not a program of cmd/", prog)
	}
}

// TestREADME_Packages: the package table lists every package, and the
// import rules it states hold.
func TestREADME_Packages(t *testing.T) {
	_, tables := readREADME(t)
	rows := tables["packages"]
	if len(rows) < 3 {
		t.Fatal("README: no packages table (<!-- readme-test: packages -->)")
	}
	listed := make(map[string]bool)
	for _, r := range rows[2:] {
		cells := strings.Split(r, "|")
		name := strings.TrimSuffix(strings.Trim(strings.Fields(cells[1])[0], "`"), "/")
		listed[name] = true
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \",\"}}", "./...")
	cmd.Dir = readmeRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "gigfs.io/gigfs"
	ours := func(p string) (string, bool) {
		if p == mod {
			return "gigfs", true
		}
		rest, ok := strings.CutPrefix(p, mod+"/")
		return rest, ok
	}
	is9P := func(p string) bool {
		return strings.HasPrefix(p, "9fans.net/go/plan9") || strings.HasPrefix(p, "github.com/knusbaum/go9p")
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, " ")
		pkg, _ := ours(f[0])
		if !strings.HasPrefix(pkg, "cmd/") && !listed[pkg] {
			t.Errorf("README package table: %s is missing", pkg)
		}
		var imports []string
		for _, p := range strings.Split(f[1], ",") {
			if p != "" {
				imports = append(imports, p)
			}
		}
		for _, imp := range imports {
			dep, isOurs := ours(imp)
			switch {
			case is9P(imp) && pkg != "srv9p":
				t.Errorf("%s imports the 9P library %s: only srv9p may", pkg, imp)
			case !isOurs:
			case pkg == "gig":
				t.Errorf("gig imports %s: it is a leaf", dep)
			case (pkg == "oplog" || pkg == "srv9p") && dep != "gig" && !strings.HasPrefix(dep, "internal/"):
				t.Errorf("%s imports %s: it may import only gig of ours", pkg, dep)
			case pkg == "srv9p" && dep != "gig":
				t.Errorf("srv9p imports %s: it may import only gig of ours", dep)
			case strings.HasPrefix(pkg, "netstore") && dep == "table",
				pkg == "table" && strings.HasPrefix(dep, "netstore"):
				t.Errorf("%s imports %s: netstore and table never import each other", pkg, dep)
			case strings.HasPrefix(pkg, "internal/") && !strings.HasPrefix(dep, "internal/") && dep != "gig" &&
				pkg != "internal/cluster" && pkg != "internal/bench" && pkg != "internal/daemon" && pkg != "internal/tlscert":
				t.Errorf("leaf helper %s imports %s", pkg, dep)
			}
		}
	}
}

// TestREADME_Commands runs the README's commands as a user on a fresh
// machine would, in a copy of the repository with a new HOME: the set-up
// command (go install, then gig-quickstart) in the background as terminal
// 1, fed the gig% lines the README shows and checked against the output it
// shows, then every other bash block, a new bash per heading.
func TestREADME_Commands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every program and runs the README (not with -short)")
	}
	// One at a time on a machine (the README uses the quickstart's fixed
	// ports): two suites at once take turns here.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "gigfs-readme-test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	for _, port := range []string{"5640", "5641", "5642", "5650"} {
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Skipf("port %s is taken (a gig-quickstart running?): the README's commands need it: %v", port, err)
		}
		l.Close()
	}

	blocks, _ := readREADME(t)
	work, env := readmeMachine(t)
	ctx, cancel := context.WithCancel(context.Background())
	if d, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-30*time.Second))
	}
	defer cancel()

	var term1 *readmeTerminal
	endTerm1 := func() {
		if term1 == nil {
			return
		}
		t1 := term1
		term1 = nil
		if err := t1.end(); err != nil {
			t.Fatalf("README.md:%d (terminal 1): %v\n%s", t1.line, err, t1.out())
		}
		for _, want := range t1.want {
			t.Logf("terminal 1 printed %s", want)
		}
	}
	defer func() {
		if term1 != nil {
			term1.kill()
		}
	}()

	var section []readmeBlock
	runSection := func() {
		if len(section) == 0 {
			return
		}
		var script strings.Builder
		for _, b := range section {
			fmt.Fprintf(&script, "# README.md:%d\n%s", b.line, b.body)
		}
		first := section[0]
		section = nil
		out, err := runBash(ctx, work, env, script.String())
		t.Logf("README.md:%d %s:\n%s", first.line, first.heading, out)
		if err != nil {
			t.Fatalf("README.md:%d (%s): %v\n%s", first.line, first.heading, err, out)
		}
	}
	heading := ""
	for i := 0; i < len(blocks); i++ {
		b := blocks[i]
		if b.lang != "bash" || b.mark == "skip" {
			continue
		}
		if b.heading != heading {
			runSection()
			heading = b.heading
		}
		switch b.mark {
		case "terminal 1":
			var lines []string
			for _, nb := range blocks[i+1:] {
				if nb.lang == "text" && strings.Contains(nb.body, "gig% ") {
					lines = strings.Split(strings.TrimRight(nb.body, "\n"), "\n")
					break
				}
			}
			term1, err = startTerminal(ctx, work, env, b, lines)
			if err != nil {
				t.Fatalf("README.md:%d: %v", b.line, err)
			}
			if err := term1.waitOutput(); err != nil {
				t.Fatalf("README.md:%d (terminal 1): %v\n%s", b.line, err, term1.out())
			}
			continue
		case "after terminal 1":
			runSection()
			endTerm1()
		}
		section = append(section, b)
	}
	runSection()
	endTerm1()
}

// readmeMachine makes a fresh machine's view: a copy of the repository's
// files (a fresh clone's), an empty HOME, a PATH with no GiG.fs program
// on it, and the go command's caches shared with this one (so that no
// module is fetched again).
func readmeMachine(t *testing.T) (work string, env []string) {
	t.Helper()
	root := readmeRoot(t)
	tmp := t.TempDir()
	work = filepath.Join(tmp, "gigfs")
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = root
	out, err := ls.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the worktree, or not a file
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	goenv := func(name string) string {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	var path []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "gig-quickstart")); err == nil {
			continue // testscript's commands, or an earlier go install
		}
		path = append(path, dir)
	}
	env = []string{
		"HOME=" + home,
		"PATH=" + strings.Join(path, string(filepath.ListSeparator)),
		"GOMODCACHE=" + goenv("GOMODCACHE"),
		"GOCACHE=" + goenv("GOCACHE"),
		"GOPROXY=" + goenv("GOPROXY"),
		"GOTOOLCHAIN=" + goenv("GOTOOLCHAIN"),
		"GOFLAGS=" + goenv("GOFLAGS"),
		"TMPDIR=" + tmp,
		"LANG=C.UTF-8",
		"TERM=dumb",
	}
	return work, env
}

// runBash runs a script as a terminal would, stopping at the first
// command that fails; the processes it leaves behind are killed.
func runBash(ctx context.Context, dir string, env []string, script string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what a failed script left running
	}
	return out.String(), err
}

// A readmeTerminal is terminal 1: the set-up command in the background.
type readmeTerminal struct {
	ctx   context.Context
	line  int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	buf   *lockedBuffer
	want  []string // the outputs the README shows for its gig% lines
	done  chan error
}

func startTerminal(ctx context.Context, dir string, env []string, b readmeBlock, transcript []string) (*readmeTerminal, error) {
	cmd := exec.Command("bash", "--noprofile", "--norc", "-e", "-c", b.body)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	term := &readmeTerminal{ctx: ctx, line: b.line, cmd: cmd, stdin: stdin, buf: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = term.buf, term.buf
	var input strings.Builder
	for _, l := range transcript {
		if c, ok := strings.CutPrefix(l, "gig% "); ok {
			input.WriteString(c + "\n")
		} else {
			term.want = append(term.want, l)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { term.done <- cmd.Wait() }()
	if _, err := io.WriteString(stdin, input.String()); err != nil {
		term.kill()
		return nil, err
	}
	return term, nil
}

func (term *readmeTerminal) out() string { return term.buf.String() }

// waitOutput waits until the terminal has printed the README's outputs,
// in order (the quickstart's own lines between them).
func (term *readmeTerminal) waitOutput() error {
	for {
		changed := term.buf.changed()
		missing := subsequence(term.buf.String(), term.want)
		if missing == "" {
			return nil
		}
		select {
		case err := <-term.done:
			term.done <- err
			return fmt.Errorf("exited (%v) before printing %q", err, missing)
		case <-term.ctx.Done():
			return fmt.Errorf("never printed %q", missing)
		case <-changed:
		}
	}
}

// subsequence returns the first of want that is not among the lines of
// out, in order, or "".
func subsequence(out string, want []string) string {
	lines := strings.Split(out, "\n")
	i := 0
	for _, w := range want {
		for i < len(lines) && lines[i] != w {
			i++
		}
		if i == len(lines) {
			return w
		}
		i++
	}
	return ""
}

// end closes the terminal's input (Ctrl-D) and waits for it to exit 0.
func (term *readmeTerminal) end() error {
	term.stdin.Close()
	select {
	case err := <-term.done:
		syscall.Kill(-term.cmd.Process.Pid, syscall.SIGKILL)
		if err != nil {
			return fmt.Errorf("after Ctrl-D: %v", err)
		}
		return nil
	case <-term.ctx.Done():
		term.kill()
		return fmt.Errorf("did not exit after Ctrl-D")
	}
}

func (term *readmeTerminal) kill() {
	syscall.Kill(-term.cmd.Process.Pid, syscall.SIGKILL)
	<-term.done
}

// lockedBuffer is a buffer written by a process and read by the test,
// which can wait for it to change.
type lockedBuffer struct {
	mu  sync.Mutex
	b   bytes.Buffer
	sig chan struct{}
}

func (lb *lockedBuffer) Write(p []byte) (int, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.sig != nil {
		close(lb.sig)
		lb.sig = nil
	}
	return lb.b.Write(p)
}

func (lb *lockedBuffer) String() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.b.String()
}

// changed is closed at the next write.
func (lb *lockedBuffer) changed() <-chan struct{} {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.sig == nil {
		lb.sig = make(chan struct{})
	}
	return lb.sig
}
