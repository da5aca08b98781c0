package table

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// /status at the root of every attach counts users, live sessions and
// channels; session info tells a session when it expires.
func TestStatus_AndSessionInfo(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	tt.setUser("bob", "bob's own master")
	alice := tt.mustAttach("alice", "master "+testMaster)
	token := strings.TrimSpace(mustCtl(t, alice, "/user/alice/ctl", "session new 2h laptop"))
	mustCtl(t, alice, "/user/alice/ctl", "session new 1h phone")
	tt.stores.setCode(storeA, "c")
	mustCtl(t, alice, "/user/alice/ctl", "store add docs "+storeA+" c")

	sess := tt.mustAttach("alice", "session "+token)
	st := mustRead(t, sess, "/status")
	for _, want := range []string{"server gig-table\n", "\nusers 2\n", "\nsessions 2\n", "\nchannels 1\n", "\nconnections ", "\ndurable_writes p50 "} {
		if !strings.Contains(st, want) {
			t.Errorf("status lacks %q:\n%s", want, st)
		}
	}
	admin := tt.mustAttach("admin", "admin "+testAdmin)
	if st := mustRead(t, admin, "/status"); !strings.Contains(st, "\nusers 2\n") {
		t.Errorf("admin's status:\n%s", st)
	}

	tt.clock.Advance(30 * time.Minute)
	var si SessionInfo
	if err := json.Unmarshal([]byte(mustCtl(t, sess, "/user/alice/ctl", "session info")), &si); err != nil {
		t.Fatal(err)
	}
	if si.Description != "laptop" || !si.Expires.Equal(tt.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("session info: %+v (now %v)", si, tt.clock.Now())
	}
	if _, err := ctl(alice, "/user/alice/ctl", "session info"); err == nil {
		t.Fatal("session info with the master")
	}
}
