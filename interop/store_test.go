package interop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/storefs"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

const (
	adminKey = "interop-admin-key"
	storeID  = "store1"
	secret   = "0123456789abcdef0123456789abcdef" // 32 characters
)

// fakeTable answers a store's token checks as the table would: the tokens
// it was told about are live, every other one is refused.
type fakeTable struct {
	mu     sync.Mutex
	tokens map[string]bool // user+" "+token
}

func (f *fakeTable) Check(_ context.Context, _, _, sid, sec, user, token string) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sid != storeID || sec != secret {
		return time.Time{}, errors.New("bad store credential")
	}
	if !f.tokens[user+" "+token] {
		return time.Time{}, gig.Errorf(gig.ErrPermission, "unknown token")
	}
	return time.Now().Add(time.Hour), nil
}

// store is a netstore.Service served over 9P on loopback for one test.
type store struct {
	t     testing.TB
	svc   *netstore.Service
	table *fakeTable
	addr  string // host:port
	logs  *logLines
}

// logLines keeps the lines a server logged.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *logLines) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// startStore starts a store whose data lives in dir (a fresh temporary
// folder when dir is "").
func startStore(t testing.TB, dir string) *store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	quiet, logs := quietLogf(t), new(logLines)
	logf := func(format string, args ...any) {
		logs.add(fmt.Sprintf(format, args...))
		quiet(format, args...)
	}
	ft := &fakeTable{tokens: make(map[string]bool)}
	svc, err := netstore.Open(netstore.Config{Dir: dir, Checker: ft, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &srv9p.Server{Attach: (&storefs.Tree{S: svc, AdminKey: adminKey}).Attach, Logf: logf}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, l); err != nil {
			logf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		svc.Close()
	})
	return &store{t: t, svc: svc, table: ft, addr: l.Addr().String(), logs: logs}
}

// quietLogf logs through t until the test ends, and drops lines after
// (servers log as connections close during cleanup).
func quietLogf(t testing.TB) func(string, ...any) {
	var over atomic.Bool
	t.Cleanup(func() { over.Store(true) })
	return func(format string, args ...any) {
		if !over.Load() {
			t.Logf(format, args...)
		}
	}
}

// user adds and confirms a user and returns a store token the fake table
// says is live.
func (s *store) user(id string) string {
	s.t.Helper()
	code, err := s.svc.AddUser(id)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.svc.Confirm(id, code, "tcp!127.0.0.1!1", storeID, secret); err != nil {
		s.t.Fatal(err)
	}
	token := storeID + ".session-" + id + ".mac"
	s.table.mu.Lock()
	s.table.tokens[id+" "+token] = true
	s.table.mu.Unlock()
	return token
}

var clock oplog.Clock

// newOp makes an op of origin with a JSON payload.
func newOp(t testing.TB, origin string, seq uint64, payload string) oplog.Op {
	t.Helper()
	o, err := oplog.NewOp(clock.Date(), origin, seq, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// opLines encodes ops as the JSON lines an oplog file holds.
func opLines(ops ...oplog.Op) string {
	var b []byte
	for i := range ops {
		b = ops[i].AppendJSON(b)
		b = append(b, '\n')
	}
	return string(b)
}

// pushLines encodes records as the lines /user/<id>/push takes.
func pushLines(recs ...netstore.Record) string {
	var b []byte
	for i := range recs {
		b = netstore.AppendRecord(b, &recs[i])
		b = append(b, '\n')
	}
	return string(b)
}

// lines splits text into its lines, without the last newline.
func lines(text string) []string {
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// waitFor polls cond until it holds or d has passed, and reports whether it
// held.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shmDir returns a temporary folder in memory (/dev/shm) when there is one:
// a store holding 10,000 oplogs fsyncs each, which on a disk takes longer
// than the test is about. It falls back to t.TempDir.
func shmDir(t testing.TB) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "gigfs-interop-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// TestMain silences the standard logger (the go9p client logs "Client
// Error: ... use of closed network connection" each time a test closes its
// connection) and removes the mount9p binary the FUSE tests built.
func TestMain(m *testing.M) {
	log.SetOutput(io.Discard)
	code := m.Run()
	if mount9p.dir != "" {
		os.RemoveAll(mount9p.dir)
	}
	os.Exit(code)
}
