package table

import (
	"maps"
	"strings"
	"testing"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// Bad commands fail with one line and change nothing on disk.
func TestCtl_BadCommands(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	master := tt.mustAttach("alice", "master "+testMaster)
	tt.stores.setCode(storeA, "good")
	id := mustCtl(t, master, "/user/alice/ctl", "store add docs "+storeA+" good")
	token := mustCtl(t, master, "/user/alice/ctl", "session new 1h a")
	sess := tt.mustAttach("alice", "session "+token)
	mustCtl(t, sess, "/user/alice/ctl", "store token "+id) // a use: the session is on disk as it is
	tt.stores.setCode(storeB, "good-b")
	admin := tt.mustAttach("admin", "admin "+testAdmin)
	other := newID()

	before := snapshot(t, tt.dir)
	for _, tc := range []struct {
		who, cmd, want string
	}{
		{"master", "", "empty command"},
		{"master", "   ", "empty command"},
		{"master", "x", `unknown command "x"`},
		{"master", "session", `unknown command "session"`},
		{"master", "session frob", `unknown command "session frob"`},
		{"master", "session new", usageSessionNew},
		{"master", "session new 1h", usageSessionNew},
		{"master", "session new forever phone", `bad timeout "forever": want a duration such as 90m or 24h`},
		{"master", "session new -1h phone", "bad timeout -1h0m0s: want between 1s and 8760h0m0s"},
		{"master", "session new 10ms phone", "bad timeout 10ms"},
		{"master", "session new 9000h phone", "bad timeout 9000h0m0s"},
		{"master", "session list now", usageSessionList},
		{"master", "session revoke", usageSessionRevoke},
		{"master", "session revoke nope", `bad session id "nope"`},
		{"master", "session revoke " + other, "no live session " + other},
		{"master", "store add", usageStoreAdd},
		{"master", "store add docs " + storeB, usageStoreAdd},
		{"master", "store add a/b " + storeB + " good-b", `bad channel "a/b"`},
		{"master", "store add .. " + storeB + " good-b", `bad channel ".."`},
		{"master", "store add docs nowhere good-b", `bad store address "nowhere"`},
		{"master", "store add docs tcp!h good-b", `bad store address "tcp!h"`},
		{"master", "store add docs " + storeB + " wrong", "store add: the store at " + storeB + " refused the confirmation code"},
		{"master", "store add docs " + storeB + " good-b extra", "bad store fingerprint"},
		{"master", "store add docs " + storeB + " good-b extra more", usageStoreAdd},
		{"master", "store remove docs", usageStoreRemove},
		{"master", "store remove nochan " + id, `no channel "nochan"`},
		{"master", "store remove docs " + other, "no store " + other + ` in channel "docs"`},
		{"master", "store remove docs notanid", `bad store id "notanid"`},
		{"master", "store token " + id, "store tokens are derived from a session"},
		{"master", "store token", usageStoreToken},
		{"master", "store frob", `unknown command "store frob"`},
		{"master", "channel remove", usageChannelRemove},
		{"master", "channel remove nochan", `no channel "nochan"`},
		{"master", "channel remove a b", usageChannelRemove},
		{"master", "channel list", `unknown command "channel list"`},
		{"master", "user list", `unknown command "user list"`},
		{"master", "two\nlines", "one command per write, on one line"},
		{"master", "store add " + strings.Repeat("x", 5000), "command too long"},
		{"session", "session new 1h x", "session commands need the master"},
		{"session", "session list", "session commands need the master"},
		{"session", "session revoke " + other, "session commands need the master"},
		{"session", "store token " + other, "no store " + other + " in the table"},
		{"admin", "", "empty command"},
		{"admin", "frob", `unknown command "frob"`},
		{"admin", "session list", `unknown command "session list"`},
		{"admin", "user set", usageUserSet},
		{"admin", "user set bob", usageUserSet},
		{"admin", "user set Bob! long enough master", `bad user id "Bob!"`},
		{"admin", "user set .bob long enough master", `bad user id ".bob"`},
		{"admin", "user set bob short", "bad master: want 8-1024 bytes"},
		{"admin", "user remove", usageUserRemove},
		{"admin", "user remove nobody", `no user "nobody"`},
		{"admin", "user list all", usageUserList},
	} {
		fsys, path := master, "/user/alice/ctl"
		switch tc.who {
		case "session":
			fsys = sess
		case "admin":
			fsys, path = admin, "/admin/ctl"
		}
		reply, err := ctl(fsys, path, tc.cmd)
		if err == nil {
			t.Errorf("%s %q: got reply %q, want error %q", tc.who, gig.Clip(tc.cmd), reply, tc.want)
			continue
		}
		// The message after the kind's word (checked in TestService_ErrorKinds).
		if msg := srv9p.ParseError(err.Error()).Error(); !strings.HasPrefix(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s %q: got error %q, want %q", tc.who, gig.Clip(tc.cmd), msg, tc.want)
		}
	}
	if after := snapshot(t, tt.dir); !maps.Equal(before, after) {
		for name := range after {
			if before[name] != after[name] {
				t.Errorf("%s changed:\n%s\nthen\n%s", name, before[name], after[name])
			}
		}
		t.Errorf("bad commands changed the files: %d then %d", len(before), len(after))
	}
	// The store whose code was refused can still be added with it.
	mustCtl(t, master, "/user/alice/ctl", "store add docs "+storeB+" good-b")
}

// Good commands answer one line, or JSON lines for lists.
func TestCtl_Replies(t *testing.T) {
	tt := newTestTable(t)
	admin := tt.mustAttach("admin", "admin "+testAdmin)
	for _, id := range []string{"carol", "alice", "bob"} {
		if got := mustCtl(t, admin, "/admin/ctl", "user set "+id+"   a master with  spaces "); got != "ok" {
			t.Fatalf("user set: %q", got)
		}
	}
	if got := mustCtl(t, admin, "/admin/ctl", "user list"); got != "alice\nbob\ncarol" {
		t.Errorf("user list: got %q", got)
	}
	// The master is the rest of the line after the id, inner spaces kept.
	tt.mustAttach("bob", "master a master with  spaces ")
	if _, err := tt.attach("bob", "master a master with spaces"); err == nil {
		t.Error("the master's inner spaces were not kept")
	}
	m := tt.mustAttach("bob", "master a master with  spaces ")
	for _, d := range []string{"one", "two words"} {
		mustCtl(t, m, "/user/bob/ctl", "session new 90m "+d)
		tt.clock.Advance(1e6)
	}
	list := mustCtl(t, m, "/user/bob/ctl", "session list")
	lines := strings.Split(list, "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"description":"one"`) || !strings.Contains(lines[1], `"description":"two words"`) {
		t.Errorf("session list: got %q", list)
	}
}
