package table

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	storeA = "tcp!store-a.example!5641"
	storeB = "tcp!store-b.example!5641"
)

// The whole flow of PROTOCOL.md through a 9P client that is not ours,
// with and without a restart of the table between every step.
func TestFlow(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) { testFlow(t, restart) })
	}
}

func testFlow(t *testing.T, restart bool) {
	tt := newTestTable(t)
	step := func() {
		if restart {
			tt.restart()
		}
	}
	const ctlPath = "/user/alice/ctl"

	// The admin makes alice.
	tt.setUser("alice", testMaster)
	step()

	// alice makes a session with her master.
	master := tt.mustAttach("alice", "master "+testMaster)
	token := mustCtl(t, master, ctlPath, "session new 24h laptop in the kitchen")
	sessionID, _, _ := strings.Cut(token, ".")
	if validID("session", sessionID) != nil || strings.Count(token, ".") != 2 {
		t.Fatalf("session token %q: want <session_id>.<random>.<mac>", token)
	}
	step()

	// With the session she adds two stores, each with its code.
	sess := tt.mustAttach("alice", "session "+token)
	tt.stores.setCode(storeA, "code-a")
	tt.stores.setCode(storeB, "code-b")
	_, err := ctl(sess, ctlPath, "store add docs "+storeA+" wrong-code")
	wantErr(t, err, "refused the confirmation code")
	idA := mustCtl(t, sess, ctlPath, "store add docs "+storeA+" code-a")
	confA := tt.stores.lastConfirm(t)
	want := confirmCall{storeA, "alice", "code-a", tt.cfg.TableAddr, idA, confA.secret}
	if confA != want || len(confA.secret) != 64 {
		t.Fatalf("confirm: got %+v, want %+v with a 64-digit secret", confA, want)
	}
	idB := mustCtl(t, sess, ctlPath, "store add docs "+storeB+" code-b")
	confB := tt.stores.lastConfirm(t)
	if confB.storeID != idB || confB.secret == confA.secret || idB == idA {
		t.Fatalf("second store: id %s, confirm %+v", idB, confB)
	}
	step()

	// The mount table, whole and by channel.
	sess = tt.mustAttach("alice", "session "+token)
	wantRefs := []StoreRef{{StoreID: idA, StoreAddr: storeA}, {StoreID: idB, StoreAddr: storeB}}
	var mt MountTable
	if err := json.Unmarshal([]byte(mustRead(t, sess, "/user/alice/table")), &mt); err != nil {
		t.Fatal(err)
	}
	if len(mt) != 1 || !slices.Equal(mt["docs"], wantRefs) {
		t.Fatalf("table: got %v, want docs: %v", mt, wantRefs)
	}
	var refs []StoreRef
	if err := json.Unmarshal([]byte(mustRead(t, sess, "/user/alice/channel/docs")), &refs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(refs, wantRefs) {
		t.Fatalf("channel/docs: got %v, want %v", refs, wantRefs)
	}

	// Store tokens for each store, derived from the session.
	tokA := mustCtl(t, sess, ctlPath, "store token "+idA)
	tokB := mustCtl(t, sess, ctlPath, "store token "+idB)
	if !strings.HasPrefix(tokA, idA+"."+sessionID+".") || !strings.HasPrefix(tokB, idB+"."+sessionID+".") {
		t.Fatalf("store tokens %q, %q: want <store_id>.<session_id>.<mac>", tokA, tokB)
	}
	if again := mustCtl(t, sess, ctlPath, "store token "+idA); again != tokA {
		t.Errorf("store token again: got %q, want %q", again, tokA)
	}
	step()

	// Store A checks its token: good, and refuses B's as another store's.
	stA := tt.mustAttach("alice", "store "+idA+" "+confA.secret)
	var ans struct {
		Store string `json:"store"`
		Until int64  `json:"until"`
	}
	if err := json.Unmarshal([]byte(mustRead(t, stA, "/user/alice/check/"+tokA)), &ans); err != nil {
		t.Fatal(err)
	}
	if wantUntil := tt.clock.Now().Add(24 * time.Hour).UnixMilli(); ans.Store != idA || ans.Until != wantUntil {
		t.Fatalf("check: got %+v, want store %s until %d", ans, idA, wantUntil)
	}
	_, err = readFile(stA, "/user/alice/check/"+tokB)
	wantErr(t, err, "token for another store")
	_, err = readFile(stA, "/user/alice/check/"+idA+"."+sessionID+".forged")
	wantErr(t, err, "unknown token")
	_, err = tt.attach("alice", "store "+idA+" "+confB.secret)
	wantErr(t, err, "permission: ")
	step()

	// alice lists and revokes the session; both stores are told.
	master = tt.mustAttach("alice", "master "+testMaster)
	list := mustCtl(t, master, ctlPath, "session list")
	var si SessionInfo
	if err := json.Unmarshal([]byte(list), &si); err != nil {
		t.Fatalf("session list %q: %v", list, err)
	}
	if si.ID != sessionID || si.Description != "laptop in the kitchen" || strings.Contains(list, token) {
		t.Fatalf("session list: got %q", list)
	}
	if got := mustCtl(t, master, ctlPath, "session revoke "+sessionID); got != "ok" {
		t.Fatalf("session revoke: got %q", got)
	}
	calls := tt.stores.revokeCalls()
	slices.SortFunc(calls, func(a, b revokeCall) int { return strings.Compare(a.addr, b.addr) })
	wantCalls := []revokeCall{{storeA, "alice", confA.secret, []string{tokA}}, {storeB, "alice", confB.secret, []string{tokB}}}
	if fmt.Sprint(calls) != fmt.Sprint(wantCalls) {
		t.Fatalf("revoke calls: got %v, want %v", calls, wantCalls)
	}
	if got := mustCtl(t, master, ctlPath, "session list"); got != "" {
		t.Errorf("session list after revoke: got %q, want nothing", got)
	}
	step()

	// The token is dead everywhere.
	stA = tt.mustAttach("alice", "store "+idA+" "+confA.secret)
	_, err = readFile(stA, "/user/alice/check/"+tokA)
	wantErr(t, err, "token revoked")
	_, err = tt.attach("alice", "session "+token)
	wantErr(t, err, "token revoked")
}

// A session expires when unused for its timeout; each use moves the
// expiry; a restart between the steps changes nothing.
func TestSession_SlidingExpiry(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			tt := newTestTable(t)
			step := func() {
				if restart {
					tt.restart()
				}
			}
			tt.setUser("alice", testMaster)
			master := tt.mustAttach("alice", "master "+testMaster)
			token := mustCtl(t, master, "/user/alice/ctl", "session new 1h phone")
			tt.stores.setCode(storeA, "c")
			id := mustCtl(t, master, "/user/alice/ctl", "store add docs "+storeA+" c")
			secret := tt.stores.lastConfirm(t).secret
			sess := tt.mustAttach("alice", "session "+token)
			tok := mustCtl(t, sess, "/user/alice/ctl", "store token "+id)
			t0 := tt.clock.Now()
			step()

			tt.clock.Advance(50 * time.Minute)
			tt.mustAttach("alice", "session "+token) // a use: expires at t0+110m
			step()

			tt.clock.Advance(50 * time.Minute) // t0+100m, past the first expiry
			st := tt.mustAttach("alice", "store "+id+" "+secret)
			got := mustRead(t, st, "/user/alice/check/"+tok) // a use: expires at t0+160m
			if want := fmt.Sprintf(`{"store":%q,"until":%d}`+"\n", id, t0.Add(160*time.Minute).UnixMilli()); got != want {
				t.Fatalf("check: got %q, want %q", got, want)
			}
			step()

			tt.clock.Advance(59 * time.Minute) // t0+159m
			sess = tt.mustAttach("alice", "session "+token)
			mustRead(t, sess, "/user/alice/table") // expires at t0+219m
			step()

			tt.clock.Advance(61 * time.Minute) // t0+220m: unused for 61m
			_, err := tt.attach("alice", "session "+token)
			wantErr(t, err, "token expired")
			st = tt.mustAttach("alice", "store "+id+" "+secret)
			_, err = readFile(st, "/user/alice/check/"+tok)
			wantErr(t, err, "token expired")
			if got := mustCtl(t, tt.mustAttach("alice", "master "+testMaster), "/user/alice/ctl", "session list"); got != "" {
				t.Errorf("session list: got %q, want no live session", got)
			}
		})
	}
}

