package table

import (
	"context"
	"testing"
)

// Guesses at a user's master do not delay the user: the table keeps no
// per-user delay (the 9P server slows each guessing address instead, see
// srv9p's TestAttachDelay_PerAddress). The proof needs no clock: after
// many failures, an attach whose context is already cancelled still
// succeeds, which any wait before the check would have refused.
func TestAuthenticate_NoPerUserDelay(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	token := mustCtl(t, tt.mustAttach("alice", "master "+testMaster), "/user/alice/ctl", "session new 1h phone")
	ctx := context.Background()
	for range 20 {
		if _, err := tt.svc.Authenticate(ctx, "alice", "master wrong guess", "192.0.2.66:4000"); err == nil {
			t.Fatal("a wrong master authenticated")
		}
		if _, err := tt.svc.Authenticate(ctx, "alice", "session "+token+"x", "192.0.2.66:4001"); err == nil {
			t.Fatal("a wrong token authenticated")
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	p, err := tt.svc.Authenticate(cancelled, "alice", "session "+token, "198.51.100.7:5000")
	if err != nil || p.User() != "alice" {
		t.Fatalf("alice from another address after 40 guesses at her credentials: %v, %v", p, err)
	}
}
