package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// The tests of this file mount a store's tree with mount9p, the FUSE client
// of github.com/knusbaum/go9p, built from the module cache, and use it with
// plain shell tools.

// fuseTimeout bounds every wait on the mount: generous, for a loaded
// two-core machine.
const fuseTimeout = 20 * time.Second

// needFUSE skips the test when this machine cannot mount FUSE file systems.
func needFUSE(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("FUSE tests run on Linux only")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no FUSE here: /dev/fuse is missing (%v); install fuse3 and run where /dev/fuse exists", err)
	}
	if _, err := exec.LookPath("fusermount"); err != nil {
		t.Skip("no FUSE here: fusermount is not installed (Debian: apt-get install fuse3)")
	}
}

var mount9p struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// mount9pBinary builds mount9p once per test run. The module in
// testdata/mount9p pins go9p v1.18.0 and its dependencies (go-fuse among
// them), with their go.sum: the main module does not list go-fuse.
func mount9pBinary(t *testing.T) string {
	t.Helper()
	m := &mount9p
	m.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if m.dir, m.err = os.MkdirTemp("", "gigfs-mount9p-"); m.err != nil {
			return
		}
		src, err := filepath.Abs(filepath.Join("testdata", "mount9p"))
		if err != nil {
			m.err = err
			return
		}
		m.bin = filepath.Join(m.dir, "mount9p")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, "build", "-o", m.bin, "github.com/knusbaum/go9p/cmd/mount9p")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			m.err = fmt.Errorf("go build mount9p in %s: %v\n%s", src, err, out)
		}
	})
	if m.err != nil {
		t.Fatal(m.err)
	}
	return m.bin
}

// fuseMount is a running mount9p.
type fuseMount struct {
	dir    string // the mount point
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startMount9p runs mount9p in its own session against the store, as
//
//	setsid mount9p -user <uname> -aname '<aname>' <host:port> <dir> &
func startMount9p(t *testing.T, s *store, uname, aname string) *fuseMount {
	t.Helper()
	return startMount9pAt(t, s.addr, uname, aname)
}

// startMount9pAt runs mount9p against the 9P server at addr (host:port).
func startMount9pAt(t *testing.T, addr, uname, aname string) *fuseMount {
	t.Helper()
	bin := mount9pBinary(t)
	m := &fuseMount{dir: filepath.Join(t.TempDir(), "mnt"), out: new(syncBuffer), exited: make(chan struct{})}
	if err := os.Mkdir(m.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m.cmd = exec.Command(bin, "-user", uname, "-aname", aname, addr, m.dir)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // what setsid(1) does
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.cmd.Wait(); close(m.exited) }()
	t.Cleanup(func() {
		if m.mounted() {
			ctx, cancel := context.WithTimeout(context.Background(), fuseTimeout)
			defer cancel()
			if out, err := exec.CommandContext(ctx, "fusermount", "-u", "-z", m.dir).CombinedOutput(); err != nil {
				t.Logf("fusermount -u -z %s: %v %s", m.dir, err, out)
			}
		}
		m.cmd.Process.Kill()
		select {
		case <-m.exited:
		case <-time.After(fuseTimeout):
			t.Errorf("mount9p (pid %d) did not exit after SIGKILL", m.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("mount9p output:\n%s", m.out)
		}
	})
	return m
}

// mounted reports whether m.dir is a FUSE mount point, from
// /proc/self/mountinfo (which does not touch the mount).
func (m *fuseMount) mounted() bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[4] != m.dir {
			continue
		}
		if _, after, ok := strings.Cut(line, " - "); ok && strings.HasPrefix(after, "fuse") {
			return true
		}
	}
	return false
}

// waitMounted waits until the mount of a store's tree is live and answers ls.
func (m *fuseMount) waitMounted(t *testing.T) {
	t.Helper()
	m.waitListing(t, "status\nuser\n") // a store's root
}

// waitListing waits until the mount is live and ls of its top prints want.
func (m *fuseMount) waitListing(t *testing.T, want string) {
	t.Helper()
	ok := waitFor(fuseTimeout, func() bool {
		select {
		case <-m.exited:
			return true
		default:
		}
		return m.mounted()
	})
	select {
	case <-m.exited:
		t.Fatalf("mount9p exited: %v\n%s", m.cmd.ProcessState, m.out)
	default:
	}
	if !ok {
		t.Fatalf("%s not mounted after %v; mount9p says:\n%s", m.dir, fuseTimeout, m.out)
	}
	if r := m.sh(t, "ls"); r.code != 0 || r.stdout != want {
		t.Fatalf("ls of the mount: %+v, want %q", r, want)
	}
}

