package table

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/gig"
)

func openService(t *testing.T, dir string, clock *fakeClock, stores Stores) *Service {
	t.Helper()
	s, err := Open(Config{DataDir: dir, TableAddr: "tcp!t!1", Stores: stores, Now: clock.Now, KDF: testKDF,
		Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The service without 9P: a crash (no Close) loses at most the slack of
// a sliding expiry, and only ever ends a session earlier.
func TestService_SlideAfterCrash(t *testing.T) {
	ctx := context.Background()
	dir, clock := t.TempDir(), newClock()
	s := openService(t, dir, clock, newFakeStores())
	if err := s.SetMaster(ctx, "alice", testMaster); err != nil {
		t.Fatal(err)
	}
	m, err := s.Authenticate(ctx, "alice", "master "+testMaster, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind() != KindMaster || m.User() != "alice" {
		t.Fatalf("principal %v %s", m.Kind(), m.User())
	}
	token, err := s.NewSession(m, time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	t0 := clock.Now()
	clock.Advance(30 * time.Second) // within the slack: kept in memory only
	if _, err := s.Authenticate(ctx, "alice", "session "+token, "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	list, _ := s.Sessions(m)
	if want := t0.Add(time.Hour + 30*time.Second); !list[0].Expires.Equal(want) {
		t.Fatalf("expires %v, want %v", list[0].Expires, want)
	}

	// A crash: another service on the folder, without Close (the lock
	// dies with the process).
	s.lock.Close()
	s2 := openService(t, dir, clock, newFakeStores())
	m2, _ := s2.Authenticate(ctx, "alice", "master "+testMaster, "127.0.0.1:1")
	list, _ = s2.Sessions(m2)
	if want := t0.Add(time.Hour); !list[0].Expires.Equal(want) {
		t.Fatalf("after a crash: expires %v, want the last written %v", list[0].Expires, want)
	}
	// A slide past the slack is written at once.
	clock.Advance(5 * time.Minute)
	if _, err := s2.Authenticate(ctx, "alice", "session "+token, "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	s2.lock.Close()
	s3 := openService(t, dir, clock, newFakeStores())
	m3, _ := s3.Authenticate(ctx, "alice", "master "+testMaster, "127.0.0.1:1")
	list, _ = s3.Sessions(m3)
	if want := clock.Now().Add(time.Hour); !list[0].Expires.Equal(want) {
		t.Fatalf("after a slide past the slack: expires %v, want %v", list[0].Expires, want)
	}
	for _, svc := range []*Service{s, s2, s3} {
		svc.Close()
	}
	if _, err := s.Authenticate(ctx, "alice", "master "+testMaster, "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// Errors carry srv9p kinds, for tests and clients to match on.
func TestService_ErrorKinds(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	s := openService(t, t.TempDir(), clock, newFakeStores())
	defer s.Close()
	s.SetMaster(ctx, "alice", testMaster)
	m, _ := s.Authenticate(ctx, "alice", "master "+testMaster, "h:1")
	for _, tc := range []struct {
		err  error
		kind error
	}{
		{s.SetMaster(ctx, "Bad", testMaster), gig.ErrInvalid},
		{s.RemoveUser("nobody"), gig.ErrNotExist},
		{s.RemoveChannel(m, "nope"), gig.ErrNotExist},
		{func() error { _, err := s.RevokeSession(m, newID()); return err }(), gig.ErrNotExist},
		{func() error { _, err := s.StoreToken(m, newID()); return err }(), gig.ErrPermission},
		{func() error { _, err := s.Check(m, "x"); return err }(), gig.ErrPermission},
		{func() error { _, err := s.Authenticate(ctx, "alice", "master nope", "h:1"); return err }(), gig.ErrPermission},
	} {
		if !errors.Is(tc.err, tc.kind) {
			t.Errorf("%v: not %v", tc.err, tc.kind)
		}
	}
}

// Many clients at once: sessions, reads, store tokens, checks and
// revocations, under the race detector.
func TestService_Concurrent(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	m := tt.mustAttach("alice", "master "+testMaster)
	tt.stores.setCode(storeA, "c")
	id := mustCtl(t, m, "/user/alice/ctl", "store add docs "+storeA+" c")
	secret := tt.stores.lastConfirm(t).secret
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Go(func() {
			token, err := ctl(m, "/user/alice/ctl", fmt.Sprintf("session new 1h c%d", i))
			if err != nil {
				errs <- err
				return
			}
			token = strings.TrimSpace(token)
			for j := range 10 {
				sess, err := tt.attach("alice", "session "+token)
				if err != nil {
					errs <- err
					return
				}
				if _, err := readFile(sess, "/user/alice/table"); err != nil {
					errs <- err
					return
				}
				tok, err := ctl(sess, "/user/alice/ctl", "store token "+id)
				if err != nil {
					errs <- err
					return
				}
				st, err := tt.attach("alice", "store "+id+" "+secret)
				if err != nil {
					errs <- err
					return
				}
				if _, err := readFile(st, "/user/alice/check/"+strings.TrimSpace(tok)); err != nil {
					errs <- err
					return
				}
				if j == 5 && i%2 == 0 {
					sid, _, _ := strings.Cut(token, ".")
					if _, err := ctl(m, "/user/alice/ctl", "session revoke "+sid); err != nil {
						errs <- err
						return
					}
					if _, err := tt.attach("alice", "session "+token); err == nil {
						errs <- errors.New("a revoked session attached")
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(tt.stores.revokeCalls()); n != 4 {
		t.Errorf("%d revoke calls, want 4", n)
	}
}
