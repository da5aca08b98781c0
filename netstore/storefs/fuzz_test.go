package storefs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/netstore"
)

// fuzzTree is a store's tree over a service in a temporary folder, with
// the user ann confirmed.
func fuzzTree(f *testing.F) *Tree {
	svc, err := netstore.Open(netstore.Config{Dir: f.TempDir(), Checker: &fakeTable{}, Logf: func(string, ...any) {}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close() })
	code, err := svc.AddUser("ann")
	if err != nil {
		f.Fatal(err)
	}
	if err := svc.Confirm("ann", code, "tcp!127.0.0.1!1", testStoreID, testSecret); err != nil {
		f.Fatal(err)
	}
	return &Tree{S: svc, AdminKey: testAdminKey}
}

// wantClear fails unless err is a refusal a client can act on: one line,
// of a kind other than internal.
func wantClear(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("%s: an error of two lines: %q", what, err)
	}
	if errors.Is(err, gig.ErrInternal) {
		t.Fatalf("%s: an internal error for bad input: %v", what, err)
	}
}

// FuzzStoreCtl feeds the store's ctl files (the admin's and a user's) and
// the attach's credential parser anything: no panic, and every refusal
// is one line of a kind a client can act on.
//
//	go test ./netstore/storefs -run '^$' -fuzz FuzzStoreCtl -fuzztime 30s
func FuzzStoreCtl(f *testing.F) {
	tr := fuzzTree(f)
	for _, s := range []string{"user add bob", "user code ann", "user list", "user add", "user add Bad!", "cursor", "cursor x", "frobnicate",
		"token store1.s.m", "table " + testSecret, "confirm abc", "admin " + testAdminKey, "admin", "", " \t", "user add \xff"} {
		f.Add(s, "ann")
	}
	f.Add("token x", "admin")
	f.Add("confirm x", "\xffuser")
	ctx := context.Background()
	user := tr.userCtl("ann")
	f.Fuzz(func(t *testing.T, cmd, uname string) {
		if _, err := tr.adminCtl(ctx, cmd); err != nil {
			wantClear(t, "admin ctl "+cmd, err)
		}
		if _, err := user(ctx, cmd); err != nil {
			wantClear(t, "user ctl "+cmd, err)
		}
		if root, err := tr.Attach(ctx, uname, cmd, "127.0.0.1:1"); err != nil {
			wantClear(t, "attach "+cmd, err)
		} else if root == nil {
			t.Fatalf("attach %q %q: no root and no error", uname, cmd)
		}
	})
}

// FuzzLineBuffer splits writes into lines: whatever the writes, no line
// holds a newline, and no byte is lost or made up.
func FuzzLineBuffer(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n{\"b\""), []byte(":2}\n\n{}"))
	f.Add([]byte("partial"), []byte(" line\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var lb lineBuffer
		var got []byte
		for _, p := range [][]byte{a, b} {
			lines, err := lb.add(p)
			if err != nil {
				wantClear(t, "line buffer", err)
				return
			}
			for _, l := range lines {
				if strings.Contains(string(l), "\n") {
					t.Fatalf("a line with a newline: %q", l)
				}
				got = append(got, l...)
			}
		}
		got = append(got, lb.partial...)
		strip := func(s []byte) string { return strings.Join(strings.Fields(string(s)), "") }
		if strip(got) != strip(append(append([]byte(nil), a...), b...)) {
			t.Fatalf("lines %q do not add up to the writes %q %q", got, a, b)
		}
	})
}
