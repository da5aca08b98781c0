package interop

import (
	"context"
	"net"
	"testing"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/storefs"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

// Failure mode "cat reads nothing": through a FUSE mount, an oplog the
// store has not loaded since it started reads whole, after an ls of its
// folder and without one (mount9p takes a file's size from its folder's
// listing and reads no further than it).
func TestFUSE_CatOplogNotInMemory(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	ft := &fakeTable{tokens: make(map[string]bool)}
	svc, err := netstore.Open(netstore.Config{Dir: dir, Checker: ft, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	s := &store{t: t, svc: svc, table: ft, logs: new(logLines)}
	token := s.user("alice")
	op1 := newOp(t, "pre", 1, `1`)
	op2 := newOp(t, "pre", 1, `"x"`)
	if _, err := svc.Push(context.Background(), "alice", []netstore.Record{{Type: "counter", Path: "/a", Op: op1}, {Type: "lww", Path: "/b", Op: op2}}); err != nil {
		t.Fatal(err)
	}
	svc.Close() // the next one starts with nothing in memory
	svc, err = netstore.Open(netstore.Config{Dir: dir, Checker: ft, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &srv9p.Server{Attach: (&storefs.Tree{S: svc, AdminKey: adminKey}).Attach, Logf: t.Logf}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	defer func() { cancel(); <-done }()
	m := startMount9pAt(t, l.Addr().String(), "alice", "token "+token)
	m.waitMounted(t)
	if got := m.mustSh(t, "cat user/alice/oplog/counter/a"); got != opLines(oplog.Initial(), op1) {
		t.Errorf("cat of an oplog not in memory: %q", got)
	}
	m.mustSh(t, "ls -l user/alice/oplog/lww")
	if got := m.mustSh(t, "cat user/alice/oplog/lww/b"); got != opLines(oplog.Initial(), op2) {
		t.Errorf("cat of an oplog not in memory after ls: %q", got)
	}
}