type shResult struct {
	stdout, stderr string
	code           int
}

// sh runs a shell script in the mount point, within fuseTimeout. Arguments
// are $1, $2...
func (m *fuseMount) sh(t *testing.T, script string, args ...string) shResult {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := m.run(cmd)
	if errors.Is(err, errStuck) {
		t.Fatal(err)
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("sh -c %q: %v", script, err)
		}
		code = ee.ExitCode()
	}
	return shResult{stdout.String(), stderr.String(), code}
}

// run runs cmd in the mount point and waits for it, within fuseTimeout.
// A process waiting on a FUSE request that mount9p has taken cannot be
// killed: past the timeout, run kills mount9p, which fails the request,
// and returns an error wrapping errStuck.
func (m *fuseMount) run(cmd *exec.Cmd) error {
	cmd.Dir = m.dir
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(fuseTimeout):
	}
	cmd.Process.Kill()
	select {
	case <-done:
		return fmt.Errorf("%w: %v: no answer within %v", errStuck, cmd.Args, fuseTimeout)
	case <-time.After(2 * time.Second):
	}
	m.cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(fuseTimeout):
	}
	return fmt.Errorf("%w: %v: stuck in the mount for %v; killed mount9p", errStuck, cmd.Args, fuseTimeout)
}

var errStuck = errors.New("stuck")

// mustSh is sh, failing unless the script exits 0.
func (m *fuseMount) mustSh(t *testing.T, script string, args ...string) string {
	t.Helper()
	r := m.sh(t, script, args...)
	if r.code != 0 {
		t.Fatalf("sh -c %q %q: exit %d, stderr: %s", script, args, r.code, r.stderr)
	}
	return r.stdout
}

func oplogText(t *testing.T, s *store, typ, path string) string {
	t.Helper()
	b, _, err := s.svc.Read("alice", typ, path)
	if err != nil {
		t.Fatalf("read %s %s on the store: %v", typ, path, err)
	}
	return string(b)
}

