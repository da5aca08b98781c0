package storefs

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

const testAdminKey = "test-admin-key"
const testStoreID = "store1"
const testSecret = "0123456789abcdef0123456789abcdef"

// fakeTable answers token checks as a table would: tokens it knows are live
// until their date, others refused. Used only by unit tests; the program
// checks tokens with the real table client.
type fakeTable struct {
	mu     sync.Mutex
	tokens map[string]time.Time // user+" "+token -> until
	down   bool
	calls  int
}

func (f *fakeTable) Check(ctx context.Context, tableAddr, tableFingerprint, storeID, secret, user, token string) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		<-ctx.Done()
		return time.Time{}, ctx.Err()
	}
	if storeID != testStoreID || secret != testSecret {
		return time.Time{}, gig.Errorf(gig.ErrUnavailable, "bad store credential")
	}
	until, ok := f.tokens[user+" "+token]
	if !ok {
		return time.Time{}, gig.Errorf(gig.ErrPermission, "unknown token")
	}
	return until, nil
}

func (f *fakeTable) set(user, token string, until time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens == nil {
		f.tokens = make(map[string]time.Time)
	}
	if until.IsZero() {
		delete(f.tokens, user+" "+token)
		return
	}
	f.tokens[user+" "+token] = until
}

// testStore is a store served over 9P on loopback for one test.
type testStore struct {
	t     testing.TB
	svc   *netstore.Service
	table *fakeTable
	addr  string
	dir   string
	stop  func()
	logs  *logLines // what the service and the 9P server logged
}

// logLines keeps log lines, and passes them on to the test's log.
type logLines struct {
	tb    testing.TB
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.tb.Logf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// has reports whether a line holds s.
func (l *logLines) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func startStore(tb testing.TB, cfg netstore.Config) *testStore {
	tb.Helper()
	return startStoreServer(tb, cfg, nil)
}

// startStoreServer is startStore with the 9P server set up by configure
// (if not nil) before it serves.
func startStoreServer(tb testing.TB, cfg netstore.Config, configure func(*srv9p.Server)) *testStore {
	tb.Helper()
	if cfg.Dir == "" {
		cfg.Dir = tb.TempDir()
	}
	ft := &fakeTable{}
	if cfg.Checker == nil {
		cfg.Checker = ft
	}
	logs := &logLines{tb: tb}
	cfg.Logf = logs.logf
	svc, err := netstore.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &srv9p.Server{Attach: (&Tree{S: svc, AdminKey: testAdminKey}).Attach, Logf: logs.logf}
	if configure != nil {
		configure(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	ts := &testStore{t: tb, svc: svc, table: ft, addr: l.Addr().String(), dir: cfg.Dir, logs: logs}
	ts.stop = sync.OnceFunc(func() {
		cancel()
		<-done
		svc.Close()
	})
	tb.Cleanup(ts.stop)
	return ts
}

// user adds and confirms a user and returns a live store token for it.
func (ts *testStore) user(id string) string {
	ts.t.Helper()
	code, err := ts.svc.AddUser(id)
	if err != nil {
		ts.t.Fatal(err)
	}
	if err := ts.svc.Confirm(id, code, "tcp!127.0.0.1!1", testStoreID, testSecret); err != nil {
		ts.t.Fatal(err)
	}
	token := testStoreID + ".session-" + id + ".mac"
	ts.table.set(id, token, time.Now().Add(time.Hour))
	return token
}

// mount attaches with the 9fans.net client, which is not our code.
func (ts *testStore) mount(uname, aname string) (*client.Fsys, error) {
	conn, err := client.Dial("tcp", ts.addr)
	if err != nil {
		return nil, err
	}
	fsys, err := conn.Attach(nil, uname, aname)
	if err != nil {
		conn.Close()
		return nil, err
	}
	ts.t.Cleanup(func() { conn.Close() })
	return fsys, nil
}

func (ts *testStore) mustMount(uname, aname string) *client.Fsys {
	ts.t.Helper()
	fsys, err := ts.mount(uname, aname)
	if err != nil {
		ts.t.Fatalf("attach %s %q: %v", uname, aname, err)
	}
	return fsys
}

func readFile(tb testing.TB, fsys *client.Fsys, name string) string {
	tb.Helper()
	fid, err := fsys.Open(name, plan9.OREAD)
	if err != nil {
		tb.Fatalf("open %s: %v", name, err)
	}
	defer fid.Close()
	b, err := io.ReadAll(fid)
	if err != nil {
		tb.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// writeFile writes data in one write to an existing file.
func writeFile(fsys *client.Fsys, name, data string) error {
	fid, err := fsys.Open(name, plan9.OWRITE)
	if err != nil {
		return err
	}
	defer fid.Close()
	_, err = fid.Write([]byte(data))
	return err
}

// ctl writes a command and reads the reply on the same fid.
func ctl(fsys *client.Fsys, name, cmd string) (string, error) {
	fid, err := fsys.Open(name, plan9.ORDWR)
	if err != nil {
		return "", err
	}
	defer fid.Close()
	if _, err := fid.Write([]byte(cmd)); err != nil {
		return "", err
	}
	b := make([]byte, 64<<10)
	n, err := fid.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	return string(b[:n]), nil
}

var clock oplog.Clock

func op(tb testing.TB, origin string, seq uint64, payload string) oplog.Op {
	tb.Helper()
	o, err := oplog.NewOp(clock.Date(), origin, seq, []byte(payload))
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func opLines(ops ...oplog.Op) string {
	var b []byte
	for i := range ops {
		b = ops[i].AppendJSON(b)
		b = append(b, '\n')
	}
	return string(b)
}

func pushLines(recs ...netstore.Record) string {
	var b []byte
	for i := range recs {
		b = netstore.AppendRecord(b, &recs[i])
		b = append(b, '\n')
	}
	return string(b)
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
