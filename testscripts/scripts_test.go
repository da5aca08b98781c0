package testscripts

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"gigfs.io/gigfs/netstore/storefs"
	"gigfs.io/gigfs/srv9p"
	"gigfs.io/gigfs/table"
	"gigfs.io/gigfs/tools"
)

type mainFunc func(args []string, stdin io.Reader, stdout, stderr io.Writer) int

// programs are the GiG.fs programs, by name.
var programs = map[string]mainFunc{
	"gig-get":        tools.GetMain,
	"gig-push":       tools.PushMain,
	"gig-watch":      tools.WatchMain,
	"gig-sync":       tools.SyncMain,
	"gig-log":        tools.LogMain,
	"gig-ls":         tools.LsMain,
	"gig-calls":      tools.CallsMain,
	"gig-status":     tools.StatusMain,
	"gig-session":    tools.SessionMain,
	"gig-channel":    tools.ChannelMain,
	"gig-admin":      tools.AdminMain,
	"gig-fs":         tools.FsMain,
	"gigsh":          tools.GigshMain,
	"gig-quickstart": tools.QuickstartMain,
	"gig-table":      func(args []string, _ io.Reader, _, _ io.Writer) int { return table.Main(args) },
	"gig-store": func(args []string, _ io.Reader, _, _ io.Writer) int {
		return storefs.Main(args, table.NewChecker())
	},
}

func init() {
	programs["head1"] = head1
	programs["tailf"] = tailf
	programs["tofile"] = tofile
	programs["ninep-ls"] = ninepLs
}

func TestMain(m *testing.M) {
	cmds := map[string]func(){
		"tofile":       tofileMain,
		"pipe":         pipeMain,
		"max-reducer":  maxReducerMain,
		"fail-reducer": failReducerMain,
		"repeat":       repeatMain,
	}
	for name, f := range programs {
		cmds[name] = func() { os.Exit(f(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
	}
	testscript.Main(m, cmds)
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitaddr": cmdWaitaddr,
			"waitfile": cmdWaitfile,
			"envout":   cmdEnvout,
			"until":    cmdUntil,
			"sleep":    cmdSleep,
			"dotenv":   cmdDotenv,
			"status":   cmdStatus,
		},
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// A program built with -race sleeps a second at exit, waiting
			// for reports; scripts run dozens of programs.
			env.Setenv("GORACE", "atexit_sleep_ms=0 "+os.Getenv("GORACE"))
			return nil
		},
	})
}

// waitFor is how long the wait commands wait.
const waitFor = 20 * time.Second

