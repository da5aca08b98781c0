package netstore

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/oplog"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// copyTree copies the files below src to dst as they are now: the image a
// crash would leave.
func copyTree(tb testing.TB, src, dst string) {
	tb.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o600)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func counterRecs(tb testing.TB, origin string, from, to int, path string) []Record {
	var recs []Record
	for seq := from; seq <= to; seq++ {
		o, err := oplog.NewOp(int64(1000+seq), origin, uint64(seq), []byte("1"))
		if err != nil {
			tb.Fatal(err)
		}
		recs = append(recs, Record{Type: "counter", Path: path, Op: o})
	}
	return recs
}

// An acknowledged push is durable in the write-ahead log alone: a crash
// before any flush to the oplogs' files (the data folder copied as it is,
// with the store still open) loses nothing, and the copy replays it.
func TestService_AcknowledgedBeforeFlushSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	svc, err := Open(Config{Dir: dir, FlushInterval: -1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.AddUser("kim"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var recs []Record
	for p := 0; p < 5; p++ {
		recs = append(recs, counterRecs(t, "o", 1, 3, fmt.Sprintf("/c/p%d", p))...)
	}
	res, err := svc.Push(ctx, "kim", recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Outcome() != oplog.Accepted {
			t.Fatalf("record %d: %v", i, r)
		}
	}
	if n := svc.wal.j.Syncs(); n != 1 {
		t.Errorf("one push to 5 oplogs: %d fsyncs of the write-ahead log, want 1", n)
	}
	crash := t.TempDir()
	copyTree(t, dir, crash)
	svc2, err := Open(Config{Dir: crash, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer svc2.Close()
	for p := 0; p < 5; p++ {
		l, err := svc2.Log("kim", "counter", fmt.Sprintf("/c/p%d", p))
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Ops()) != 3 {
			t.Errorf("/c/p%d after the crash: %d ops, want 3", p, len(l.Ops()))
		}
	}
	// The replay made the oplogs' files whole and emptied the log.
	if n := svc2.wal.j.Size(); n != 0 {
		t.Errorf("write-ahead log after replay: %d bytes, want 0", n)
	}
}

// A flush writes the oplogs' files and empties the write-ahead log; the
// store then loads from the files alone.
func TestService_FlushEmptiesTheLog(t *testing.T) {
	dir := t.TempDir()
	svc, err := Open(Config{Dir: dir, FlushInterval: -1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	svc.AddUser("kim")
	if _, err := svc.Push(context.Background(), "kim", counterRecs(t, "o", 1, 10, "/c/n")); err != nil {
		t.Fatal(err)
	}
	if err := svc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := svc.wal.j.Size(); n != 0 {
		t.Errorf("write-ahead log after a flush: %d bytes", n)
	}
	crash := t.TempDir()
	copyTree(t, dir, crash)
	os.RemoveAll(filepath.Join(crash, "wal"))
	svc.Close()
	svc2, err := Open(Config{Dir: crash, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer svc2.Close()
	if l, _ := svc2.Log("kim", "counter", "/c/n"); len(l.Ops()) != 10 {
		t.Errorf("from the files alone: %d ops, want 10", len(l.Ops()))
	}
}

// replayGolden opens a store of user kim whose write-ahead log is the
// golden segment, and returns it.
func replayGolden(t *testing.T, golden string) *Service {
	t.Helper()
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	svc, err := Open(Config{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	svc.AddUser("kim")
	svc.Close()
	os.WriteFile(filepath.Join(dir, "wal", filepath.Base(golden)), data, 0o600)
	svc, err = Open(Config{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

// checkGolden checks what the golden segments hold: two ops of counter
// /c/n and the first of them in lww /c/a b/é, their shas as made.
func checkGolden(t *testing.T, svc *Service) {
	t.Helper()
	want := counterRecs(t, "golden", 1, 2, "/c/n")
	l, err := svc.Log("kim", "counter", "/c/n")
	if err != nil || len(l.Ops()) != 2 {
		t.Fatalf("counter /c/n from the golden log: %v %v", l, err)
	}
	for i, o := range l.Ops() {
		if o.Sha != want[i].Op.Sha {
			t.Errorf("op %d: sha %s, want %s", i+1, o.Sha, want[i].Op.Sha)
		}
	}
	if l, err := svc.Log("kim", "lww", "/c/a b/é"); err != nil || len(l.Ops()) != 1 || l.Ops()[0].Sha != want[0].Op.Sha {
		t.Fatalf("lww /c/a b/é from the golden log: %v %v", l, err)
	}
}

// A write-ahead log of the previous version (testdata/wal-v1: keys in
// every record, ops with their shas) is replayed by a store of this one:
// an upgrade over a log that was not flushed loses nothing.
func TestService_GoldenWALV1(t *testing.T) {
	checkGolden(t, replayGolden(t, filepath.Join("testdata", "wal-v1", "0000000000000001.wal")))
}

// The write-ahead log's format is pinned by a golden segment (go test -run
// Golden -update rewrites it): a store replays it into its oplogs.
func TestService_GoldenWAL(t *testing.T) {
	golden := filepath.Join("testdata", "wal-v2", "0000000000000001.wal")
	if *updateGolden {
		os.RemoveAll(filepath.Dir(golden))
		j, _, err := oplog.OpenJournal(filepath.Dir(golden), func(_, _ []byte) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		var ops []oplog.Op
		for _, r := range counterRecs(t, "golden", 1, 2, "/c/n") {
			ops = append(ops, r.Op)
		}
		for _, w := range []struct {
			typ, path string
			ops       []oplog.Op
		}{{"counter", "/c/n", ops}, {"lww", "/c/a b/é", ops[:1]}} {
			d, err := oplog.OpenDiskLog(filepath.Join(t.TempDir(), "log"))
			if err != nil {
				t.Fatal(err)
			}
			_, tk, err := d.MergeJournaled(w.ops, func(recs []byte) (oplog.Ticket, error) {
				return j.Enqueue(walKey("kim", w.typ, w.path), recs)
			})
			if err == nil {
				err = tk.Wait()
			}
			if err != nil {
				t.Fatal(err)
			}
			d.Close()
		}
		j.Close()
	}
	checkGolden(t, replayGolden(t, golden))
}

// A flush writes many oplogs' files at once, and removes the write-ahead
// log only once every one of them is durable: when one file cannot be
// written, the others are flushed, the log is kept, and a crash then
// replays what that oplog holds in the log only.
func TestService_FlushThatFailsForOneOplogKeepsTheLog(t *testing.T) {
	dir := t.TempDir()
	svc, err := Open(Config{Dir: dir, FlushInterval: -1, FlushWorkers: 4, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	svc.AddUser("kim")
	const paths, bad = 40, 7
	var recs []Record
	for p := range paths {
		recs = append(recs, counterRecs(t, "o", 1, 3, fmt.Sprintf("/c/p%d", p))...)
	}
	if _, err := svc.Push(context.Background(), "kim", recs); err != nil {
		t.Fatal(err)
	}
	// The bad oplog's file can no longer be appended to: a folder stands
	// in its place.
	u, err := svc.user("kim")
	if err != nil {
		t.Fatal(err)
	}
	name := u.file("counter", fmt.Sprintf("/c/p%d", bad))
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(name, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := svc.Flush(); err == nil {
		t.Fatal("flush with an oplog's file that cannot be written: no error")
	}
	if n := svc.wal.j.Size(); n == 0 {
		t.Fatal("write-ahead log removed by a flush that failed for one oplog")
	}
	crash := t.TempDir()
	copyTree(t, dir, crash)
	rel, err := filepath.Rel(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(crash, rel)); err != nil { // the folder, empty
		t.Fatal(err)
	}
	svc2, err := Open(Config{Dir: crash, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer svc2.Close()
	for p := range paths {
		l, err := svc2.Log("kim", "counter", fmt.Sprintf("/c/p%d", p))
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Ops()) != 3 {
			t.Errorf("/c/p%d after the crash: %d ops, want 3", p, len(l.Ops()))
		}
	}
}

// The write-ahead log is never larger than the JSON lines of the ops it
// holds, whether each push has a write of its own (one small record per
// fsync) or many share one (16 writers): before any flush, it holds every
// op, as what the oplogs' files will hold (no shas), keyed once per
// segment and, for a group commit, compressed.
func TestService_WALSmallerThanJSONLines(t *testing.T) {
	for _, writers := range []int{1, 16} {
		t.Run(fmt.Sprintf("%d writers", writers), func(t *testing.T) {
			svc, err := Open(Config{Dir: t.TempDir(), FlushInterval: -1, Logf: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			id := "1c5e0f3e-8d5a-4b7e-9a51-5d0c2b7f6e43"
			if _, err := svc.AddUser(id); err != nil {
				t.Fatal(err)
			}
			const perWriter = 200
			origin := "9b2f63c4-3f0e-4a51-9d7e-0c1c2a6d5e11"
			recs := counterRecs(t, origin, 1, writers*perWriter, "/bench/p1")
			var jsonLines int
			for _, r := range recs {
				jsonLines += len(r.Op.AppendJSON(nil)) + 1
			}
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(recs); i += writers {
						if _, err := svc.Push(context.Background(), id, recs[i:i+1]); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			size := svc.wal.j.Size()
			t.Logf("%d ops: write-ahead log %d bytes (%.1f B/op), JSON lines %d (%.1f B/op)", len(recs), size, float64(size)/float64(len(recs)), jsonLines, float64(jsonLines)/float64(len(recs)))
			if size >= int64(jsonLines) {
				t.Errorf("write-ahead log of %d ops: %d bytes, their JSON lines %d", len(recs), size, jsonLines)
			}
		})
	}
}

// A push whose records for one oplog cannot be written (past the
// write-ahead log's record bound) gets an honest result for every record:
// that oplog's are refused (limit) and never merged, the others accepted,
// durable and on the stream, in order. A crash image and a clean restart
// both serve exactly what was accepted. Before, the push failed as a whole
// with the earlier oplogs' records written and never published, and the
// refused oplog's ops stayed in memory, "already present" to a retry.
func TestService_PushWithAnOplogPastTheRecordBound(t *testing.T) {
	dir := t.TempDir()
	svc, err := Open(Config{Dir: dir, FlushInterval: -1, WALMaxRecord: 4096, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.AddUser("kim"); err != nil {
		t.Fatal(err)
	}
	c, err := svc.Stream("kim", nil)
	if err != nil {
		t.Fatal(err)
	}
	big, err := oplog.NewOp(2000, "o", 1, []byte(`"`+strings.Repeat("x", 8000)+`"`))
	if err != nil {
		t.Fatal(err)
	}
	recs := counterRecs(t, "o", 1, 3, "/c/a")
	recs = append(recs, Record{Type: "counter", Path: "/c/big", Op: big})
	recs = append(recs, counterRecs(t, "o", 1, 2, "/c/b")...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	push := func(want oplog.Outcome) {
		t.Helper()
		res, err := svc.Push(ctx, "kim", recs)
		if err != nil {
			t.Fatalf("push: %v, want a result per record", err)
		}
		for i, r := range res {
			if recs[i].Path == "/c/big" {
				if r.Code != oplog.CodeLimit {
					t.Fatalf("the record past the bound: %v, want limit", r)
				}
			} else if r.Outcome() != want {
				t.Fatalf("record %d (%s): %v, want outcome %v", i, recs[i].Path, r, want)
			}
		}
	}
	push(oplog.Accepted)
	for _, want := range []string{"/c/a", "/c/a", "/c/a", "/c/b", "/c/b"} {
		ev, err := c.NextEvent(ctx)
		if err != nil {
			t.Fatalf("stream: %v, want the event of an accepted op of %s", err, want)
		}
		if ev.Path != want {
			t.Fatalf("stream: event for %s, want %s", ev.Path, want)
		}
	}
	// Pushed again, the oplog past the bound is refused again, not told
	// "already present": it was never merged.
	push(oplog.NoOp)

	check := func(svc *Service, when string) {
		t.Helper()
		for path, n := range map[string]int{"/c/a": 3, "/c/big": 0, "/c/b": 2} {
			l, err := svc.Log("kim", "counter", path)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Ops()) != n {
				t.Errorf("%s: %s has %d ops, want %d", when, path, len(l.Ops()), n)
			}
		}
	}
	check(svc, "before a restart")
	crash := t.TempDir()
	copyTree(t, dir, crash)
	svc2, err := Open(Config{Dir: crash, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	check(svc2, "after a crash")
	svc2.Close()
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	svc3, err := Open(Config{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer svc3.Close()
	check(svc3, "after a restart")
}

// A push whose request is cancelled before its oplogs are merged merges
// none of them: every record fails (retry), none is accepted.
func TestService_CancelledPushMergesNothing(t *testing.T) {
	svc, err := Open(Config{Dir: t.TempDir(), FlushInterval: -1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.AddUser("kim"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	recs := append(counterRecs(t, "o", 1, 2, "/c/a"), counterRecs(t, "o", 1, 2, "/c/b")...)
	res, err := svc.Push(ctx, "kim", recs)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled push: %v, want context.Canceled", err)
	}
	for i, r := range res {
		if r.Code != oplog.CodeFailed {
			t.Fatalf("record %d of a cancelled push: %v, want failed", i, r)
		}
	}
	for _, path := range []string{"/c/a", "/c/b"} {
		if l, err := svc.Log("kim", "counter", path); err != nil || len(l.Ops()) != 0 {
			t.Fatalf("%s after a cancelled push: %v ops, %v; want none", path, l, err)
		}
	}
}