func TestFUSE_Mount9p(t *testing.T) {
	needFUSE(t)
	s := startStore(t, "")
	token := s.user("alice")
	op1, deep := newOp(t, "pre", 1, `1`), newOp(t, "pre", 1, `"v"`)
	if _, err := s.svc.Push(context.Background(), "alice", []netstore.Record{
		{Type: "counter", Path: "/a", Op: op1},
		{Type: "lww", Path: "/deep/er/p", Op: deep},
	}); err != nil {
		t.Fatal(err)
	}
	m := startMount9p(t, s, "alice", "token "+token)
	m.waitMounted(t)
	home := "user/alice"
	a := home + "/oplog/counter/a"

	t.Run("ls", func(t *testing.T) {
		if got := m.mustSh(t, "ls "+home); got != "calls\nctl\nnames\noplog\npush\nstream\n" {
			t.Errorf("ls %s: %q", home, got)
		}
		// The status file: a FUSE read goes as far as its stat's length.
		if got := m.mustSh(t, "cat status"); !strings.Contains(got, "server gig-store\n") || !strings.Contains(got, "\nusers 1\n") {
			t.Errorf("cat status: %q", got)
		}
		if got := m.mustSh(t, "ls "+home+"/oplog"); got != "counter\nlww\n" {
			t.Errorf("ls oplog: %q", got)
		}
		if got := m.mustSh(t, "ls "+home+"/oplog/lww/deep/er"); got != "p\n" {
			t.Errorf("ls oplog/lww/deep/er: %q", got)
		}
		if r := m.sh(t, "ls "+home+"/oplog/nope"); r.code == 0 {
			t.Errorf("ls of a missing folder: %+v", r)
		}
		if r := m.sh(t, "ls user/bob"); r.code == 0 {
			t.Errorf("ls of another user: %+v", r)
		}
	})

	t.Run("cat", func(t *testing.T) {
		want := opLines(oplog.Initial(), op1)
		if got := m.mustSh(t, "cat "+a); got != want {
			t.Errorf("cat %s:\n%s\nwant\n%s", a, got, want)
		}
		if got := m.mustSh(t, "wc -c < "+a); strings.TrimSpace(got) != fmt.Sprint(len(want)) {
			t.Errorf("wc -c: %q, want %d", got, len(want))
		}
		if got := m.mustSh(t, "cat "+home+"/oplog/lww/deep/er/p"); got != opLines(oplog.Initial(), deep) {
			t.Errorf("cat deep oplog:\n%s", got)
		}
	})

	t.Run("append", func(t *testing.T) {
		op2, op3, op4 := newOp(t, "sh", 1, `2`), newOp(t, "sh", 2, `3`), newOp(t, "sh", 3, `{"x":[4]}`)
		m.mustSh(t, `echo "$1" >> `+a, strings.TrimSuffix(opLines(op2), "\n"))
		m.mustSh(t, `printf '%s\n%s\n' "$1" "$2" >> `+a, strings.TrimSuffix(opLines(op3), "\n"), strings.TrimSuffix(opLines(op4), "\n"))
		want := opLines(oplog.Initial(), op1, op2, op3, op4)
		if got := oplogText(t, s, "counter", "/a"); got != want {
			t.Fatalf("store after echo >>:\n%s\nwant\n%s", got, want)
		}
		var got string
		if !waitFor(fuseTimeout, func() bool { got = m.mustSh(t, "cat "+a); return got == want }) {
			t.Fatalf("cat after echo >>:\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("malformed", func(t *testing.T) {
		before := oplogText(t, s, "counter", "/a")
		forged := newOp(t, "sh", 9, `9`)
		forged.Payload = []byte(`10`)
		for _, line := range []string{
			"{not an op",
			`{"date":1}`,
			"hello world",
			strings.TrimSuffix(opLines(forged), "\n"),
		} {
			r := m.sh(t, `echo "$1" >> `+a, line)
			if r.code == 0 {
				t.Errorf("echo %q >> oplog: exit 0, want a failure", line)
			}
		}
		if after := oplogText(t, s, "counter", "/a"); after != before {
			t.Fatalf("refused lines changed the oplog:\n%s\nwas\n%s", after, before)
		}
		if got := m.mustSh(t, "cat "+a); got != before {
			t.Fatalf("cat after refused lines:\n%s\nwant\n%s", got, before)
		}
	})

	t.Run("create", func(t *testing.T) {
		// A new oplog: create it with ": >>", then append in another open.
		// (Not touch: mount9p answers its utimensat with garbage attributes
		// and the kernel fails it with EIO. Not echo >> on a missing file:
		// mount9p cannot write through the open that created a file, see
		// doc.go.)
		b := home + "/oplog/counter/b"
		o := newOp(t, "sh", 1, `5`)
		m.mustSh(t, ": >> "+b)
		if got := oplogText(t, s, "counter", "/b"); got != opLines(oplog.Initial()) {
			t.Fatalf("new oplog: %q", got)
		}
		m.mustSh(t, `echo "$1" >> `+b, strings.TrimSuffix(opLines(o), "\n"))
		if got := oplogText(t, s, "counter", "/b"); got != opLines(oplog.Initial(), o) {
			t.Fatalf("after echo >> new oplog:\n%s", got)
		}
		if got := m.mustSh(t, "ls "+home+"/oplog/counter"); got != "a\nb\n" {
			t.Errorf("ls counter: %q", got)
		}
		// An oplog right under oplog/ (no type folder) is refused.
		if r := m.sh(t, ": >> "+home+"/oplog/typeless"); r.code == 0 {
			t.Errorf("created an oplog outside a type folder: %+v", r)
		}
	})

	t.Run("mkdir", func(t *testing.T) {
		// mount9p's mkdir creates with mode ORDWR; see
		// TestGo9p_CreateDirORDWR. Either it works, or it fails and makes
		// nothing.
		notes := home + "/oplog/notes"
		r := m.sh(t, "mkdir "+notes)
		_, err := s.svc.Kind("alice", []string{"notes"})
		switch {
		case r.code == 0 && err != nil:
			t.Fatalf("mkdir succeeded but the store has no folder: %v", err)
		case r.code != 0 && err == nil:
			t.Errorf("BUG (srv9p create): mkdir failed (%s) yet the store made the folder", strings.TrimSpace(r.stderr))
			// Go on with the folder the failed mkdir made, once mount9p's
			// cache of the parent's listing (5 s) has expired.
			if !waitFor(fuseTimeout, func() bool { return m.sh(t, "ls -d "+notes).code == 0 }) {
				t.Fatalf("%s never shows", notes)
			}
		case r.code != 0:
			t.Logf("mkdir through mount9p refused (%s): type folders are made by pushing", strings.TrimSpace(r.stderr))
			return
		}
		o := newOp(t, "sh", 1, `"n"`)
		m.mustSh(t, ": >> "+notes+"/n1")
		m.mustSh(t, `echo "$1" >> `+notes+"/n1", strings.TrimSuffix(opLines(o), "\n"))
		if got := oplogText(t, s, "notes", "/n1"); got != opLines(oplog.Initial(), o) {
			t.Fatalf("notes/n1:\n%s", got)
		}
		if got := m.mustSh(t, "cat "+notes+"/n1"); got != opLines(oplog.Initial(), o) {
			t.Fatalf("cat notes/n1:\n%s", got)
		}
	})

	t.Run("ctl", func(t *testing.T) {
		// The reply belongs to the open file that wrote the command, and
		// reads from offset 0: cat on the same descriptor would read from
		// after the command. Write, then pread at 0.
		f, err := os.OpenFile(filepath.Join(m.dir, home, "ctl"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write([]byte("cursor\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := f.ReadAt(buf, 0)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		want, err := go9pCtl(s.mustGo9p("alice", "token "+token), "/user/alice/ctl", "cursor")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != want || !strings.HasPrefix(got, s.svc.Epoch()+" ") {
			t.Fatalf("cursor through FUSE: %q, over 9P: %q", got, want)
		}
		if _, err := f.Write([]byte("frobnicate\n")); err == nil {
			t.Fatal("unknown ctl command accepted")
		}
		// Plan 9 habits from the shell: "echo cmd > ctl" truncates the
		// file first (accepted and ignored), and a reply read on the
		// descriptor that wrote starts where the write ended.
		m.mustSh(t, "echo cursor > "+home+"/ctl")
		if got := m.mustSh(t, "exec 3<>"+home+"/ctl; echo cursor >&3; cat <&3"); got != want {
			t.Fatalf("exec 3<>ctl; echo cursor >&3; cat <&3: %q, want %q", got, want)
		}
		// A refused command fails the write; the server logs why.
		if r := m.sh(t, "echo frobnicate > "+home+"/ctl"); r.code == 0 {
			t.Fatalf("echo frobnicate > ctl: %+v", r)
		}
		if !waitFor(fuseTimeout, func() bool {
			return s.logs.contains(`write /user/alice/ctl refused: invalid: unknown command "frobnicate"`)
		}) {
			t.Fatalf("the store did not log the refused write:\n%s", s.logs)
		}
		// The same with perl, a plain tool, where there is one.
		if _, err := exec.LookPath("perl"); err == nil {
			got := m.mustSh(t, `perl -e 'open(F, "+<", $ARGV[0]) or die "$!"; syswrite(F, "cursor\n") or die "$!"; sysseek(F, 0, 0); sysread(F, $b, 4096); print $b' `+home+"/ctl")
			if got != want {
				t.Fatalf("perl ctl: %q, want %q", got, want)
			}
		}
	})

	t.Run("push", func(t *testing.T) {
		o := newOp(t, "sh", 1, `7`)
		m.mustSh(t, `echo "$1" >> `+home+"/push", pushLines(netstore.Record{Type: "counter", Path: "/pushed", Op: o}))
		if got := oplogText(t, s, "counter", "/pushed"); got != opLines(oplog.Initial(), o) {
			t.Fatalf("pushed through FUSE:\n%s", got)
		}
		// The reply reads back on the same open file.
		f, err := os.OpenFile(filepath.Join(m.dir, home, "push"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write([]byte(pushLines(netstore.Record{Type: "counter", Path: "/pushed", Op: o}) + "{bad\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, _ := f.ReadAt(buf, 0)
		if got := lines(string(buf[:n])); len(got) != 2 || !strings.HasPrefix(got[0], "duplicate") || !strings.HasPrefix(got[1], "invalid: malformed op") {
			t.Fatalf("push reply through FUSE: %q", buf[:n])
		}
	})

	t.Run("stream", func(t *testing.T) {
		// head blocks in read until an event comes. It may open the stream
		// after a push, and then waits for the next one: push until it
		// prints.
		head := exec.Command("head", "-n", "1", home+"/stream")
		var out, errOut bytes.Buffer
		head.Stdout, head.Stderr = &out, &errOut
		done := make(chan error, 1)
		go func() { done <- m.run(head) }()
		deadline := time.After(fuseTimeout)
		shas := make(map[string]bool)
		var err error
	loop:
		for seq := uint64(1); ; seq++ {
			o := newOp(t, "stream", seq, fmt.Sprint(seq))
			shas[o.Sha] = true
			m.mustSh(t, `echo "$1" >> `+a, strings.TrimSuffix(opLines(o), "\n"))
			select {
			case err = <-done:
				break loop
			case <-deadline:
				t.Fatalf("head -n 1 stream printed nothing after %d pushes in %v", seq, fuseTimeout)
			case <-time.After(250 * time.Millisecond):
			}
		}
		if err != nil {
			t.Fatalf("head -n 1 stream: %v; stderr: %s", err, errOut.String())
		}
		ev, perr := netstore.ParseEvent(out.Bytes())
		if perr != nil || !strings.HasSuffix(out.String(), "\n") || strings.Count(out.String(), "\n") != 1 {
			t.Fatalf("head -n 1 stream: %q: %v", out.String(), perr)
		}
		o, derr := oplog.Decode(ev.Op)
		if derr != nil || ev.Type != "counter" || ev.Path != "/a" || ev.Epoch != s.svc.Epoch() || !shas[o.Sha] {
			t.Fatalf("event %+v (%v)", ev, derr)
		}
	})
}

// TestFUSE_StreamInterrupt: a read of stream blocks until an op comes.
// mount9p sends no Tflush when FUSE interrupts a request (it ignores the
// request's context), and once a read has reached it the kernel waits for
// the answer whatever the signal, SIGKILL included (state D). So a Ctrl-C
// takes effect when the next op arrives: pushing any op ends the reader.
// (Killing mount9p also ends it, and the mount with it.)
func TestFUSE_StreamInterrupt(t *testing.T) {
	needFUSE(t)
	s := startStore(t, "")
	token := s.user("alice")
	m := startMount9p(t, s, "alice", "token "+token)
	m.waitMounted(t)
	cat := exec.Command("cat", "user/alice/stream")
	cat.Dir = m.dir
	var out bytes.Buffer
	cat.Stdout = &out
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cat.Wait() }()
	// Wait until cat is in its read (syscall 0 on amd64, 63 on arm64).
	inRead := func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", cat.Process.Pid))
		f := strings.Fields(string(b))
		return err == nil && len(f) > 0 && (f[0] == "0" && runtime.GOARCH == "amd64" || f[0] == "63" && runtime.GOARCH == "arm64")
	}
	if !waitFor(fuseTimeout, inRead) {
		cat.Process.Kill()
		t.Fatalf("cat never blocked in read of the stream")
	}
	cat.Process.Signal(syscall.SIGINT) // Ctrl-C
	// An op arrives: the read answers, and the signal ends cat.
	if _, err := s.svc.Push(context.Background(), "alice", []netstore.Record{{Type: "counter", Path: "/wake", Op: newOp(t, "wake", 1, "1")}}); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(fuseTimeout):
		t.Fatalf("cat, interrupted, still runs %v after an op came", fuseTimeout)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
		t.Fatalf("cat after SIGINT and an op: %v (stdout %q)", err, out.String())
	}
	if got := m.mustSh(t, "ls user/alice"); got != "calls\nctl\nnames\noplog\npush\nstream\n" {
		t.Fatalf("ls after the interrupted read: %q", got)
	}
}

// A refused attach stops mount9p with the store's error, and mounts nothing.
func TestFUSE_Mount9pRefused(t *testing.T) {
	needFUSE(t)
	s := startStore(t, "")
	s.user("alice")
	m := startMount9p(t, s, "alice", "token "+storeID+".forged.mac")
	select {
	case <-m.exited:
	case <-time.After(fuseTimeout):
		t.Fatalf("mount9p with a bad token still runs after %v; mounted: %v", fuseTimeout, m.mounted())
	}
	if m.cmd.ProcessState.Success() {
		t.Fatal("mount9p with a bad token exited 0")
	}
	if out := m.out.String(); !strings.Contains(out, "token refused") {
		t.Fatalf("mount9p with a bad token says: %q, want token refused", out)
	}
	if m.mounted() {
		t.Fatal("mounted with a bad token")
	}
}
