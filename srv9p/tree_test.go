package srv9p_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// The test tree:
//
//	/ctl          ctl file: "echo X", "fail X", "missing", "block", "big N"
//	/stream       stream file fed by tree.hub; "since N" rewinds
//	/big/         10,000 files f00000..f09999
//	/counter      read/write file; every write and truncation moves its version
//	/appendonly   append-only file without Truncate
//	/static       read-only file "hello, static\n"
//	/sub/leaf     a file in a subdirectory
//	/sub/deeper/  an empty directory
//	/mk/          a directory where files can be created and removed
//	/lines        reads nothing; complete lines written are kept (tree.lines); Close
//	              refuses a partial line, as the store's oplog files do
const bigN = 10000

type testTree struct {
	root    srv9p.Dir
	mk      *memDir
	hub     *hub
	counter *counterFile
	opens   atomic.Int64 // handles opened
	closes  atomic.Int64 // handles closed
	lines   *linesLog
}

func newTestTree() *testTree {
	t := &testTree{hub: newHub(), counter: &counterFile{}, lines: &linesLog{}}
	file := func(name string, path uint64, mode fs.FileMode, open func(ctx context.Context, m srv9p.OpenMode) (srv9p.Handle, error)) srv9p.Node {
		return srv9p.NewFile(srv9p.Info{Name: name, Mode: mode, Path: path}, func(ctx context.Context, m srv9p.OpenMode) (srv9p.Handle, error) {
			h, err := open(ctx, m)
			if err != nil {
				return nil, err
			}
			return t.count(h), nil
		})
	}
	t.counter.tree = t
	t.mk = &memDir{name: "mk", path: 10, files: map[string]*memFile{}}
	t.root = srv9p.NewDir(srv9p.Info{Mode: 0555, Path: 1},
		file("ctl", 2, 0666, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
			return srv9p.NewCtl(ctlCmd), nil
		}),
		file("stream", 3, 0666, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
			return srv9p.NewStream(&sub{h: t.hub}), nil
		}),
		bigDir{},
		t.counter,
		file("appendonly", 5, fs.ModeAppend|0666, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
			return srv9p.NewStatic(nil), nil
		}),
		file("static", 6, 0444, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
			return srv9p.NewStatic([]byte("hello, static\n")), nil
		}),
		srv9p.NewDir(srv9p.Info{Name: "sub", Mode: 0555, Path: 7},
			file("leaf", 8, 0444, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
				return srv9p.NewStatic([]byte("leaf\n")), nil
			}),
			srv9p.NewDir(srv9p.Info{Name: "deeper", Mode: 0555, Path: 9}),
		),
		t.mk,
		file("lines", 11, 0666, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
			return &linesHandle{log: t.lines}, nil
		}),
	)
	return t
}

// linesLog holds the complete lines written to /lines. If hold is set, each
// Close sends on held, then waits until hold is closed.
type linesLog struct {
	mu    sync.Mutex
	lines []string

	hold, held chan struct{}
}

func (l *linesLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "|")
}

// linesHandle is an open /lines: a line may span writes; Close drops a
// partial one and says so.
type linesHandle struct {
	log     *linesLog
	mu      sync.Mutex
	partial string
}

func (h *linesHandle) Read(context.Context, []byte, int64) (int, error) { return 0, nil }

func (h *linesHandle) Write(_ context.Context, p []byte, _ int64) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	data := h.partial + string(p)
	i := strings.LastIndexByte(data, '\n')
	h.partial = data[i+1:]
	if i >= 0 {
		h.log.mu.Lock()
		h.log.lines = append(h.log.lines, strings.Split(data[:i], "\n")...)
		h.log.mu.Unlock()
	}
	return len(p), nil
}

func (h *linesHandle) Close() error {
	if h.log.hold != nil {
		h.log.held <- struct{}{}
		<-h.log.hold
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.partial); n > 0 {
		return gig.Errorf(gig.ErrInvalid, "partial line of %d bytes dropped: a line must end with a newline", n)
	}
	return nil
}

// count wraps h to count its Close.
func (t *testTree) count(h srv9p.Handle) srv9p.Handle {
	t.opens.Add(1)
	return &countedHandle{Handle: h, t: t}
}

type countedHandle struct {
	srv9p.Handle
	t    *testTree
	once sync.Once
}

func (h *countedHandle) Close() error {
	n := 0
	h.once.Do(func() { n = 1 })
	if n == 0 {
		panic("Close called twice")
	}
	h.t.closes.Add(1)
	return h.Handle.Close()
}

func ctlCmd(ctx context.Context, cmd string) (string, error) {
	verb, arg, _ := strings.Cut(cmd, " ")
	switch verb {
	case "echo":
		return arg + "\n", nil
	case "fail":
		return "", errors.New(arg)
	case "missing":
		return "", fmt.Errorf("thing %q: %w", arg, gig.ErrNotExist)
	case "block":
		<-ctx.Done()
		return "", ctx.Err()
	case "big":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return "", gig.Errorf(gig.ErrInvalid, "big: %v", err)
		}
		return strings.Repeat("x", n), nil
	}
	return "", gig.Errorf(gig.ErrInvalid, "unknown command %q", verb)
}

