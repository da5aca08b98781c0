package gigfs

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// The conformance suite of the stores: the memory, on-disk and remote
// stores answer every request alike (stores.go). Each kind is reached the
// way the client reaches it, as the one store of channel "c".
func TestStores_Conformance(t *testing.T) {
	kinds := []struct {
		name string
		// open returns a config whose channel "c" has one store of the
		// kind; the same config opens the same store again.
		open     func(t *testing.T) Config
		keepsAll bool // what it took is there for the next client
	}{
		{"memory", func(t *testing.T) Config {
			cfg := testConfig(t)
			cfg.LocalTable = map[string][]LocalStore{"c": {{InMemory: true}}}
			return cfg
		}, false},
		{"disk", func(t *testing.T) Config {
			cfg := testConfig(t)
			cfg.LocalTable = map[string][]LocalStore{"c": {{StoragePath: filepath.Join(t.TempDir(), "s")}}}
			return cfg
		}, true},
		{"remote", func(t *testing.T) Config { return newWorld(t, 1).config() }, true},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			// Each part on a store of its own.
			t.Run("results", func(t *testing.T) { conformResults(t, oneStore(t, k.open(t))) })
			t.Run("names", func(t *testing.T) { conformNames(t, oneStore(t, k.open(t))) })
			t.Run("listing", func(t *testing.T) { conformListing(t, oneStore(t, k.open(t))) })
			if k.keepsAll {
				t.Run("reopen", func(t *testing.T) { conformReopen(t, k.open(t)) })
			}
		})
	}
}