// A connection attached with a session loses its rights when the session
// ends, and one attached with the master when the master changes.
func TestPrincipal_Lapses(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	master := tt.mustAttach("alice", "master "+testMaster)
	token := mustCtl(t, master, "/user/alice/ctl", "session new 1h a")
	sess := tt.mustAttach("alice", "session "+token)
	mustRead(t, sess, "/user/alice/table")

	tt.clock.Advance(61 * time.Minute)
	_, err := readFile(sess, "/user/alice/table")
	wantErr(t, err, "token expired")

	token = mustCtl(t, master, "/user/alice/ctl", "session new 1h b")
	sess = tt.mustAttach("alice", "session "+token)
	tt.setUser("alice", "a new master!")
	_, err = readFile(sess, "/user/alice/table")
	wantErr(t, err, "token revoked")
	_, err = ctl(master, "/user/alice/ctl", "session list")
	wantErr(t, err, "master changed")
	_, err = tt.attach("alice", "master "+testMaster)
	wantErr(t, err, "permission: ")
	tt.mustAttach("alice", "master a new master!")

	admin := tt.mustAttach("admin", "admin "+testAdmin)
	master = tt.mustAttach("alice", "master a new master!")
	mustCtl(t, admin, "/admin/ctl", "user remove alice")
	_, err = readFile(master, "/user/alice/table")
	wantErr(t, err, "user removed")
	if got := mustCtl(t, admin, "/admin/ctl", "user list"); got != "" {
		t.Errorf("user list after remove: got %q", got)
	}
	tt.restart()
	_, err = tt.attach("alice", "master a new master!")
	wantErr(t, err, "permission: ")
}

