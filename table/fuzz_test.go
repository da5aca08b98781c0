package table

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gigfs.io/gigfs/gig"
)

// FuzzTableCtl feeds the table's ctl parsers (a user's, with the master
// and with a session, and the admin's) and the attach's credential parser
// anything: no panic, and every refusal is one line of a kind a client
// can act on (the fake stores answer every store add at once).
//
//	go test ./table -run '^$' -fuzz FuzzTableCtl -fuzztime 30s
func FuzzTableCtl(f *testing.F) {
	tt := newTestTable(f)
	tt.setUser("alice", testMaster)
	ctx := context.Background()
	master, err := tt.svc.Authenticate(ctx, "alice", "master "+testMaster, "127.0.0.1:1")
	if err != nil {
		f.Fatal(err)
	}
	token, err := tt.svc.userCtl(ctx, master, "session new 24h fuzz")
	if err != nil {
		f.Fatal(err)
	}
	session, err := tt.svc.Authenticate(ctx, "alice", "session "+strings.TrimSpace(token), "127.0.0.1:1")
	if err != nil {
		f.Fatal(err)
	}
	tt.stores.setCode(storeA, "c")
	for _, s := range []string{
		"session new 1h phone", "session new 90x x", "session list", "session revoke 00000000-0000-0000-0000-000000000000",
		"store add docs " + storeA + " c", "store add docs unix!/x c", "store add docs tls!h!1 c sha256:00", "store remove docs x",
		"channel remove docs", "store token x", "user set bob 'a long master'", "user remove bob", "user list",
		"", " ", "\xff", "session", "store add a/b tcp!h!1 c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		check := func(what string, err error) {
			if err == nil {
				return
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("%s %q: an error of two lines: %q", what, cmd, err)
			}
			if errors.Is(err, gig.ErrInternal) {
				t.Fatalf("%s %q: an internal error for bad input: %v", what, cmd, err)
			}
		}
		if strings.HasPrefix(cmd, "user set alice") || strings.HasPrefix(cmd, "user remove alice") {
			return // would void the principals; covered by the tests
		}
		_, err := tt.svc.userCtl(ctx, master, cmd)
		check("master ctl", err)
		_, err = tt.svc.userCtl(ctx, session, cmd)
		check("session ctl", err)
		_, err = tt.svc.adminCtl(ctx, cmd)
		check("admin ctl", err)
		_, err = tt.svc.Authenticate(ctx, "alice", cmd, "127.0.0.1:1")
		check("attach", err)
	})
}