// oneStore opens a client on cfg and returns the one store of channel "c".
func oneStore(t *testing.T, cfg Config) Store {
	t.Helper()
	c := mustClient(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ss, err := c.stores(ctx, "c")
	if err != nil || len(ss) != 1 {
		t.Fatalf("stores of c: %d, %v", len(ss), err)
	}
	// A read waits for a remote store's first connection.
	if _, err := ss[0].Read(ctx, "counter", "/c/none"); err != nil {
		t.Fatalf("first read from %s: %v", ss[0].Name(), err)
	}
	return ss[0]
}

func conformOp(t *testing.T, date int64, origin string, seq uint64, payload string) oplog.Op {
	t.Helper()
	o, err := oplog.NewOp(date, origin, seq, json.RawMessage(payload))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// pushOne pushes one record to spath and returns its result.
func pushOne(t *testing.T, s Store, typ, spath string, o oplog.Op) oplog.Result {
	t.Helper()
	res, err := s.Push(context.Background(), []netstore.Record{{Type: typ, Path: spath, Op: o}})
	if err != nil || len(res) != 1 {
		t.Fatalf("push to %s: %v, %v", s.Name(), res, err)
	}
	return res[0]
}

func readLog(t *testing.T, s Store, typ, spath string) *oplog.Log {
	t.Helper()
	l, err := s.Read(context.Background(), typ, spath)
	if err != nil {
		t.Fatalf("read %s %s from %s: %v", typ, spath, s.Name(), err)
	}
	return l
}

// conformResults: an empty read, and each result code.
func conformResults(t *testing.T, s Store) {
	const typ, spath = "counter", "/c/r"
	if l := readLog(t, s, typ, spath); l.Len() != 1 || l.Base().Sha != oplog.Initial().Sha {
		t.Fatalf("a path never pushed reads as %d records of base %.12s, want the empty log", l.Len(), l.Base().Sha)
	}
	now := time.Now().UnixMilli()
	a1 := conformOp(t, now, "a", 1, "1")
	a2 := conformOp(t, now+1, "a", 2, "2")
	b1 := conformOp(t, now+2, "b", 1, "4")
	want := func(what string, o oplog.Op, code oplog.Code) {
		t.Helper()
		if r := pushOne(t, s, typ, spath, o); r.Code != code {
			t.Errorf("%s: %v, want %v", what, r, code)
		}
	}
	want("a new op", a1, oplog.CodeAccepted)
	want("the same op again", a1, oplog.CodeDuplicate)
	want("another op on a taken (origin, seq)", conformOp(t, now+5, "a", 1, "9"), oplog.CodeSeqTaken)
	bad := a2
	bad.Payload = json.RawMessage("3")
	want("an op whose sha does not match", bad, oplog.CodeInvalid)
	want("an op far in the future", conformOp(t, now+48*time.Hour.Milliseconds(), "f", 1, "1"), oplog.CodeLimit)
	want("a second op", a2, oplog.CodeAccepted)
	want("a third op", b1, oplog.CodeAccepted)

	// A checkpoint covering a1 and a2 prunes them; their echoes are covered.
	l := readLog(t, s, typ, spath)
	cpA, err := oplog.NewCheckpoint(now+3, "a", json.RawMessage("3"), oplog.Coverage{"a": 2})
	if err != nil {
		t.Fatal(err)
	}
	want("a checkpoint covering more", cpA, oplog.CodeAccepted)
	want("an echo of a covered op", a1, oplog.CodeCovered)
	want("the checkpoint again", cpA, oplog.CodeDuplicate)
	want("the initial checkpoint", oplog.Initial(), oplog.CodeSuperseded)
	cpOld, _ := oplog.NewCheckpoint(now+1, "a", json.RawMessage("1"), oplog.Coverage{"a": 1})
	want("a checkpoint covering less", cpOld, oplog.CodeSuperseded)
	cpB, _ := oplog.NewCheckpoint(now+4, "b", json.RawMessage("5"), oplog.Coverage{"a": 1, "b": 1})
	want("a checkpoint covering b1 but not a2", cpB, oplog.CodeIncomparable)
	after := readLog(t, s, typ, spath)
	if after.Base().Sha != cpA.Sha || len(after.Ops()) != 1 || after.Ops()[0].Sha != b1.Sha {
		t.Fatalf("after the checkpoint: base %.12s, %d ops; want base %.12s and b1 (before: %d records)",
			after.Base().Sha, len(after.Ops()), cpA.Sha, l.Len())
	}
	if v, err := oplog.Reduce(oplog.Counter, after); err != nil || string(v) != "7" {
		t.Fatalf("value %s, %v; want 7", v, err)
	}
}

// conformNames: a record with a bad type or path is refused as invalid, on
// its own; the others of the push are taken.
func conformNames(t *testing.T, s Store) {
	o := conformOp(t, time.Now().UnixMilli(), "n", 1, "1")
	recs := []netstore.Record{
		{Type: ".hidden", Path: "/c/x", Op: o},
		{Type: "counter", Path: "/c/../x", Op: o},
		{Type: "counter", Path: "/c//x", Op: o},
		{Type: "a/b", Path: "/c/x", Op: o},
		{Type: "counter", Path: "/c/x\n", Op: o},
		{Type: "counter", Path: "/c/ok", Op: o},
	}
	res, err := s.Push(context.Background(), recs)
	if err != nil || len(res) != len(recs) {
		t.Fatalf("push: %v, %v", res, err)
	}
	for i, r := range res[:len(res)-1] {
		if r.Code != oplog.CodeInvalid {
			t.Errorf("%s %q: %v, want invalid", recs[i].Type, recs[i].Path, r)
		}
	}
	if r := res[len(res)-1]; r.Code != oplog.CodeAccepted {
		t.Errorf("the good record of the push: %v", r)
	}
	if got, err := s.List(context.Background(), "c", ""); err != nil || len(got) != 1 {
		t.Errorf("refused records made oplogs: %v, %v", got, err)
	}
}

// conformListing: list names every oplog of a channel below a folder, in
// one order (by type, then path element by element), and nothing of
// other channels.
func conformListing(t *testing.T, s Store) {
	now := time.Now().UnixMilli()
	var pushed []TypePath
	for i, tp := range []TypePath{
		{"lww", "/z"}, {"counter", "/a/b"}, {"counter", "/a-b"}, {"counter", "/a/c/d"},
		{"set", "/a/b"}, {"counter", "/b"},
	} {
		if r := pushOne(t, s, tp.Type, storePath("c", tp.Path), conformOp(t, now, "l", uint64(i+1), "1")); r.Code != oplog.CodeAccepted {
			t.Fatalf("push %v: %v", tp, r)
		}
		pushed = append(pushed, tp)
	}
	// Another channel's oplog on the same store is never listed.
	pushOne(t, s, "counter", storePath("other", "/a/b"), conformOp(t, now, "l", 99, "1"))

	sortTypePaths(pushed)
	got, err := s.List(context.Background(), "c", "")
	if err != nil || !slices.Equal(got, pushed) {
		t.Errorf("list c:\n got %v, %v\nwant %v", got, err, pushed)
	}
	got, err = s.List(context.Background(), "c", "/a")
	want := []TypePath{{"counter", "/a/b"}, {"counter", "/a/c/d"}, {"set", "/a/b"}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("list c /a:\n got %v, %v\nwant %v", got, err, want)
	}
	if got, err := s.List(context.Background(), "c", "/none"); err != nil || len(got) != 0 {
		t.Errorf("list of a folder with no oplog: %v, %v", got, err)
	}
}

// conformReopen: what a store took is there for the next client.
func conformReopen(t *testing.T, cfg Config) {
	s := oneStore(t, cfg)
	o := conformOp(t, time.Now().UnixMilli(), "r", 1, "5")
	if r := pushOne(t, s, "counter", "/c/reopen", o); r.Code != oplog.CodeAccepted {
		t.Fatalf("push: %v", r)
	}
	s.Close()
	again := oneStore(t, cfg)
	if l := readLog(t, again, "counter", "/c/reopen"); !l.Has(&o) {
		t.Fatal("the op is gone once the store is opened again")
	}
}
