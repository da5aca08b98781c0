package table

import (
	"encoding/json"
	"strings"
	"testing"

	"9fans.net/go/plan9"
)

// A connection sees only its own user.
func TestTree_Isolation(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	tt.setUser("bob", "bob's own master")
	alice := tt.mustAttach("alice", "master "+testMaster)
	token := mustCtl(t, alice, "/user/alice/ctl", "session new 1h a")
	tt.stores.setCode(storeA, "c")
	id := mustCtl(t, alice, "/user/alice/ctl", "store add docs "+storeA+" c")
	secret := tt.stores.lastConfirm(t).secret

	for _, path := range []string{"/user/bob", "/user/bob/table", "/admin", "/admin/ctl", "/user/alice/check"} {
		if _, err := alice.Stat(path); err == nil {
			t.Errorf("alice's master sees %s", path)
		}
	}
	fid, err := alice.Open("/user", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := fid.Dirreadall()
	fid.Close()
	if err != nil || len(dirs) != 1 || dirs[0].Name != "alice" {
		t.Errorf("ls /user: got %v, %v; want alice alone", dirs, err)
	}

	for _, aname := range []string{"session " + token, "master " + testMaster, "store " + id + " " + secret} {
		_, err := tt.attach("bob", aname)
		wantErr(t, err, "permission: ")
	}
	st := tt.mustAttach("alice", "store "+id+" "+secret)
	for _, path := range []string{"/user/alice/table", "/user/alice/ctl", "/user/bob/check"} {
		if _, err := st.Stat(path); err == nil {
			t.Errorf("a store credential sees %s", path)
		}
	}
	admin := tt.mustAttach("admin", "admin "+testAdmin)
	if _, err := admin.Stat("/user/alice"); err == nil {
		t.Error("the admin sees /user/alice")
	}
}

// Wrong, revoked and expired credentials are refused at attach, with one
// log line each and no credential in it.
func TestAttach_Refused(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	master := tt.mustAttach("alice", "master "+testMaster)
	revoked := mustCtl(t, master, "/user/alice/ctl", "session new 1h r")
	sid, _, _ := strings.Cut(revoked, ".")
	mustCtl(t, master, "/user/alice/ctl", "session revoke "+sid)
	live := mustCtl(t, master, "/user/alice/ctl", "session new 1h live")
	_, r, _ := strings.Cut(live, ".")
	for _, tc := range []struct{ uname, aname, want string }{
		{"alice", "master wrong master", "permission: bad credential"},
		{"alice", "master", "permission: bad credential"},
		{"nobody", "master " + testMaster, "permission: bad credential"},
		{"Alice", "master " + testMaster, "permission: bad credential"},
		{"alice", "session " + revoked, "permission: token revoked"},
		{"alice", "session " + sid + ".forged.mac", "permission: bad credential"},
		{"alice", "session " + newID() + "." + r, "permission: bad credential"},
		{"alice", "session", "permission: bad credential"},
		{"alice", "store x y", "permission: bad credential"},
		{"alice", "token abc", `permission: unknown credential "token"`},
		{"alice", "", `permission: unknown credential ""`},
		{"admin", "admin wrong", "permission: bad admin key"},
		{"alice", "admin " + testAdmin, "permission: bad admin key"},
	} {
		if _, err := tt.attach(tc.uname, tc.aname); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("attach %s %q: got %v, want %q", tc.uname, tc.aname, err, tc.want)
		}
	}
	tt.clock.Advance(61 * 60e9)
	_, err := tt.attach("alice", "session "+live)
	wantErr(t, err, "permission: token expired")
	logs := tt.logs.String()
	if n := strings.Count(logs, "attach refused"); n != 14 {
		t.Errorf("got %d attach refused log lines, want 14:\n%s", n, logs)
	}
	if strings.Contains(logs, "wrong master") || strings.Contains(logs, live) || strings.Contains(logs, testAdmin) {
		t.Errorf("a credential is in the logs:\n%s", logs)
	}
}

