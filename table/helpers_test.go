package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"gigfs.io/gigfs/gig"
)

// testKDF keeps argon2id cheap in tests.
var testKDF = KDF{Time: 1, MemoryKiB: 64, Threads: 1}

const (
	testMaster = "correct horse battery"
	testAdmin  = "the-admin-key"
)

// A fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_750_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeStores is a Stores that records calls and accepts the codes given
// to it, once each.
type fakeStores struct {
	mu       sync.Mutex
	codes    map[string]string // store addr -> code it accepts
	down     map[string]bool   // store addr -> unreachable
	fps      map[string]string // store addr -> fingerprint of its certificate
	frozen   map[string]bool   // store addr -> accepts but never answers
	confirms []confirmCall
	revokes  []revokeCall
}

type confirmCall struct{ addr, user, code, tableAddr, storeID, secret string }
type revokeCall struct {
	addr, user, secret string
	tokens             []string
}

func newFakeStores() *fakeStores {
	return &fakeStores{codes: map[string]string{}, down: map[string]bool{}, fps: map[string]string{}, frozen: map[string]bool{}}
}

func (f *fakeStores) setCode(addr, code string) {
	f.mu.Lock()
	f.codes[addr] = code
	f.mu.Unlock()
}

func (f *fakeStores) Confirm(ctx context.Context, cf Confirmation) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	addr := cf.StoreAddr
	if f.down[addr] {
		return "", errors.New("connection refused")
	}
	if c, ok := f.codes[addr]; !ok || c != cf.Code {
		return "", gig.Errorf(gig.ErrPermission, "bad code")
	}
	delete(f.codes, addr)
	f.confirms = append(f.confirms, confirmCall{addr, cf.User, cf.Code, cf.TableAddr, cf.StoreID, cf.Secret})
	return f.fps[addr], nil
}

func (f *fakeStores) Revoke(ctx context.Context, addr, fingerprint, user, secret string, tokens []string) error {
	f.mu.Lock()
	if f.frozen[addr] {
		f.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	defer f.mu.Unlock()
	if f.down[addr] {
		return errors.New("connection refused")
	}
	f.revokes = append(f.revokes, revokeCall{addr, user, secret, slices.Clone(tokens)})
	return nil
}

func (f *fakeStores) lastConfirm(t testing.TB) confirmCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.confirms) == 0 {
		t.Fatal("no confirm call")
	}
	return f.confirms[len(f.confirms)-1]
}

func (f *fakeStores) revokeCalls() []revokeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.revokes)
}

