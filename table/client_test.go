package table

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

func TestClient_Flow(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	ctx := context.Background()
	addr := "tcp!127.0.0.1!" + strings.Split(tt.addr, ":")[1]

	if _, err := DialMaster(ctx, addr, "alice", "wrong master"); err == nil {
		t.Fatal("DialMaster with a wrong master succeeded")
	}
	m, err := DialMaster(ctx, addr, "alice", testMaster)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	token, err := m.SessionNew(ctx, 2*time.Hour, "the client test")
	if err != nil {
		t.Fatal(err)
	}
	list, err := m.SessionList(ctx)
	if err != nil || len(list) != 1 || list[0].Description != "the client test" ||
		!list[0].Expires.Equal(tt.clock.Now().Add(2*time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("SessionList: %+v, %v", list, err)
	}

	s, err := DialSession(ctx, addr, "alice", token)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tt.stores.setCode(storeA, "code")
	id, err := s.StoreAdd(ctx, "docs", storeA, "code")
	if err != nil {
		t.Fatal(err)
	}
	secret := tt.stores.lastConfirm(t).secret
	mt, err := s.Table(ctx)
	if err != nil || !slices.Equal(mt["docs"], []StoreRef{{StoreID: id, StoreAddr: storeA}}) {
		t.Fatalf("Table: %v, %v", mt, err)
	}
	refs, err := s.Channel(ctx, "docs")
	if err != nil || !slices.Equal(refs, []StoreRef{{StoreID: id, StoreAddr: storeA}}) {
		t.Fatalf("Channel: %v, %v", refs, err)
	}
	if _, err := s.Channel(ctx, "nope"); err == nil {
		t.Error("Channel of a missing channel succeeded")
	}
	if _, err := s.SessionList(ctx); err == nil || !strings.Contains(err.Error(), "need the master") {
		t.Errorf("SessionList with a session: %v", err)
	}
	tok, err := s.StoreToken(ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	// The store side.
	var k Checker
	defer k.Close()
	until, err := k.Check(ctx, addr, "", id, secret, "alice", tok)
	if err != nil || !until.Equal(tt.clock.Now().Add(2*time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("Check: %v, %v", until, err)
	}
	if _, err := k.Check(ctx, addr, "", id, secret, "alice", "garbage"); !errors.Is(err, gig.ErrPermission) {
		t.Errorf("Check garbage: %v", err)
	}
	if _, err := k.Check(ctx, addr, "", id, secret, "alice", "a/b"); !errors.Is(err, ErrUnknownToken) {
		t.Errorf("Check a/b: %v", err)
	}
	if _, err := k.Check(ctx, addr, "", id, "bad-secret", "alice", tok); err == nil || errors.Is(err, gig.ErrPermission) {
		t.Errorf("Check with a bad secret: got %v, want an error that is not a token refusal", err)
	}
	if _, err := m.SessionRevoke(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Check(ctx, addr, "", id, secret, "alice", tok); !errors.Is(err, gig.ErrPermission) {
		t.Errorf("Check after revoke: %v", err)
	}

	// The checker survives a restart of the table (its connection breaks).
	m2, _ := DialMaster(ctx, addr, "alice", testMaster)
	token2, _ := m2.SessionNew(ctx, time.Hour, "second")
	m2.Close()
	s2, _ := DialSession(ctx, addr, "alice", token2)
	tok2, err := s2.StoreToken(ctx, id)
	s2.Close()
	if err != nil {
		t.Fatal(err)
	}
	tt.restart()
	addr = "tcp!127.0.0.1!" + strings.Split(tt.addr, ":")[1]
	if _, err := k.Check(ctx, addr, "", id, secret, "alice", tok2); err != nil {
		t.Errorf("Check after a restart: %v", err)
	}
	if _, err := s.Table(ctx); err == nil {
		t.Error("an old connection still answers after a restart")
	}

	m, err = DialMaster(ctx, addr, "alice", testMaster)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.StoreRemove(ctx, "docs", id); err != nil {
		t.Fatal(err)
	}
	tt.stores.setCode(storeB, "b")
	if _, err := m.StoreAdd(ctx, "notes", storeB, "b"); err != nil {
		t.Fatal(err)
	}
	if err := m.ChannelRemove(ctx, "notes"); err != nil {
		t.Fatal(err)
	}
	if mt, err := m.Table(ctx); err != nil || len(mt) != 0 {
		t.Errorf("Table at the end: %v, %v", mt, err)
	}
}

// fakeStore9P is a store's ctl over 9P, enough for NinePStores: it takes
// `confirm <code>` and `table <secret>` attaches and records commands.
type fakeStore9P struct {
	addr string
	code string

	mu     sync.Mutex
	secret string
	cmds   []string
}

func startFakeStore(t *testing.T, code string) *fakeStore9P {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startFakeStoreOn(t, l, code)
}

// startFakeStoreOn serves a fakeStore9P on l.
func startFakeStoreOn(t *testing.T, l net.Listener, code string) *fakeStore9P {
	t.Helper()
	fs := &fakeStore9P{code: code}
	fs.addr = l.Addr().String()
	srv := &srv9p.Server{Logf: t.Logf, Attach: fs.attach}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return fs
}

func (fs *fakeStore9P) attach(_ context.Context, uname, aname, _ string) (srv9p.Node, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch {
	case aname == "confirm "+fs.code && fs.code != "":
		fs.code = ""
	case fs.secret != "" && aname == "table "+fs.secret:
	default:
		return nil, gig.ErrPermission
	}
	ctl := srv9p.NewFile(srv9p.Info{Name: "ctl", Mode: 0o600, Path: 3}, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
		return srv9p.NewCtl(func(_ context.Context, cmd string) (string, error) {
			fs.mu.Lock()
			defer fs.mu.Unlock()
			fs.cmds = append(fs.cmds, uname+": "+cmd)
			if f := strings.Fields(cmd); len(f) == 4 && f[0] == "confirm" {
				fs.secret = f[3]
			}
			return "ok\n", nil
		}), nil
	})
	return srv9p.NewDir(srv9p.Info{Mode: 0o500, Path: 1},
		srv9p.NewDir(srv9p.Info{Name: "user", Mode: 0o500, Path: 2},
			srv9p.NewDir(srv9p.Info{Name: uname, Mode: 0o500, Path: 4}, ctl))), nil
}

// NinePStores speaks PROTOCOL.md to a store over 9P.
func TestNinePStores(t *testing.T) {
	store := startFakeStore(t, "the-code")
	tt := newTestTable(t, func(c *Config) { c.Stores = NinePStores{} })
	tt.setUser("alice", testMaster)
	m := tt.mustAttach("alice", "master "+testMaster)
	_, err := ctl(m, "/user/alice/ctl", "store add docs "+store.addr+" wrong-code")
	wantErr(t, err, "store add: the store at "+store.addr+" refused the confirmation code")
	id := mustCtl(t, m, "/user/alice/ctl", "store add docs "+store.addr+" the-code")
	token := mustCtl(t, m, "/user/alice/ctl", "session new 1h x")
	tok := mustCtl(t, tt.mustAttach("alice", "session "+token), "/user/alice/ctl", "store token "+id)
	sid, _, _ := strings.Cut(token, ".")
	mustCtl(t, m, "/user/alice/ctl", "session revoke "+sid)

	store.mu.Lock()
	defer store.mu.Unlock()
	want := []string{
		"alice: confirm " + tt.cfg.TableAddr + " " + id + " " + store.secret,
		"alice: revoke " + tok,
	}
	if !slices.Equal(store.cmds, want) || len(store.secret) != 64 {
		t.Errorf("store saw %q, want %q", store.cmds, want)
	}
}
