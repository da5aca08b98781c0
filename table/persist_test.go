package table

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// populate makes alice with a session, a store and a store token, and
// returns the folder of alice.
func populate(t *testing.T, tt *testTable) string {
	t.Helper()
	tt.setUser("alice", testMaster)
	m := tt.mustAttach("alice", "master "+testMaster)
	tt.stores.setCode(storeA, "c")
	id := mustCtl(t, m, "/user/alice/ctl", "store add docs "+storeA+" c")
	token := mustCtl(t, m, "/user/alice/ctl", "session new 1h x")
	mustCtl(t, tt.mustAttach("alice", "session "+token), "/user/alice/ctl", "store token "+id)
	salt, err := os.ReadFile(filepath.Join(tt.dir, "salt"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(tt.dir, strings.TrimSpace(string(salt)), "alice")
}

// A corrupt file stops the start with an error naming it.
func TestOpen_CorruptFiles(t *testing.T) {
	for _, tc := range []struct {
		file, content string
	}{
		{userFileName, "{not json"},
		{userFileName, `{"id":"bob","master":{}}`},
		{userFileName, `{"id":"alice","master":{"alg":"md5"}}`},
		{sessionsFileName, `{"sessions":[{"id":"x"}]}`},
		{sessionsFileName, `[1,2`},
		{tableFileName, ``},
		{tableFileName, `{"channels":{"docs":{"stores":[{"store_id":"00000000-0000-0000-0000-000000000000","store_addr":"tcp!a!1"}]}}}`},
		{tableFileName, `{"channels":{"a/b":{"stores":[]}}}`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tt := newTestTable(t)
			dir := populate(t, tt)
			tt.stop()
			name := filepath.Join(dir, tc.file)
			if err := os.WriteFile(name, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(tt.cfg)
			if err == nil {
				t.Fatalf("Open with %s = %q: no error", tc.file, tc.content)
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("got %q, want it to name %s", err, name)
			}
		})
	}
}

func TestOpen_MissingUserFile(t *testing.T) {
	tt := newTestTable(t)
	dir := populate(t, tt)
	tt.stop()
	name := filepath.Join(dir, userFileName)
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	_, err := Open(tt.cfg)
	wantErr(t, err, name+" is missing")
}

func TestOpen_KeyAndSalt(t *testing.T) {
	tt := newTestTable(t)
	dir := populate(t, tt)
	tt.stop()
	saltDir := filepath.Dir(dir)
	key := filepath.Join(saltDir, "table.key")
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("table.key: %v, %v", fi, err)
	}
	for _, f := range []string{userFileName, sessionsFileName, tableFileName} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v", f, fi, err)
		}
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(tt.cfg)
	wantErr(t, err, "mode 0644")
	os.Chmod(key, 0o600)
	os.WriteFile(key, []byte("short\n"), 0o600)
	_, err = Open(tt.cfg)
	wantErr(t, err, key+": corrupt")
	os.WriteFile(filepath.Join(tt.dir, "salt"), []byte("../x\n"), 0o600)
	_, err = Open(tt.cfg)
	wantErr(t, err, filepath.Join(tt.dir, "salt")+": corrupt")
}

// Leftovers of a crash are cleaned up at start: temporary files, a user
// folder being removed, a user folder whose creation was cut short.
func TestOpen_CrashLeftovers(t *testing.T) {
	tt := newTestTable(t)
	dir := populate(t, tt)
	tt.stop()
	saltDir := filepath.Dir(dir)
	os.WriteFile(filepath.Join(dir, ".tmp-table.json-123"), []byte("half"), 0o600)
	os.MkdirAll(filepath.Join(saltDir, removedPrefix+"bob-1234"), 0o700)
	os.WriteFile(filepath.Join(saltDir, removedPrefix+"bob-1234", userFileName), []byte("{}"), 0o600)
	os.MkdirAll(filepath.Join(saltDir, "carol"), 0o700)
	tt.start()
	for _, p := range []string{filepath.Join(dir, ".tmp-table.json-123"), filepath.Join(saltDir, removedPrefix+"bob-1234"), filepath.Join(saltDir, "carol")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
	if got := tt.svc.Users(); len(got) != 1 || got[0] != "alice" {
		t.Errorf("users: %v", got)
	}
}

// Tombstones of ended sessions are dropped after TombstoneAge: the token
// is then unknown.
func TestSessions_TombstonesAge(t *testing.T) {
	tt := newTestTable(t)
	dir := populate(t, tt)
	m := tt.mustAttach("alice", "master "+testMaster)
	token := mustCtl(t, m, "/user/alice/ctl", "session new 1h y")
	sid, _, _ := strings.Cut(token, ".")
	mustCtl(t, m, "/user/alice/ctl", "session revoke "+sid)
	tt.clock.Advance(DefaultTombstoneAge + 2*60*60e9)
	mustCtl(t, m, "/user/alice/ctl", "session new 1h z") // a write prunes
	b, err := os.ReadFile(filepath.Join(dir, sessionsFileName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), sid) || strings.Count(string(b), `"id"`) != 1 {
		t.Errorf("sessions.json keeps old sessions:\n%s", b)
	}
	if strings.Contains(string(b), token) {
		t.Error("sessions.json holds a token in clear")
	}
	_, err = tt.attach("alice", "session "+token)
	wantErr(t, err, "bad credential")
}
