package gigfs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain doubles as the processes of the tests that share a local store:
// with GIGFS_TEST_ROLE set, the test binary plays that role (helperMain).
func TestMain(m *testing.M) {
	if role := os.Getenv("GIGFS_TEST_ROLE"); role != "" {
		os.Exit(helperMain(role))
	}
	os.Exit(m.Run())
}

// shareConfig is the client configuration of a helper process: one channel
// "n" on the on-disk store in dir.
func shareConfig(dir string, logf func(string, ...any)) Config {
	return Config{
		LocalTable: map[string][]LocalStore{"n": {{StoragePath: dir}}},
		Logf:       logf,
		SyncDelay:  5 * time.Millisecond,
	}
}

// helperMain runs one role, configured by the environment:
//
//	serve   open the store, say "serving" (or "client") and wait to be killed
//	watch   say "ready", then print the payload of every op of channel n
//	        (with its arrival time in ns when GIGFS_TEST_TIMES is set)
//	push    push GIGFS_TEST_N payloads "<GIGFS_TEST_ID>-<i>" to list /l,
//	        printing each once acknowledged; with GIGFS_TEST_ONESHOT each push
//	        opens a client of its own, as one-shot tools do
func helperMain(role string) int {
	dir := os.Getenv("GIGFS_TEST_DIR")
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	out := bufio.NewWriter(os.Stdout)
	say := func(s string) { out.WriteString(s + "\n"); out.Flush() }
	switch role {
	case "serve":
		c, err := New(shareConfig(dir, logf))
		if err != nil {
			logf("serve: %v", err)
			return 1
		}
		if c.disk[dir].serving() {
			say("serving")
		} else {
			say("client")
		}
		select {}
	case "watch":
		c, err := New(shareConfig(dir, logf))
		if err != nil {
			logf("watch: %v", err)
			return 1
		}
		ops, err := c.WatchOps(context.Background(), "n")
		if err != nil {
			logf("watch: %v", err)
			return 1
		}
		times := os.Getenv("GIGFS_TEST_TIMES") != ""
		say("ready")
		for ev := range ops {
			var p string
			json.Unmarshal(ev.Op.Payload, &p)
			if times {
				p += " " + strconv.FormatInt(time.Now().UnixNano(), 10)
			}
			say(p)
		}
		return 0
	case "push":
		n, _ := strconv.Atoi(os.Getenv("GIGFS_TEST_N"))
		id := os.Getenv("GIGFS_TEST_ID")
		oneshot := os.Getenv("GIGFS_TEST_ONESHOT") != ""
		var c *Client
		for i := 0; i < n; i++ {
			if c == nil {
				var err error
				if c, err = New(shareConfig(dir, logf)); err != nil {
					logf("push: %v", err)
					return 1
				}
			}
			p := fmt.Sprintf("%s-%d", id, i)
			b, _ := json.Marshal(p)
			if _, err := c.Push(context.Background(), "n", "list", "/l", b); err != nil {
				logf("push %s: %v", p, err)
				return 1
			}
			say(p)
			if oneshot {
				c.Close()
				c = nil
			}
		}
		if c != nil {
			c.Close()
		}
		return 0
	}
	logf("unknown role %q", role)
	return 2
}

// serving reports whether this process serves the store.
func (s *sharedStore) serving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disk != nil
}

// A helper is a process of the test binary playing a role.
type helper struct {
	cmd   *exec.Cmd
	lines chan string // its stdout, line by line; closed at its end
	done  chan error  // its exit
}

func startHelper(t testing.TB, role, dir string, env ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	name, _, _ := strings.Cut(role, " ") // "push p3": role push, for the log p3
	cmd.Env = append(os.Environ(), append([]string{"GIGFS_TEST_ROLE=" + name, "GIGFS_TEST_DIR=" + dir}, env...)...)
	cmd.Stderr = &testWriter{t: t, prefix: role}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, lines: make(chan string, 1<<16), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
		h.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-h.done
	})
	return h
}

// next is the helper's next line ("" once it has ended).
func (h *helper) next() string { return <-h.lines }

// testWriter logs what a helper writes on stderr, while the test runs.
type testWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		w.t.Logf("%s: %s", w.prefix, l)
	}
	return len(p), nil
}

var _ io.Writer = (*testWriter)(nil)

func storeDir(t testing.TB) string { return filepath.Join(t.TempDir(), "s") }