// A testTable is a table served on 127.0.0.1, port 0, with a fake clock
// and fake stores, that can be restarted on the same data folder.
type testTable struct {
	t      testing.TB
	dir    string
	clock  *fakeClock
	stores *fakeStores
	cfg    Config
	logs   *logBuf
	waits  *waitLog // the table's waits (Config.Wait), which return at once

	svc    *Service
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// waitLog records what a table waited for, without waiting.
type waitLog struct {
	mu    sync.Mutex
	until []time.Time
}

func (w *waitLog) wait(_ context.Context, until time.Time) {
	w.mu.Lock()
	w.until = append(w.until, until)
	w.mu.Unlock()
}

// take returns the waits since the last take.
func (w *waitLog) take() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	u := w.until
	w.until = nil
	return u
}

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Logf(format string, args ...any) {
	l.mu.Lock()
	fmt.Fprintf(&l.b, format+"\n", args...)
	l.mu.Unlock()
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestTable(t testing.TB, tweak ...func(*Config)) *testTable {
	t.Helper()
	tt := &testTable{t: t, dir: t.TempDir(), clock: newClock(), stores: newFakeStores(), logs: &logBuf{}, waits: &waitLog{}}
	tt.cfg = Config{
		DataDir:   tt.dir,
		TableAddr: "tcp!table.example!5640",
		AdminKey:  testAdmin,
		Stores:    tt.stores,
		Now:       tt.clock.Now,
		Wait:      tt.waits.wait,
		Logf:      tt.logs.Logf,
		KDF:       testKDF,
	}
	for _, f := range tweak {
		f(&tt.cfg)
	}
	tt.start()
	t.Cleanup(tt.stop)
	return tt
}

func (tt *testTable) start() {
	tt.t.Helper()
	svc, err := Open(tt.cfg)
	if err != nil {
		tt.t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tt.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tt.svc, tt.addr, tt.cancel, tt.done = svc, l.Addr().String(), cancel, make(chan error, 1)
	srv := NewServer(svc)
	srv.Logf = tt.logs.Logf
	go func() { tt.done <- srv.Serve(ctx, l) }()
}

func (tt *testTable) stop() {
	if tt.svc == nil {
		return
	}
	tt.cancel()
	if err := <-tt.done; err != nil {
		tt.t.Errorf("serve: %v", err)
	}
	if err := tt.svc.Close(); err != nil {
		tt.t.Errorf("close: %v", err)
	}
	tt.svc = nil
}

// restart closes the table and opens it again on the same data folder.
func (tt *testTable) restart() {
	tt.t.Helper()
	tt.stop()
	tt.start()
}

// attach attaches to the table as uname with aname, on a new connection.
func (tt *testTable) attach(uname, aname string) (*client.Fsys, error) {
	return tt.attachFrom(nil, uname, aname)
}

// attachFrom attaches from the local address local (nil: any).
func (tt *testTable) attachFrom(local net.Addr, uname, aname string) (*client.Fsys, error) {
	tt.t.Helper()
	d := net.Dialer{LocalAddr: local}
	nc, err := d.Dial("tcp", tt.addr)
	if err != nil {
		tt.t.Fatal(err)
	}
	conn, err := client.NewConn(nc)
	if err != nil {
		nc.Close()
		tt.t.Fatal(err)
	}
	tt.t.Cleanup(func() { conn.Close() })
	fsys, err := conn.Attach(nil, uname, aname)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return fsys, nil
}

func (tt *testTable) mustAttach(uname, aname string) *client.Fsys {
	tt.t.Helper()
	fsys, err := tt.attach(uname, aname)
	if err != nil {
		tt.t.Fatalf("attach %s with %s: %v", uname, strings.Fields(aname)[0], err)
	}
	return fsys
}

// ctl writes cmd to the ctl file at path and reads the reply.
func ctl(fsys *client.Fsys, path, cmd string) (string, error) {
	fid, err := fsys.Open(path, plan9.ORDWR)
	if err != nil {
		return "", err
	}
	defer fid.Close()
	if _, err := fid.Write([]byte(cmd)); err != nil {
		return "", err
	}
	if _, err := fid.Seek(0, io.SeekStart); err != nil { // the write moved the offset
		return "", err
	}
	b, err := io.ReadAll(fid)
	return string(b), err
}

func mustCtl(t testing.TB, fsys *client.Fsys, path, cmd string) string {
	t.Helper()
	reply, err := ctl(fsys, path, cmd)
	if err != nil {
		t.Fatalf("%s: %q: %v", path, verb(cmd), err)
	}
	return strings.TrimSuffix(reply, "\n")
}

func readFile(fsys *client.Fsys, path string) (string, error) {
	fid, err := fsys.Open(path, plan9.OREAD)
	if err != nil {
		return "", err
	}
	defer fid.Close()
	b, err := io.ReadAll(fid)
	return string(b), err
}

func mustRead(t testing.TB, fsys *client.Fsys, path string) string {
	t.Helper()
	s, err := readFile(fsys, path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return s
}

// setUser makes user id with testMaster through /admin/ctl.
func (tt *testTable) setUser(id, master string) {
	tt.t.Helper()
	admin := tt.mustAttach("admin", "admin "+testAdmin)
	if got := mustCtl(tt.t, admin, "/admin/ctl", "user set "+id+" "+master); got != "ok" {
		tt.t.Fatalf("user set: got %q, want ok", got)
	}
}

// snapshot returns every file under the data folder and its content.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		m[strings.TrimPrefix(path, dir)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantErr(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("got error %q, want %q", err, want)
	}
}
