package tools

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/internal/cluster"
	"gigfs.io/gigfs/srv9p"
)

// testCluster is a table and stores in this process, user demo with a
// session, and channels served by stores.
type testCluster struct {
	c       *cluster.Cluster
	session string
}

const testMaster = "correct-horse"

func startCluster(t testing.TB, stores int, channels map[string][]int) *testCluster {
	t.Helper()
	c, err := cluster.Start(t.TempDir(), stores, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session, err := c.User(ctx, "demo", testMaster)
	if err != nil {
		t.Fatal(err)
	}
	for ch, idx := range channels {
		for _, i := range idx {
			if err := c.AddStore(ctx, "demo", testMaster, ch, c.Stores[i], ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	return &testCluster{c: c, session: session}
}

func (tc *testCluster) args(args ...string) []string {
	return append([]string{"-table", tc.c.TableAddr, "-user", "demo", "-session", tc.session, "-timeout", "2s"}, args...)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
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

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type result struct {
	code           int
	stdout, stderr string
}

func run(main func([]string, io.Reader, io.Writer, io.Writer) int, stdin string, args ...string) result {
	var out, errb bytes.Buffer
	code := main(args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func TestTools_PushGetLogSync(t *testing.T) {
	tc := startCluster(t, 2, map[string][]int{"demo": {0, 1}})
	if r := run(PushMain, "", tc.args("demo", "counter", "/n", "2")...); r.code != 0 || r.stdout != "2\n" {
		t.Fatalf("push: %+v", r)
	}
	lines := `{"type":"counter","path":"/n","payload":40}` + "\n" + `{"type":"lww","path":"/s","payload":"x"}` + "\n"
	r := run(PushMain, lines, tc.args("demo")...)
	want := regexp.MustCompile(`^\{"type":"counter","path":"/n","sha":"[0-9a-f]{64}","value":42,"stored":true\}\n` +
		`\{"type":"lww","path":"/s","sha":"[0-9a-f]{64}","value":"x","stored":true\}\n$`)
	if r.code != 0 || !want.MatchString(r.stdout) {
		t.Fatalf("push lines: %+v, want stdout %s", r, want)
	}
	if r := run(GetMain, "", tc.args("demo", "counter", "/n")...); r.code != 0 || r.stdout != "42\n" {
		t.Errorf("get: %+v", r)
	}
	if r := run(LogMain, "", tc.args("demo", "counter", "/n")...); r.code != 0 || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("log: %+v", r)
	}
	// Each push synced before exiting: both stores hold both ops.
	r = run(SyncMain, "", tc.args("-prune", "demo", "counter", "/n")...)
	if r.code != 0 || strings.Count(r.stdout, `"had":3,"copied":0`) != 2 || !strings.Contains(r.stdout, `"pruned":true`) {
		t.Errorf("sync: %+v", r)
	}
	if r := run(GetMain, "", tc.args("demo", "counter", "/n")...); r.stdout != "42\n" {
		t.Errorf("get after prune: %+v", r)
	}
}

func TestTools_WatchMirror(t *testing.T) {
	tc := startCluster(t, 2, map[string][]int{"a": {0}, "b": {1}})
	// gig-watch a | gig-push b, in this process.
	pr, pw := io.Pipe()
	var watchErr, pushOut, pushErr syncBuffer
	var wg sync.WaitGroup
	codes := make([]int, 2)
	wg.Go(func() {
		codes[0] = WatchMain(tc.args("-v", "-n", "3", "a"), strings.NewReader(""), pw, &watchErr)
		pw.Close()
	})
	wg.Go(func() { codes[1] = PushMain(tc.args("b"), pr, &pushOut, &pushErr) })
	waitFor(t, "the watch", func() bool { return strings.Contains(watchErr.String(), "watching channel a") })
	for i := 1; i <= 3; i++ {
		if r := run(PushMain, "", tc.args("a", "counter", "/n", fmt.Sprint(i))...); r.code != 0 {
			t.Fatalf("push: %+v", r)
		}
	}
	wg.Wait()
	if codes[0] != 0 || codes[1] != 0 || strings.Count(pushOut.String(), `"new":true`) != 3 {
		t.Fatalf("watch %d, push %d: %s %s %s", codes[0], codes[1], watchErr.String(), pushOut.String(), pushErr.String())
	}
	if r := run(GetMain, "", tc.args("b", "counter", "/n")...); r.stdout != "6\n" {
		t.Errorf("b's value: %+v", r)
	}
	// The same ops again: no-ops.
	logA := run(LogMain, "", tc.args("a", "counter", "/n")...).stdout
	var in strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(logA), "\n")[1:] {
		fmt.Fprintf(&in, `{"type":"counter","path":"/n","op":%s}`+"\n", line)
	}
	r := run(PushMain, in.String(), tc.args("b")...)
	if r.code != 0 || strings.Count(r.stdout, `"new":false`) != 3 {
		t.Errorf("mirroring again: %+v", r)
	}
	if r := run(GetMain, "", tc.args("b", "counter", "/n")...); r.stdout != "6\n" {
		t.Errorf("b's value after mirroring again: %+v", r)
	}
}

func TestTools_WatchValuesFor(t *testing.T) {
	tc := startCluster(t, 1, map[string][]int{"demo": {0}})
	run(PushMain, "", tc.args("demo", "lww", "/x", `"a"`)...)
	r := run(WatchMain, "", tc.args("-values", "-for", "300ms", "demo", "lww", "/x", "/y")...)
	want := "{\"channel\":\"demo\",\"type\":\"lww\",\"path\":\"/x\",\"value\":\"a\"}\n{\"channel\":\"demo\",\"type\":\"lww\",\"path\":\"/y\",\"value\":null}\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("watch -values -for: %+v, want %q", r, want)
	}
}

func TestShell_PendingPush(t *testing.T) {
	tc := startCluster(t, 1, map[string][]int{"demo": {0}})
	set := &Settings{Table: tc.c.TableAddr, User: "demo", Session: tc.session, Timeout: time.Second, Reducers: map[string]string{}}
	pr, pw := io.Pipe()
	var out, errb syncBuffer
	done := make(chan int)
	go func() { done <- RunShell(set, pr, &out, &errb) }()
	fmt.Fprintln(pw, `push demo lww /x "one"`)
	waitFor(t, "the first push", func() bool { return strings.Contains(out.String(), `"one"`) })
	tc.c.Stores[0].Stop()
	fmt.Fprintln(pw, `push -wait 0 demo lww /x "two"`)
	pw.Close()
	code := <-done
	if code != exitPending {
		t.Errorf("status = %d, want %d; stderr %s", code, exitPending, errb.String())
	}
	if !strings.Contains(out.String(), `"two"`) || !strings.Contains(errb.String(), "push: pending: 1 op is not yet accepted by any store of channel demo") {
		t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
	}
}

func TestTools_SessionChannelAdmin(t *testing.T) {
	tc := startCluster(t, 1, nil)
	base := []string{"-table", tc.c.TableAddr, "-user", "demo"}
	r := run(SessionMain, "", append(base, "-master", testMaster, "new", "-timeout", "1h", "my", "laptop")...)
	if r.code != 0 || !strings.Contains(r.stdout, ".") {
		t.Fatalf("session new: %+v", r)
	}
	session := strings.TrimSpace(r.stdout)
	r = run(SessionMain, "", append(base, "-master", testMaster, "list")...)
	if r.code != 0 || !strings.Contains(r.stdout, `"description":"my laptop"`) {
		t.Errorf("session list: %+v", r)
	}
	// The store's admin key is the cluster's; gig-admin reads it from a file.
	keyFile := t.TempDir() + "/key"
	writeKey(t, keyFile, "cluster-store-admin-key")
	r = run(AdminMain, "", append(base, "-addr", tc.c.Stores[0].Addr, "-key", keyFile, "user", "add", "demo")...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "code ") {
		t.Fatalf("admin user add: %+v", r)
	}
	code := strings.TrimSpace(strings.TrimPrefix(r.stdout, "code "))
	sargs := append(base, "-session", session)
	if r := run(ChannelMain, "", append(sargs, "add", "notes", tc.c.Stores[0].Addr, code)...); r.code != 0 {
		t.Fatalf("channel add: %+v", r)
	}
	if r := run(ChannelMain, "", append(sargs, "list")...); !strings.Contains(r.stdout, `"channel":"notes"`) {
		t.Errorf("channel list: %+v", r)
	}
	if r := run(PushMain, "", append(sargs, "notes", "lww", "/x", "1")...); r.code != 0 {
		t.Errorf("push: %+v", r)
	}
	// A store token, to mount the store's tree: the store takes it.
	storeID := ""
	for _, line := range strings.Split(run(ChannelMain, "", append(sargs, "list")...).stdout, "\n") {
		if _, rest, ok := strings.Cut(line, `"store_id":"`); ok {
			storeID, _, _ = strings.Cut(rest, `"`)
		}
	}
	r = run(SessionMain, "", append(sargs, "token", storeID)...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, storeID+".") {
		t.Fatalf("session token %s: %+v", storeID, r)
	}
	sc, err := srv9p.Dial(context.Background(), tc.c.Stores[0].Addr, "demo", "token "+strings.TrimSpace(r.stdout))
	if err != nil {
		t.Fatalf("the store refuses the token gig-session printed: %v", err)
	}
	sc.Close()
	id, _, _ := strings.Cut(session, ".")
	if r := run(SessionMain, "", append(base, "-master", testMaster, "revoke", id)...); r.code != 0 {
		t.Errorf("revoke: %+v", r)
	}
	r = run(GetMain, "", append(sargs, "notes", "lww", "/x")...)
	if r.code != 1 || !strings.Contains(r.stderr, "token revoked") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("get with a revoked session: %+v", r)
	}
}

func writeKey(t *testing.T, name, key string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