// Two clients of one process on one on-disk store: the first serves it, the
// second is its client; each sees the other's pushes in its value and its
// watch; when the server closes, the other takes over with nothing lost.
func TestLocalShare_TwoClientsTakeOver(t *testing.T) {
	dir := storeDir(t)
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"n": {{StoragePath: dir}}}
	a := mustClient(t, cfg)
	b := mustClient(t, cfg)
	if !a.disk[dir].serving() || b.disk[dir].serving() {
		t.Fatalf("serving: a %v b %v; want the first client to serve", a.disk[dir].serving(), b.disk[dir].serving())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wa, err := a.Watch(ctx, "n", "counter", "/x")
	if err != nil {
		t.Fatal(err)
	}
	mustPush(t, b, "n", "counter", "/x", "2")
	waitValue(t, wa, "2")
	wb, err := b.Watch(ctx, "n", "counter", "/x")
	if err != nil {
		t.Fatal(err)
	}
	mustPush(t, a, "n", "counter", "/x", "3")
	waitValue(t, wb, "5")

	// The server goes: b takes the lock, and its next push and read work.
	a.Close()
	mustPush(t, b, "n", "counter", "/x", "4")
	if !b.disk[dir].serving() {
		t.Fatal("b does not serve after a closed")
	}
	if got := mustGet(t, b, "n", "counter", "/x"); got != "9" {
		t.Fatalf("value after take-over %s, want 9", got)
	}
	// And a newcomer is b's client.
	c := mustClient(t, cfg)
	if c.disk[dir].serving() {
		t.Fatal("a newcomer serves while b does")
	}
	if got := mustGet(t, c, "n", "counter", "/x"); got != "9" {
		t.Fatalf("newcomer reads %s, want 9", got)
	}
}

// waitValue reads changes until one has the value want.
func waitValue(t *testing.T, ch <-chan Change, want string) {
	t.Helper()
	for chg := range ch {
		if string(chg.Value) == want {
			return
		}
	}
	t.Fatalf("watch ended before value %s", want)
}

// A watch and 8 pushers, separate processes, on one local channel; half
// the pushers open a client per push, as one-shot tools do, so servers come
// and go; the serving process is killed with SIGKILL in the middle. Every
// acknowledged push is in the value exactly once, and in the watch exactly
// once; no push fails.
func TestLocalShare_ProcessesSurviveKilledServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 10 processes")
	}
	dir := storeDir(t)
	server := startHelper(t, "serve", dir)
	if l := server.next(); l != "serving" {
		t.Fatalf("first process says %q, want serving", l)
	}
	watch := startHelper(t, "watch", dir)
	if l := watch.next(); l != "ready" {
		t.Fatalf("watch says %q", l)
	}
	const pushers, each = 8, 12
	acked := make(chan string, pushers*each)
	var wg sync.WaitGroup
	var failed []string
	var failMu sync.Mutex
	for i := 0; i < pushers; i++ {
		id := "p" + strconv.Itoa(i)
		env := []string{"GIGFS_TEST_ID=" + id, "GIGFS_TEST_N=" + strconv.Itoa(each)}
		if i%2 == 1 {
			env = append(env, "GIGFS_TEST_ONESHOT=1")
		}
		h := startHelper(t, "push "+id, dir, env...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range h.lines {
				acked <- l
			}
			if err := <-h.done; err != nil {
				failMu.Lock()
				failed = append(failed, fmt.Sprintf("%s: %v", id, err))
				failMu.Unlock()
			}
			h.done <- nil // for the cleanup
		}()
	}
	// Kill the server once a quarter of the pushes are acknowledged.
	got := make(map[string]bool)
	for len(got) < pushers*each/4 {
		got[<-acked] = true
	}
	if err := server.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(acked)
	for l := range acked {
		got[l] = true
	}
	if len(failed) > 0 {
		t.Fatalf("pushers failed: %v", failed)
	}
	if len(got) != pushers*each {
		t.Fatalf("%d pushes acknowledged, want %d", len(got), pushers*each)
	}

	// The value: each push once.
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"n": {{StoragePath: dir}}}
	c := mustClient(t, cfg)
	var list []string
	if err := json.Unmarshal([]byte(mustGet(t, c, "n", "list", "/l")), &list); err != nil {
		t.Fatal(err)
	}
	count := make(map[string]int)
	for _, p := range list {
		count[p]++
	}
	for p := range got {
		if count[p] != 1 {
			t.Errorf("push %s is %d times in the value", p, count[p])
		}
	}
	if len(list) != len(got) {
		t.Errorf("value has %d items, want %d", len(list), len(got))
	}

	// The watch: each push once. A last push, seen last, ends the count.
	mustPush(t, c, "n", "list", "/l", `"end"`)
	seen := make(map[string]int)
	for {
		l := watch.next()
		if l == "" {
			t.Fatal("the watch ended")
		}
		if l == "end" {
			break
		}
		seen[l]++
	}
	for p := range got {
		if seen[p] != 1 {
			t.Errorf("push %s is %d times in the watch", p, seen[p])
		}
	}
	if len(seen) != len(got) {
		t.Errorf("watch saw %d ops, want %d", len(seen), len(got))
	}
}