func cmdWaitaddr(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: waitaddr addr...")
	}
	for _, a := range args {
		network, addr, err := srv9p.ParseAddr(a)
		ts.Check(err)
		deadline := time.Now().Add(waitFor)
		for {
			c, err := net.DialTimeout(network, addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				ts.Fatalf("%s does not listen: %v", a, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	count := 1
	if len(args) > 0 && strings.HasPrefix(args[0], "-count=") {
		n, err := strconv.Atoi(strings.TrimPrefix(args[0], "-count="))
		ts.Check(err)
		count, args = n, args[1:]
	}
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfile [-count=N] regexp file")
	}
	re, err := regexp.Compile("(?m)" + args[0])
	ts.Check(err)
	name := ts.MkAbs(args[1])
	deadline := time.Now().Add(waitFor)
	for {
		b, _ := os.ReadFile(name)
		if len(re.FindAllIndex(b, -1)) >= count {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s: no %d matches of %q after %v; it holds:\n%s", args[1], count, args[0], waitFor, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cmdEnvout(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: envout NAME [regexp]")
	}
	out := ts.ReadFile("stdout")
	v := strings.TrimSpace(out)
	if len(args) == 2 {
		m := regexp.MustCompile("(?m)" + args[1]).FindStringSubmatch(out)
		if len(m) < 2 {
			ts.Fatalf("envout: %q does not match stdout:\n%s", args[1], out)
		}
		v = m[1]
	}
	if v == "" {
		ts.Fatalf("envout: stdout is empty")
	}
	ts.Setenv(args[0], v)
}

func cmdUntil(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: until regexp prog args...")
	}
	re := regexp.MustCompile("(?m)" + args[0])
	deadline := time.Now().Add(waitFor)
	for {
		err := ts.Exec(args[1], args[2:]...)
		out := ts.ReadFile("stdout")
		if err == nil && re.MatchString(out) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("until: %s never printed %q (last: %v)", args[1], args[0], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cmdDotenv sets the variables of the export lines of a file, as the
// shell's . file does with quickstart.env.
func cmdDotenv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: dotenv file")
	}
	n := 0
	for _, line := range strings.Split(ts.ReadFile(args[0]), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = v[1 : len(v)-1]
		}
		ts.Setenv(k, v)
		n++
	}
	if n == 0 {
		ts.Fatalf("dotenv: no variables in %s", args[0])
	}
}

// cmdStatus runs a program and checks its exit status:
// status 3 gig-push demo counter /n 1.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N prog args...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep duration")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// tofileMain runs a program with stdout and stderr going to files; a
// non-zero exit status is the last line of the stderr file.
func tofileMain() {
	os.Exit(tofile(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// tofile is tofileMain as a program of its own, for pipe.
func tofile(args []string, stdin io.Reader, _, stderr io.Writer) int {
	if len(args) < 3 {
		fmt.Fprintln(stderr, "usage: tofile out err prog args...")
		return 2
	}
	out, err := os.Create(args[0])
	check(err)
	errf, err := os.Create(args[1])
	check(err)
	f := programs[args[2]]
	if f == nil {
		fmt.Fprintf(stderr, "tofile: unknown program %s\n", args[2])
		return 2
	}
	code := f(args[3:], stdin, out, errf)
	if code != 0 {
		fmt.Fprintf(errf, "tofile: %s: exit status %d\n", args[2], code)
	}
	out.Close()
	errf.Close()
	return code
}

// pipeMain runs prog1 | prog2 in this process, both stderrs into a file.
// Its status is the first non-zero status of the two (pipefail).
func pipeMain() {
	args := os.Args[1:]
	bar := -1
	for i, a := range args {
		if a == "|" {
			bar = i
		}
	}
	if len(args) < 4 || bar < 2 || bar == len(args)-1 {
		fmt.Fprintln(os.Stderr, "usage: pipe errfile prog args... '|' prog2 args...")
		os.Exit(2)
	}
	errf, err := os.Create(args[0])
	check(err)
	var mu sync.Mutex
	stderr := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return errf.Write(p)
	})
	left, right := args[1:bar], args[bar+1:]
	f1, f2 := programs[left[0]], programs[right[0]]
	if f1 == nil || f2 == nil {
		fmt.Fprintln(os.Stderr, "pipe: unknown program")
		os.Exit(2)
	}
	pr, pw := io.Pipe()
	codes := make(chan int, 1)
	go func() {
		code := f1(left[1:], os.Stdin, pw, stderr)
		pw.Close()
		codes <- code
	}()
	code2 := f2(right[1:], pr, os.Stdout, stderr)
	pr.Close() // the first program's next write fails: its reader went away
	code1 := <-codes
	errf.Close()
	if code1 != 0 {
		os.Exit(code1)
	}
	os.Exit(code2)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// head1 copies one line from stdin to stdout.
func head1(_ []string, stdin io.Reader, stdout, _ io.Writer) int {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return 1
	}
	fmt.Fprint(stdout, line)
	return 0
}

// maxReducerMain is a reducer program: the largest number of the value
// and the payloads.
func maxReducerMain() {
	sc := bufio.NewScanner(os.Stdin)
	var best *float64
	for sc.Scan() {
		var rec struct {
			Value, Payload *float64
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			fmt.Fprintf(os.Stderr, "max-reducer: %v\n", err)
			os.Exit(1)
		}
		for _, v := range []*float64{rec.Value, rec.Payload} {
			if v != nil && (best == nil || *v > *best) {
				best = v
			}
		}
	}
	if best == nil {
		fmt.Println("null")
		return
	}
	fmt.Println(strconv.FormatFloat(*best, 'g', -1, 64))
}

func failReducerMain() {
	io.Copy(io.Discard, os.Stdin)
	fmt.Fprintln(os.Stderr, "fail-reducer: no good")
	os.Exit(3)
}

// repeatMain runs a program n times, p at a time, as separate processes;
// it fails with the first run that fails.
//
//	repeat n p prog args...
func repeatMain() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: repeat n p prog args...")
		os.Exit(2)
	}
	n, err1 := strconv.Atoi(os.Args[1])
	p, err2 := strconv.Atoi(os.Args[2])
	if err1 != nil || err2 != nil || n < 0 || p < 1 {
		fmt.Fprintln(os.Stderr, "repeat: n and p are counts")
		os.Exit(2)
	}
	prog, args := os.Args[3], os.Args[4:]
	sem := make(chan struct{}, p)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, err := exec.Command(prog, args...).CombinedOutput()
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("run %d: %v: %s", i+1, err, out)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		fmt.Fprintln(os.Stderr, "repeat:", first)
		os.Exit(1)
	}
	fmt.Printf("%d runs of %s\n", n, prog)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// tailf copies a file to stdout as it grows, as tail -f does, until a
// line "EOF" (not copied): a script feeds a long-running program's stdin
// by rewriting the file with more lines (cp).
func tailf(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: tailf file")
		return 2
	}
	done := 0
	for {
		b, _ := os.ReadFile(args[0])
		for {
			i := strings.IndexByte(string(b[min(done, len(b)):]), '\n')
			if i < 0 {
				break
			}
			line := string(b[done : done+i+1])
			done += i + 1
			if line == "EOF\n" {
				return 0
			}
			if _, err := io.WriteString(stdout, line); err != nil {
				return 1
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ninepLs lists a folder of a 9P server, one name a line, sorted, as an
// anonymous attach (gig-fs): ninep-ls addr path.
func ninepLs(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: ninep-ls addr path")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := srv9p.Dial(ctx, args[0], "none", "")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer c.Close()
	var names []string
	err = c.Do(ctx, func() error {
		fid, err := c.Fsys().Open(args[1], 0)
		if err != nil {
			return err
		}
		defer fid.Close()
		ents, err := fid.Dirreadall()
		for _, e := range ents {
			names = append(names, e.Name)
		}
		return err
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return 0
}