// A hub is a log of records that every stream reads from its own position.
type hub struct {
	mu        sync.Mutex
	recs      [][]byte
	wake      chan struct{} // closed at each publish
	waiters   int           // Next calls waiting
	cancelled atomic.Int64  // Next calls ended by their context
	closed    atomic.Int64  // subs closed
}

func newHub() *hub { return &hub{wake: make(chan struct{})} }

func (h *hub) publish(rec string) {
	h.mu.Lock()
	h.recs = append(h.recs, []byte(rec))
	close(h.wake)
	h.wake = make(chan struct{})
	h.mu.Unlock()
}

func (h *hub) waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiters
}

type sub struct {
	h    *hub
	next int
}

func (s *sub) Next(ctx context.Context) ([]byte, error) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	for s.next >= len(h.recs) {
		wake := h.wake
		h.waiters++
		h.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		h.mu.Lock()
		h.waiters--
		if ctx.Err() != nil {
			h.cancelled.Add(1)
			return nil, ctx.Err()
		}
	}
	rec := h.recs[s.next]
	s.next++
	return rec, nil
}

func (s *sub) Write(_ context.Context, p []byte) (int, error) {
	arg, ok := strings.CutPrefix(strings.TrimSpace(string(p)), "since ")
	n, err := strconv.Atoi(arg)
	if !ok || err != nil || n < 0 {
		return 0, gig.Errorf(gig.ErrInvalid, "want since N")
	}
	s.h.mu.Lock()
	s.next = n
	s.h.mu.Unlock()
	return len(p), nil
}

func (s *sub) Close() error {
	s.h.closed.Add(1)
	return nil
}

// bigDir holds bigN files.
type bigDir struct{}

func bigName(i int) string { return fmt.Sprintf("f%05d", i) }

func (bigDir) Stat(context.Context) (srv9p.Info, error) {
	return srv9p.Info{Name: "big", Mode: fs.ModeDir | 0555, Path: 100}, nil
}

func (bigDir) Walk(_ context.Context, name string) (srv9p.Node, error) {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "f"))
	if err != nil || i < 0 || i >= bigN || bigName(i) != name {
		return nil, gig.ErrNotExist
	}
	return srv9p.NewFile(bigInfo(i), func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
		return srv9p.NewStatic([]byte(name)), nil
	}), nil
}

func bigInfo(i int) srv9p.Info {
	return srv9p.Info{Name: bigName(i), Mode: 0444, Length: 6, Path: 1000 + uint64(i), Version: uint32(i)}
}

func (bigDir) List(context.Context) ([]srv9p.Info, error) {
	list := make([]srv9p.Info, bigN)
	for i := range list {
		list[i] = bigInfo(i)
	}
	return list, nil
}

// counterFile is a read/write file whose version moves on every change.
type counterFile struct {
	tree      *testTree
	mu        sync.Mutex
	data      []byte
	version   uint32
	truncates int
}

func (f *counterFile) Stat(context.Context) (srv9p.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return srv9p.Info{Name: "counter", Mode: 0666, Path: 4, Length: int64(len(f.data)), Version: f.version}, nil
}

func (f *counterFile) Open(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
	return f.tree.count(counterHandle{f}), nil
}

func (f *counterFile) Truncate(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = nil
	f.version++
	f.truncates++
	return nil
}

type counterHandle struct{ f *counterFile }

func (h counterHandle) Read(_ context.Context, p []byte, off int64) (int, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if off >= int64(len(h.f.data)) {
		return 0, nil
	}
	return copy(p, h.f.data[off:]), nil
}

func (h counterHandle) Write(_ context.Context, p []byte, off int64) (int, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(h.f.data)) {
		h.f.data = append(h.f.data, make([]byte, end-int64(len(h.f.data)))...)
	}
	copy(h.f.data[off:], p)
	h.f.version++
	return len(p), nil
}

func (counterHandle) Close() error { return nil }

// memDir is a directory whose files are created and removed by clients.
type memDir struct {
	name   string
	path   uint64
	closes atomic.Int64 // handles of its files closed
	mu     sync.Mutex
	files  map[string]*memFile
	gen    uint64
}

type memFile struct {
	dir  *memDir
	name string
	path uint64
	mode fs.FileMode
}

func (d *memDir) Stat(context.Context) (srv9p.Info, error) {
	return srv9p.Info{Name: d.name, Mode: fs.ModeDir | 0777, Path: d.path}, nil
}

func (d *memDir) Walk(_ context.Context, name string) (srv9p.Node, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f, ok := d.files[name]; ok {
		return f, nil
	}
	return nil, gig.ErrNotExist
}

func (d *memDir) List(context.Context) ([]srv9p.Info, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var list []srv9p.Info
	for _, f := range d.files {
		list = append(list, f.info())
	}
	return list, nil
}