// A process killed while it serves leaves its socket; the next process takes
// the lock, removes it, and serves, with what was acknowledged intact.
func TestLocalShare_StaleSocketRecovered(t *testing.T) {
	dir := storeDir(t)
	p := startHelper(t, "push", dir, "GIGFS_TEST_ID=a", "GIGFS_TEST_N=3")
	for i := 0; i < 3; i++ {
		p.next()
	}
	<-p.done
	p.done <- nil
	server := startHelper(t, "serve", dir)
	if l := server.next(); l != "serving" {
		t.Fatalf("say %q", l)
	}
	server.cmd.Process.Signal(syscall.SIGKILL)
	<-server.done
	server.done <- nil
	sock, _ := socketPath(dir)
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the killed server left no socket (%v): the test tests nothing", err)
	}
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"n": {{StoragePath: dir}}}
	c := mustClient(t, cfg)
	if !c.disk[dir].serving() {
		t.Fatal("the next process does not serve")
	}
	if got := mustGet(t, c, "n", "list", "/l"); got != `["a-0","a-1","a-2"]` {
		t.Fatalf("value %s", got)
	}
}

// In-memory local stores stay private to their process.
func TestLocalShare_MemoryStaysPrivate(t *testing.T) {
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"m": {{InMemory: true}}}
	a := mustClient(t, cfg)
	b := mustClient(t, cfg)
	mustPush(t, a, "m", "counter", "/x", "1")
	if got := mustGet(t, b, "m", "counter", "/x"); got != "0" {
		t.Fatalf("another client reads %s from its memory store", got)
	}
}

// A socket path too long for a unix socket goes in a private folder of the
// user under $TMPDIR, named by the store's folder.
func TestLocalShare_LongPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	sock, err := socketPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(sock, dir) || len(sock) > maxSockPath {
		t.Fatalf("socket %s for %s", sock, dir)
	}
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"n": {{StoragePath: dir}}}
	a := mustClient(t, cfg)
	b := mustClient(t, cfg)
	mustPush(t, a, "n", "counter", "/x", "1")
	if got := mustGet(t, b, "n", "counter", "/x"); got != "1" {
		t.Fatalf("b reads %s", got)
	}
}

// The catch-up after a reconnection tells op watchers only of the ops
// dated up to the reconnection: later ones are the stream's, and reach
// watchers in its order. (A catch-up held up while the connection was
// down once told a watch of the newest op before the stream had replayed
// the ones before it.)
func TestLocalShare_CatchUpStaysInItsWindow(t *testing.T) {
	dir := storeDir(t)
	cfg := testConfig(t)
	cfg.LocalTable = map[string][]LocalStore{"n": {{StoragePath: dir}}}
	a := mustClient(t, cfg)
	b := mustClient(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live, err := b.WatchOps(ctx, "n")
	if err != nil {
		t.Fatal(err)
	}
	mustPush(t, a, "n", "list", "/l", `"p1"`)
	mustPush(t, a, "n", "list", "/m", `"p2"`)
	l, err := b.disk[dir].Read(ctx, "list", "/n/m")
	if err != nil {
		t.Fatal(err)
	}
	to := l.Ops()[0].Date // p2's
	for time.Now().UnixMilli() <= to {
		runtime.Gosched() // p3 is made after p2's date
	}
	mustPush(t, a, "n", "list", "/l", `"p3"`)
	for range 3 { // the stream has given all three
		<-live
	}

	// A watcher from the beginning of time hears p1 and p2, not p3.
	sub := newSubscriber(b)
	sub.seen, sub.channel = make(map[string]bool), "n"
	b.mu.Lock()
	b.chanSubs["n"][sub] = struct{}{}
	b.mu.Unlock()
	if !b.disk[dir].catchUp("n", 0, to, nil) {
		t.Fatal("catch-up failed")
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	var got []string
	for _, v := range sub.queue {
		got = append(got, string(v.(OpEvent).Op.Payload))
	}
	sort.Strings(got)
	if strings.Join(got, " ") != `"p1" "p2"` {
		t.Fatalf("catch-up up to p2's date told of %v, want p1 and p2", got)
	}
}
