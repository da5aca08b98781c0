package oplog

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func lines(ops ...Op) []byte {
	var b []byte
	for i := range ops {
		b = ops[i].AppendJSON(b)
		b = append(b, '\n')
	}
	return b
}

func TestFile_AppendReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, recs, err := OpenFile(path)
	if err != nil || len(recs) != 0 {
		t.Fatalf("OpenFile new: %v, %d bytes", err, len(recs))
	}
	var want []byte
	for i := 1; i <= 5; i++ {
		b := lines(mustOp(t, int64(i), "a", uint64(i), fmt.Sprint(i)))
		if err := f.Append(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
	}
	f.Close()
	f, recs, err = OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !bytes.Equal(recs, want) {
		t.Fatalf("records after reopen:\n%s\nwant\n%s", recs, want)
	}
}

// A crash in the middle of an append: for every cut point inside the last
// frame, loading gives the intact prefix without error, every earlier
// (acknowledged) append is present, and the file is cut so that the next
// append is readable.
func TestFile_TornLastFrame(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	f, _, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	acked := lines(mustOp(t, 1, "a", 1, `"one"`), mustOp(t, 2, "a", 2, `"two"`))
	if err := f.Append(acked); err != nil {
		t.Fatal(err)
	}
	prefix := f.Size()
	if err := f.Append(lines(mustOp(t, 3, "a", 3, `"three, torn"`))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	extra := lines(mustOp(t, 4, "a", 4, `"after restart"`))
	for cut := prefix; cut < int64(len(full)); cut++ {
		p := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		os.WriteFile(p, full[:cut], 0o644)
		g, recs, err := OpenFile(p)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if !bytes.Equal(recs, acked) {
			t.Fatalf("cut at %d: records %q, want %q", cut, recs, acked)
		}
		if g.Size() != prefix {
			t.Fatalf("cut at %d: size %d after load, want %d", cut, g.Size(), prefix)
		}
		if err := g.Append(extra); err != nil {
			t.Fatal(err)
		}
		g.Close()
		_, recs, err = OpenFile(p)
		if err != nil || !bytes.Equal(recs, append(append([]byte(nil), acked...), extra...)) {
			t.Fatalf("cut at %d: after append and reload: %q, %v", cut, recs, err)
		}
		os.Remove(p)
	}
	// Zeros where the last append should be (a crash after the size grew but
	// before the data reached the disk) are cut too.
	zeroed := append(append([]byte(nil), full[:prefix]...), make([]byte, len(full)-int(prefix))...)
	os.WriteFile(path, zeroed, 0o644)
	g, recs, err := OpenFile(path)
	if err != nil || !bytes.Equal(recs, acked) {
		t.Fatalf("zero tail: %q, %v", recs, err)
	}
	g.Close()
}

// Damage before the last frame cannot come from a torn append: loading fails
// naming the file and the offset, and cuts nothing.
func TestFile_CorruptMiddle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, _, _ := OpenFile(path)
	f.Append(lines(mustOp(t, 1, "a", 1, `1`)))
	f.Append(lines(mustOp(t, 2, "a", 2, `2`)))
	f.Close()
	data, _ := os.ReadFile(path)
	for _, at := range []int{0, 9, headerLen + 5} {
		bad := append([]byte(nil), data...)
		bad[at] ^= 0xff
		os.WriteFile(path, bad, 0o644)
		_, _, err := OpenFile(path)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "offset 0") {
			t.Fatalf("flip at %d: err %v, want ErrCorrupt naming %s at offset 0", at, err, path)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, bad) {
			t.Fatalf("flip at %d: file changed", at)
		}
	}
}

// Concurrent appends share fsyncs, and every acknowledged record is there.
func TestFile_GroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, _, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 16, 40
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 1; i <= each; i++ {
				if err := f.Append(lines(mustOp(t, int64(i), fmt.Sprintf("w%d", w), uint64(i), `1`))); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	syncs := f.Syncs()
	f.Close()
	if syncs >= writers*each {
		t.Errorf("%d fsyncs for %d appends: no group commit", syncs, writers*each)
	}
	_, recs, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(recs, []byte("\n")); n != writers*each {
		t.Fatalf("%d records after reopen, want %d", n, writers*each)
	}
	t.Logf("%d appends, %d fsyncs", writers*each, syncs)
}