// Setting a master revokes every session and tells the stores.
func TestSetMaster_RevokesSessions(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	master := tt.mustAttach("alice", "master "+testMaster)
	tt.stores.setCode(storeA, "c")
	id := mustCtl(t, master, "/user/alice/ctl", "store add docs "+storeA+" c")
	var toks []string
	for i := range 3 {
		token := mustCtl(t, master, "/user/alice/ctl", fmt.Sprintf("session new 1h s%d", i))
		if i == 2 {
			continue // never given a store token: nothing to tell
		}
		sess := tt.mustAttach("alice", "session "+token)
		toks = append(toks, mustCtl(t, sess, "/user/alice/ctl", "store token "+id))
	}
	tt.setUser("alice", "another master")
	calls := tt.stores.revokeCalls()
	if len(calls) != 1 || calls[0].addr != storeA {
		t.Fatalf("revoke calls: got %v, want one to %s", calls, storeA)
	}
	got := slices.Sorted(slices.Values(calls[0].tokens))
	if !slices.Equal(got, slices.Sorted(slices.Values(toks))) {
		t.Errorf("revoked tokens: got %v, want %v", got, toks)
	}
	master = tt.mustAttach("alice", "master another master")
	if got := mustCtl(t, master, "/user/alice/ctl", "session list"); got != "" {
		t.Errorf("session list: got %q, want none", got)
	}
	// The mount table stays.
	if got := mustRead(t, master, "/user/alice/table"); !strings.Contains(got, id) {
		t.Errorf("table after user set: %q", got)
	}
}

