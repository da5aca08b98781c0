package tools

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gigfs.io/gigfs"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func parseCommon(t *testing.T, args ...string) *commonFlags {
	t.Helper()
	cf := new(commonFlags)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cf
}

func TestLoadSettings_Precedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(`{"table":"tcp!file!1","user":"fileuser","session":"filesession",
		"local_table":{"notes":[{"storage_path":"notes"}]},"reducers":{"a":"merge","b":"lww"},"timeout":"3s",
		"keep_paths":100,"repair_syncs":3}`), 0o600)
	env := map[string]string{"GIGFS_CONFIG": cfg, "GIGFS_USER": "envuser", "GIGFS_SESSION": "envsession"}

	s, err := loadSettings(parseCommon(t, "-session", "flagsession", "-reducer", "b=counter"), envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if s.Table != "tcp!file!1" || s.User != "envuser" || s.Session != "flagsession" {
		t.Errorf("table, user, session = %q, %q, %q; want file, env, flag", s.Table, s.User, s.Session)
	}
	if got := s.Local["notes"][0].StoragePath; got != filepath.Join(dir, "notes") {
		t.Errorf("storage path = %q, want it relative to the config file", got)
	}
	if s.Reducers["a"] != "merge" || s.Reducers["b"] != "counter" {
		t.Errorf("reducers = %v, want a=merge from the file, b=counter from the flag", s.Reducers)
	}
	if s.Timeout != 3*time.Second {
		t.Errorf("timeout = %v, want 3s", s.Timeout)
	}
	if cc, err := s.clientConfig(nil, nil); err != nil || cc.KeepPaths != 100 || cc.RepairSyncs != 3 {
		t.Errorf("client config: KeepPaths %d, RepairSyncs %d, %v; want the file's 100 and 3", cc.KeepPaths, cc.RepairSyncs, err)
	}

	// GIGFS_LOCAL, a file, wins over the config file's local table; its
	// paths are relative to it.
	lt := filepath.Join(dir, "sub", "local.json")
	os.MkdirAll(filepath.Dir(lt), 0o700)
	os.WriteFile(lt, []byte(`{"x":[{"storage_path":"xdata"},{"in_memory":true}]}`), 0o600)
	env["GIGFS_LOCAL"] = lt
	s, err = loadSettings(parseCommon(t), envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Local["notes"]; ok || len(s.Local["x"]) != 2 || s.Local["x"][0].StoragePath != filepath.Join(dir, "sub", "xdata") {
		t.Errorf("local = %+v, want GIGFS_LOCAL's with paths relative to it", s.Local)
	}
}

func TestLoadSettings_Errors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{`), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"missing explicit config", []string{"-config", filepath.Join(dir, "nope.json")}, nil, "config file"},
		{"bad config", nil, map[string]string{"GIGFS_CONFIG": bad}, "config file " + bad},
		{"bad table", []string{"-table", "nonsense!"}, nil, "table address from -table"},
		{"bad user", nil, map[string]string{"GIGFS_USER": "Bad User"}, "user from $GIGFS_USER"},
		{"bad local", nil, map[string]string{"GIGFS_LOCAL": `{"a":[{}]}`}, "$GIGFS_LOCAL: local table"},
		{"bad reducer type", []string{"-reducer", ".x=lww"}, nil, `reducer for type ".x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadSettings(parseCommon(t, tc.args...), envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	// A missing default config file is no error.
	if _, err := loadSettings(parseCommon(t), envOf(map[string]string{"HOME": dir})); err != nil {
		t.Errorf("no config file: %v", err)
	}
}

func TestSettings_ClientConfig(t *testing.T) {
	for _, tc := range []struct {
		s    Settings
		want string
	}{
		{Settings{}, "no table and no local stores"},
		{Settings{Table: "tcp!h!1"}, "no user"},
		{Settings{Table: "tcp!h!1", User: "u"}, "no session"},
	} {
		if _, err := tc.s.clientConfig(nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.s, err, tc.want)
		}
	}
	cfg, err := (&Settings{Table: "tcp!h!1", User: "u", Session: "s", Timeout: time.Second}).clientConfig(nil, nil)
	if err != nil || cfg.RemoteTable == nil || cfg.RemoteTable.Session != "s" || cfg.CallTimeout != time.Second {
		t.Errorf("config = %+v, %v", cfg, err)
	}
}

func TestTableTrouble(t *testing.T) {
	s := &Settings{Table: "tcp!h!1", User: "u"}
	refused := fmt.Errorf("%w: %w", gigfs.ErrTableRefused, errors.New("token revoked"))
	if err := tableTrouble(refused, s); err == nil || !strings.HasSuffix(err.Error(), "refused the session of u: token revoked") {
		t.Errorf("refusal: %v", err)
	}
	down := fmt.Errorf("%w: %w", gigfs.ErrTableUnreachable, errors.New("connection refused"))
	if err := tableTrouble(down, s); err == nil || !strings.Contains(err.Error(), "out of reach") {
		t.Errorf("down, no local stores: %v", err)
	}
	s.Local = map[string][]gigfs.LocalStore{"a": {{InMemory: true}}}
	if err := tableTrouble(down, s); err != nil {
		t.Errorf("down, with local stores: %v, want nil (offline work)", err)
	}
	if err := tableTrouble(refused, s); err == nil {
		t.Errorf("refusal with local stores: nil, want the refusal")
	}
	if err := tableTrouble(nil, s); err != nil {
		t.Errorf("the table answers: %v", err)
	}
}

func TestParseMixed(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		prune bool
		rest  []string
	}{
		{[]string{"-prune", "demo", "counter", "/n"}, true, []string{"demo", "counter", "/n"}},
		{[]string{"demo", "counter", "/n", "-prune"}, true, []string{"demo", "counter", "/n"}},
		{[]string{"demo", "-prune", "counter", "/n"}, true, []string{"demo", "counter", "/n"}},
		{[]string{"--", "demo", "-prune"}, false, []string{"demo", "-prune"}},
		{[]string{"demo", "--", "-x", "-prune"}, false, []string{"demo", "-x", "-prune"}},
	} {
		e := &env{cmd: syncCmd, cf: new(commonFlags), getenv: envOf(nil)}
		fs := e.flags()
		prune := fs.Bool("prune", false, "")
		rest, err := e.parseMixed(fs, tc.args)
		if err != nil || *prune != tc.prune || strings.Join(rest, " ") != strings.Join(tc.rest, " ") {
			t.Errorf("%q: rest %q, prune %v, %v; want %q, %v", tc.args, rest, *prune, err, tc.rest, tc.prune)
		}
	}
}