func TestDiskLog_CompactionAndReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	d, err := OpenDiskLog(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 200; i++ {
		res, err := d.Merge([]Op{mustOp(t, int64(i), "a", uint64(i), `1`)})
		if err != nil || res[0].Outcome() != Accepted {
			t.Fatalf("merge %d: %v %v", i, res, err)
		}
	}
	before := d.File().Size()
	c, _, _ := d.Snapshot().Fold(Counter, 500, "f")
	if _, err := d.Merge([]Op{c, mustOp(t, 501, "a", 201, `1`)}); err != nil {
		t.Fatal(err)
	}
	if after := d.File().Size(); after >= before/4 {
		t.Fatalf("file %d bytes after prune, %d before: not compacted", after, before)
	}
	want := string(d.Snapshot().AppendJSONLines(nil))
	d.Close()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("files left in folder: %v", ents)
	}
	d, err = OpenDiskLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := string(d.Snapshot().AppendJSONLines(nil)); got != want {
		t.Fatalf("after reload:\n%s\nwant\n%s", got, want)
	}
	if v, _ := Reduce(Counter, d.Snapshot()); string(v) != "201" {
		t.Fatalf("value %s", v)
	}
}

// The on-disk format is pinned by a golden file: a change of format is a
// visible, deliberate change (go test -run Golden -update rewrites it).
// v1.log is the first format (records with their sha) and is never
// rewritten: old files still load. v2.log is the current one (records
// without their sha, see appendStored).
func TestFile_Golden(t *testing.T) {
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) { testGolden(t, v) })
	}
}

func testGolden(t *testing.T, v string) {
	golden := filepath.Join("testdata", v+".log")
	want := filepath.Join("testdata", v+".jsonl")
	if *update && v != "v1" {
		os.Remove(golden)
		d, err := OpenDiskLog(golden)
		if err != nil {
			t.Fatal(err)
		}
		d.Merge([]Op{mustOp(t, 1732550000123, "golden-a", 1, `{"add":"x"}`), mustOp(t, 1732550000123, "golden-b", 1, `{"add":"y"}`)})
		d.Merge([]Op{mustCheckpoint(t, 1732550000200, "golden-a", `["x","y"]`, Coverage{"golden-a": 1, "golden-b": 1})})
		d.Merge([]Op{mustOp(t, 1732550000100, "golden-c", 1, `{"del":"x"}`)})
		os.WriteFile(want, d.Snapshot().AppendJSONLines(nil), 0o644)
		d.Close()
	}
	// Load a copy, so the golden file itself is never touched.
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "log")
	os.WriteFile(p, data, 0o644)
	d, err := OpenDiskLog(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	wantText, _ := os.ReadFile(want)
	if got := string(d.Snapshot().AppendJSONLines(nil)); got != string(wantText) {
		t.Fatalf("golden log loads as\n%s\nwant\n%s", got, wantText)
	}
	if v, _ := Reduce(Set, d.Snapshot()); string(v) != `["y"]` {
		t.Fatalf("value %s", v)
	}
	var recs []byte
	readFrames(data, func(r []byte) error { recs = append(recs, r...); return nil })
	if v == "v2" && (len(recs) == 0 || bytes.Contains(recs, []byte(`"sha"`))) {
		t.Errorf("the current format keeps shas on disk")
	}
}

// A merge of many large ops goes to disk as several frames, each small
// enough to decode, and all of it loads again.
func TestDiskLog_LargeBatchReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	d, err := OpenDiskLog(path)
	if err != nil {
		t.Fatal(err)
	}
	big := `"` + strings.Repeat("x", 900<<10) + `"`
	var ops []Op
	for i := 1; i <= 20; i++ {
		ops = append(ops, mustOp(t, int64(i), "a", uint64(i), big))
	}
	if _, err := d.Merge(ops); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err = OpenDiskLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if n := len(d.Snapshot().Ops()); n != 20 {
		t.Fatalf("%d of 20 acknowledged ops after reload", n)
	}
}

// An op whose encoding is over the limit is refused when made, so no
// accepted op can make its file unloadable.
func TestOp_EncodedSizeLimit(t *testing.T) {
	payload := `"` + strings.Repeat("y", MaxOpSize-60) + `"` // fits alone, not with the fields
	if _, err := NewOp(1, strings.Repeat("o", MaxOriginLen), 1, json.RawMessage(payload)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("NewOp of an oversized op: %v", err)
	}
}