// Table files carry their length, and their qid version moves with every
// change; ctl has length 0.
func TestTree_StatAndVersions(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	fsys := tt.mustAttach("alice", "master "+testMaster)
	stat := func(path string) *plan9.Dir {
		t.Helper()
		d, err := fsys.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	checkLen := func(path string) *plan9.Dir {
		t.Helper()
		d := stat(path)
		if got := mustRead(t, fsys, path); int(d.Length) != len(got) {
			t.Errorf("%s: stat length %d, content %d bytes", path, d.Length, len(got))
		}
		return d
	}
	if d := stat("/user/alice/ctl"); d.Length != 0 || d.Mode != 0o600 {
		t.Errorf("ctl: length %d mode %v", d.Length, d.Mode)
	}
	if got := mustRead(t, fsys, "/user/alice/table"); got != "{}\n" {
		t.Errorf("empty table: got %q", got)
	}
	v0 := checkLen("/user/alice/table").Qid.Vers
	tt.stores.setCode(storeA, "a")
	idA := mustCtl(t, fsys, "/user/alice/ctl", "store add docs "+storeA+" a")
	d1 := checkLen("/user/alice/table")
	c1 := checkLen("/user/alice/channel/docs")
	if d1.Qid.Vers == v0 || c1.Qid.Vers != d1.Qid.Vers {
		t.Errorf("versions: table %d then %d, channel %d", v0, d1.Qid.Vers, c1.Qid.Vers)
	}
	tt.stores.setCode(storeB, "b")
	mustCtl(t, fsys, "/user/alice/ctl", "store add notes "+storeB+" b")
	d2 := checkLen("/user/alice/table")
	if d2.Qid.Vers == d1.Qid.Vers || d2.Length <= d1.Length {
		t.Errorf("table after a second add: %v, before %v", d2, d1)
	}
	fid, err := fsys.Open("/user/alice/channel", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := fid.Dirreadall()
	fid.Close()
	if err != nil || len(dirs) != 2 || dirs[0].Name != "docs" || dirs[1].Name != "notes" {
		t.Fatalf("ls channel: %v, %v", dirs, err)
	}
	if dirs[0].Qid.Path != c1.Qid.Path || dirs[0].Length != c1.Length {
		t.Errorf("ls channel: docs %v, stat %v", dirs[0], c1)
	}

	// A channel removed and made again is another file.
	mustCtl(t, fsys, "/user/alice/ctl", "store remove docs "+idA)
	if _, err := fsys.Stat("/user/alice/channel/docs"); err == nil {
		t.Error("channel/docs still there after its last store went")
	}
	tt.stores.setCode(storeA, "a2")
	if id := mustCtl(t, fsys, "/user/alice/ctl", "store add docs "+storeA+" a2"); id == idA {
		t.Log("a store removed from every channel is forgotten: a new id")
	}
	c3 := checkLen("/user/alice/channel/docs")
	if c3.Qid.Path == c1.Qid.Path {
		t.Error("channel/docs made again kept its qid path")
	}
	mustCtl(t, fsys, "/user/alice/ctl", "channel remove notes")
	var mt MountTable
	if err := json.Unmarshal([]byte(mustRead(t, fsys, "/user/alice/table")), &mt); err != nil || len(mt) != 1 || mt["docs"] == nil {
		t.Errorf("table after channel remove: %v, %v", mt, err)
	}
	tt.restart()
	fsys = tt.mustAttach("alice", "master "+testMaster)
	if d := stat("/user/alice/table"); d.Qid.Vers <= d2.Qid.Vers {
		t.Errorf("version after restart: %d, want more than %d", d.Qid.Vers, d2.Qid.Vers)
	}
}

// The same store added to a second channel keeps its id; the new code
// gives it a new secret.
func TestStoreAdd_SameStoreTwoChannels(t *testing.T) {
	tt := newTestTable(t)
	tt.setUser("alice", testMaster)
	fsys := tt.mustAttach("alice", "master "+testMaster)
	tt.stores.setCode(storeA, "one")
	id := mustCtl(t, fsys, "/user/alice/ctl", "store add docs "+storeA+" one")
	first := tt.stores.lastConfirm(t)
	tt.stores.setCode(storeA, "two")
	if again := mustCtl(t, fsys, "/user/alice/ctl", "store add notes "+storeA+" two"); again != id {
		t.Fatalf("second add: id %s, want %s", again, id)
	}
	second := tt.stores.lastConfirm(t)
	if second.storeID != id || second.secret == first.secret {
		t.Fatalf("second confirm %+v after %+v", second, first)
	}
	if _, err := tt.attach("alice", "store "+id+" "+first.secret); err == nil {
		t.Error("the old secret still attaches")
	}
	tt.mustAttach("alice", "store "+id+" "+second.secret)
	// Removing it from one channel keeps it; from both forgets it.
	mustCtl(t, fsys, "/user/alice/ctl", "store remove docs "+id)
	tt.mustAttach("alice", "store "+id+" "+second.secret)
	mustCtl(t, fsys, "/user/alice/ctl", "channel remove notes")
	if _, err := tt.attach("alice", "store "+id+" "+second.secret); err == nil {
		t.Error("a store in no channel still attaches")
	}
}