func (d *memDir) Create(_ context.Context, name string, mode fs.FileMode) (srv9p.Node, error) {
	if mode.IsDir() {
		return nil, gig.Errorf(gig.ErrPermission, "no subdirectories here")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.files[name]; ok {
		return nil, gig.ErrExist
	}
	d.gen++
	f := &memFile{dir: d, name: name, path: d.path<<32 | d.gen, mode: mode}
	d.files[name] = f
	return f, nil
}

func (f *memFile) info() srv9p.Info {
	return srv9p.Info{Name: f.name, Mode: f.mode, Path: f.path}
}

func (f *memFile) Stat(context.Context) (srv9p.Info, error) {
	f.dir.mu.Lock()
	defer f.dir.mu.Unlock()
	if f.dir.files[f.name] != f {
		return srv9p.Info{}, gig.ErrNotExist
	}
	return f.info(), nil
}

func (f *memFile) Open(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
	return &memHandle{Handle: srv9p.NewStatic(nil), dir: f.dir}, nil
}

// memHandle is an open memFile, counted when closed.
type memHandle struct {
	srv9p.Handle
	dir *memDir
}

func (h *memHandle) Close() error {
	h.dir.closes.Add(1)
	return h.Handle.Close()
}

func (f *memFile) Remove(context.Context) error {
	f.dir.mu.Lock()
	defer f.dir.mu.Unlock()
	if f.dir.files[f.name] != f {
		return gig.ErrNotExist
	}
	delete(f.dir.files, f.name)
	return nil
}

// logBuf collects the server's log lines.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logBuf) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

const (
	testUser = "glenda"
	testKey  = "secret"
)

// testServer is a running server of a test tree.
type testServer struct {
	addr string
	srv  *srv9p.Server
	tree *testTree
	logs *logBuf
	stop func() // cancels Serve and waits for it to return
}

// startServer serves a new test tree on 127.0.0.1, with the settings that
// configure changes. The server is stopped when the test ends.
func startServer(t testing.TB, configure func(*srv9p.Server)) *testServer {
	t.Helper()
	tree := newTestTree()
	logs := &logBuf{}
	s := &srv9p.Server{
		Attach: func(_ context.Context, uname, aname, _ string) (srv9p.Node, error) {
			if uname != testUser || aname != testKey {
				return nil, gig.Errorf(gig.ErrPermission, "bad credential for %q", uname)
			}
			return tree.root, nil
		},
		Logf: logs.logf,
	}
	if configure != nil {
		configure(s)
	}
	l, err := srv9p.Listen("tcp!127.0.0.1!0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Serve did not return within 10 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return &testServer{addr: l.Addr().String(), srv: s, tree: tree, logs: logs, stop: stop}
}

// mount attaches to the server with the 9fans client.
func (ts *testServer) mount(t testing.TB) (*client.Conn, *client.Fsys) {
	t.Helper()
	c, err := client.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fsys, err := c.Attach(nil, testUser, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return c, fsys
}

// ctlRoundTrip writes cmd to an open ctl fid and reads the reply.
func ctlRoundTrip(fid *client.Fid, cmd string) (string, error) {
	if _, err := fid.WriteAt([]byte(cmd), 0); err != nil {
		return "", err
	}
	if _, err := fid.Seek(0, 0); err != nil {
		return "", err
	}
	buf := make([]byte, 8192)
	n, err := fid.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// raw is a 9P connection driven message by message.
type raw struct {
	t testing.TB
	c net.Conn
}

// dialRaw connects, sends Tversion with msize 8192, and attaches fid 0.
func (ts *testServer) dialRaw(t testing.TB) *raw {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &raw{t: t, c: c}
	rx := r.rpc(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8192, Version: "9P2000"})
	if rx.Type != plan9.Rversion || rx.Version != "9P2000" || rx.Msize != 8192 {
		t.Fatalf("Tversion: got %v", rx)
	}
	rx = r.rpc(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: testUser, Aname: testKey})
	if rx.Type != plan9.Rattach {
		t.Fatalf("Tattach: got %v", rx)
	}
	return r
}

func (r *raw) send(f *plan9.Fcall) {
	r.t.Helper()
	if err := plan9.WriteFcall(r.c, f); err != nil {
		r.t.Fatalf("write %v: %v", f, err)
	}
}

// recv reads the next message, failing the test after 10 s.
func (r *raw) recv() *plan9.Fcall {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := plan9.ReadFcall(r.c)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return f
}

func (r *raw) rpc(f *plan9.Fcall) *plan9.Fcall {
	r.t.Helper()
	r.send(f)
	rx := r.recv()
	if rx.Tag != f.Tag {
		r.t.Fatalf("%v: reply with tag %d: %v", f, rx.Tag, rx)
	}
	return rx
}

// want checks that rx has type typ, or is the error ename when typ is Rerror.
func (r *raw) want(rx *plan9.Fcall, typ uint8, ename string) {
	r.t.Helper()
	if rx.Type != typ || (typ == plan9.Rerror && !strings.Contains(rx.Ename, ename)) {
		r.t.Fatalf("got %v, want type %d %s", rx, typ, ename)
	}
}

// patience is how long a test waits for a condition before it fails: long,
// because a loaded machine (CI shares two cores with other work) can take
// many seconds for what takes one alone; a condition that never comes
// still fails the test, just later.
const patience = 2 * time.Minute

// waitFor polls cond until it holds or the time runs out.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