// A duplicate of an op whose append is still on its way is answered no-op
// only once that append is durable (the duplicate's Merge may write it
// itself, as any waiter of a group commit does).
func TestDiskLog_NoOpWaitsForDurable(t *testing.T) {
	d, err := OpenDiskLog(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	o := mustOp(t, 1, "a", 1, `1`)
	// A merge accepted o and queued it, but nobody has written it yet.
	d.mu.Lock()
	d.log.Merge(o)
	b, _ := d.file.enqueue(lines(o))
	d.mu.Unlock()
	res, err := d.Merge([]Op{o})
	if err != nil || res[0].Outcome() != NoOp {
		t.Fatalf("duplicate: %v %v", res, err)
	}
	d.file.mu.Lock()
	done, syncs := b.done, d.file.syncs
	d.file.mu.Unlock()
	if !done || syncs != 1 {
		t.Fatalf("no-op answered with the first append not durable (done %v, %d fsyncs)", done, syncs)
	}
}

// A journal error undoes MergeJournaled: the log, its version and what
// the next Flush writes are as before, so the same ops merged again are
// accepted (not "already present" while durable nowhere), and a Flush or
// a reload never brings back what was not acknowledged. With a checkpoint
// among the ops, the ops it pruned come back too.
func TestDiskLog_MergeJournaledUndoneOnJournalError(t *testing.T) {
	for _, withCheckpoint := range []bool{false, true} {
		t.Run(fmt.Sprintf("checkpoint=%v", withCheckpoint), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			d, err := OpenDiskLog(path)
			if err != nil {
				t.Fatal(err)
			}
			var ops []Op
			for i := 1; i <= 40; i++ { // past indexMin: the (origin, seq) map is undone too
				ops = append(ops, mustOp(t, int64(i), "a", uint64(i), `1`))
			}
			if res, err := d.Merge(ops); err != nil || res[0].Outcome() != Accepted {
				t.Fatalf("merge: %v %v", res, err)
			}
			want := string(d.Snapshot().AppendJSONLines(nil))
			var ver uint64
			d.View(func(_ *Log, v uint64) { ver = v })

			batch := []Op{mustOp(t, 50, "b", 1, `1`), mustOp(t, 3, "c", 1, `1`)} // appended, inserted
			if withCheckpoint {
				c, _, err := d.Snapshot().Fold(Counter, 45, "f")
				if err != nil {
					t.Fatal(err)
				}
				batch = append(batch, c)
			}
			batch = append(batch, mustOp(t, 60, "b", 2, `1`))
			failed := errors.New("journal down")
			if _, _, err := d.MergeJournaled(batch, func([]byte) (Ticket, error) { return Ticket{}, failed }); !errors.Is(err, failed) {
				t.Fatalf("MergeJournaled with a failing journal: %v, want its error", err)
			}
			got := string(d.Snapshot().AppendJSONLines(nil))
			var ver2 uint64
			d.View(func(_ *Log, v uint64) { ver2 = v })
			if got != want || ver2 != ver {
				t.Fatalf("after the journal error: version %d (want %d), log\n%s\nwant\n%s", ver2, ver, got, want)
			}
			for i := range batch {
				if d.Snapshot().Has(&batch[i]) && batch[i].Kind() == KindOp {
					t.Fatalf("op %d of the failed merge is still in the log", i)
				}
			}

			var journaled []byte
			res, _, err := d.MergeJournaled(batch, func(b []byte) (Ticket, error) {
				journaled = append([]byte(nil), b...)
				return Ticket{}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.Outcome() != Accepted {
					t.Fatalf("op %d merged again: %v, want accepted", i, r)
				}
			}
			if n := bytes.Count(journaled, []byte("\n")); n != len(batch) {
				t.Fatalf("merged again: %d records journaled, want %d", n, len(batch))
			}
			if err := d.Flush(); err != nil {
				t.Fatal(err)
			}
			want = string(d.Snapshot().AppendJSONLines(nil))
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			d, err = OpenDiskLog(path)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if got := string(d.Snapshot().AppendJSONLines(nil)); got != want {
				t.Fatalf("reloaded:\n%s\nwant\n%s", got, want)
			}
		})
	}
}
