package table

import (
	"io"
	"net"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
)

// benchTable is a table on loopback with the real clock, alice, a
// session, a store and a store token of the session.
func benchTable(b *testing.B, kdf KDF) (tt *testTable, token, storeID, secret, storeTok string) {
	b.Helper()
	tt = newTestTable(b, func(c *Config) {
		c.Now = time.Now
		c.KDF = kdf
		c.Logf = func(string, ...any) {}
	})
	tt.setUser("alice", testMaster)
	m := tt.mustAttach("alice", "master "+testMaster)
	token = mustCtl(b, m, "/user/alice/ctl", "session new 24h bench")
	tt.stores.setCode(storeA, "c")
	storeID = mustCtl(b, m, "/user/alice/ctl", "store add docs "+storeA+" c")
	secret = tt.stores.lastConfirm(b).secret
	storeTok = mustCtl(b, tt.mustAttach("alice", "session "+token), "/user/alice/ctl", "store token "+storeID)
	return tt, token, storeID, secret, storeTok
}

func benchConn(b *testing.B, tt *testTable) *client.Conn {
	b.Helper()
	nc, err := net.Dial("tcp", tt.addr)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := client.NewConn(nc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

func readAll(b *testing.B, fsys *client.Fsys, path string) {
	fid, err := fsys.Open(path, plan9.OREAD)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadAll(fid); err != nil {
		b.Fatal(err)
	}
	fid.Close()
}

// A client's session check: attach with the session token on an open
// connection, then read the mount table.
func BenchmarkSessionAttachReadTable(b *testing.B) {
	tt, token, _, _, _ := benchTable(b, testKDF)
	conn := benchConn(b, tt)
	b.ResetTimer()
	for b.Loop() {
		fsys, err := conn.Attach(nil, "alice", "session "+token)
		if err != nil {
			b.Fatal(err)
		}
		readAll(b, fsys, "/user/alice/table")
		fsys.Close()
	}
}

// A store checking store tokens on one connection: one read of
// check/<token> (walk, open, read, clunk) per check.
func BenchmarkStoreTokenCheck(b *testing.B) {
	tt, _, id, secret, tok := benchTable(b, testKDF)
	fsys, err := benchConn(b, tt).Attach(nil, "alice", "store "+id+" "+secret)
	if err != nil {
		b.Fatal(err)
	}
	path := "/user/alice/check/" + tok
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		readAll(b, fsys, path)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "checks/s")
}

// The same from 8 connections at once.
func BenchmarkStoreTokenCheckParallel(b *testing.B) {
	tt, _, id, secret, tok := benchTable(b, testKDF)
	path := "/user/alice/check/" + tok
	start := time.Now()
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		nc, err := net.Dial("tcp", tt.addr)
		if err != nil {
			b.Error(err)
			return
		}
		conn, err := client.NewConn(nc)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		fsys, err := conn.Attach(nil, "alice", "store "+id+" "+secret)
		if err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			readAll(b, fsys, path)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "checks/s")
}

// A master attach, with the default argon2id parameters: slow by design.
func BenchmarkMasterAttach(b *testing.B) {
	tt, _, _, _, _ := benchTable(b, DefaultKDF)
	conn := benchConn(b, tt)
	b.ResetTimer()
	for b.Loop() {
		fsys, err := conn.Attach(nil, "alice", "master "+testMaster)
		if err != nil {
			b.Fatal(err)
		}
		fsys.Close()
	}
}