// An unreachable store is logged and skipped at revocation.
func TestRevoke_UnreachableStore(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	master := tt.mustAttach("alice", "master "+testMaster)
	tt.stores.setCode(storeA, "a")
	tt.stores.setCode(storeB, "b")
	idA := mustCtl(t, master, "/user/alice/ctl", "store add docs "+storeA+" a")
	idB := mustCtl(t, master, "/user/alice/ctl", "store add docs "+storeB+" b")
	token := mustCtl(t, master, "/user/alice/ctl", "session new 1h x")
	sess := tt.mustAttach("alice", "session "+token)
	mustCtl(t, sess, "/user/alice/ctl", "store token "+idA)
	mustCtl(t, sess, "/user/alice/ctl", "store token "+idB)
	tt.stores.mu.Lock()
	tt.stores.down[storeA] = true
	tt.stores.mu.Unlock()
	sid, _, _ := strings.Cut(token, ".")
	reply := mustCtl(t, master, "/user/alice/ctl", "session revoke "+sid)
	if want := "ok\nwarning: store " + idA + " at " + storeA + " could not be told"; !strings.HasPrefix(reply, want) {
		t.Errorf("revoke reply %q, want it to start with %q", reply, want)
	}
	if calls := tt.stores.revokeCalls(); len(calls) != 1 || calls[0].addr != storeB {
		t.Errorf("revoke calls: got %v, want one to %s", calls, storeB)
	}
	if !strings.Contains(tt.logs.String(), "on store "+idA) {
		t.Errorf("no log line for the unreachable store; logs:\n%s", tt.logs)
	}
}

// A frozen store (it takes the connection and never answers) does not
// hold a revocation up: the revoke answers once the session is revoked and
// the other stores told, naming the frozen store as a warning, and goes on
// telling it in the background; closing the table ends that.
func TestRevoke_FrozenStore(t *testing.T) {
	tt := newTestTable(t, func(c *Config) {
		c.StoreTimeout = time.Hour // the revoke must not wait for it
		c.RevokeWait = 10 * time.Millisecond
	})
	tt.setUser("alice", testMaster)
	master := tt.mustAttach("alice", "master "+testMaster)
	tt.stores.setCode(storeA, "a")
	tt.stores.setCode(storeB, "b")
	idA := mustCtl(t, master, "/user/alice/ctl", "store add docs "+storeA+" a")
	idB := mustCtl(t, master, "/user/alice/ctl", "store add docs "+storeB+" b")
	token := mustCtl(t, master, "/user/alice/ctl", "session new 1h x")
	sess := tt.mustAttach("alice", "session "+token)
	mustCtl(t, sess, "/user/alice/ctl", "store token "+idA)
	mustCtl(t, sess, "/user/alice/ctl", "store token "+idB)
	tt.stores.mu.Lock()
	tt.stores.frozen[storeA] = true
	tt.stores.mu.Unlock()
	sid, _, _ := strings.Cut(token, ".")
	reply := mustCtl(t, master, "/user/alice/ctl", "session revoke "+sid)
	if want := "ok\nwarning: store " + idA + " at " + storeA + " did not answer within 10ms; still telling it in the background"; !strings.HasPrefix(reply, want) {
		t.Errorf("revoke reply %q, want it to start with %q", reply, want)
	}
	if strings.Contains(reply, idB) {
		t.Errorf("revoke reply %q names store B, which was told", reply)
	}
	if calls := tt.stores.revokeCalls(); len(calls) != 1 || calls[0].addr != storeB {
		t.Errorf("revoke calls: got %v, want one to %s", calls, storeB)
	}
	if _, err := tt.attach("alice", "session "+token); err == nil {
		t.Error("the revoked session still attaches")
	}
	// The table client hands the warning back as such, not as an error.
	c, err := DialMaster(context.Background(), tt.addr, "alice", testMaster)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok2, err := c.SessionNew(context.Background(), time.Hour, "y")
	if err != nil {
		t.Fatal(err)
	}
	s2 := tt.mustAttach("alice", "session "+tok2)
	mustCtl(t, s2, "/user/alice/ctl", "store token "+idA)
	sid2, _, _ := strings.Cut(tok2, ".")
	warnings, err := c.SessionRevoke(context.Background(), sid2)
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "store "+idA) {
		t.Errorf("SessionRevoke: %q, %v; want one warning naming store %s", warnings, err, idA)
	}
}
