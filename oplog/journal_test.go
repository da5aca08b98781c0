package oplog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gigfs.io/gigfs/gig"
)

func mustJournal(tb testing.TB, dir string) (*Journal, [][]byte, uint64) {
	tb.Helper()
	var got [][]byte
	j, last, err := OpenJournal(dir, func(k, b []byte) error {
		if k != nil && string(k) != testKey {
			tb.Fatalf("record %q under key %q", b, k)
		}
		got = append(got, append([]byte(nil), b...))
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return j, got, last
}

// testKey is the key of the records journalWrite writes.
const testKey = "user kim, counter /c/n"

func journalWrite(tb testing.TB, j *Journal, bodies ...string) {
	tb.Helper()
	var t Ticket
	for _, b := range bodies {
		var err error
		if t, err = j.Enqueue([]byte(testKey), []byte(b)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := t.Wait(); err != nil {
		tb.Fatal(err)
	}
}

func TestJournal_ReplayRotateRemove(t *testing.T) {
	dir := t.TempDir()
	j, got, _ := mustJournal(t, dir)
	if len(got) != 0 {
		t.Fatalf("new journal replays %d records", len(got))
	}
	journalWrite(t, j, "one", "two")
	upTo, err := j.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	journalWrite(t, j, "three")
	j.Close()

	j, got, last := mustJournal(t, dir)
	if want := "one two three"; string(bytes.Join(got, []byte(" "))) != want {
		t.Fatalf("replayed %q, want %q", bytes.Join(got, []byte(" ")), want)
	}
	// What the first segment held is durable elsewhere: it goes.
	if err := j.Remove(upTo); err != nil {
		t.Fatal(err)
	}
	j.Close()
	_, got, last2 := mustJournal(t, dir)
	if string(bytes.Join(got, []byte(" "))) != "three" || last2 != last {
		t.Fatalf("after Remove(%d): replayed %q, last %d (was %d)", upTo, bytes.Join(got, []byte(" ")), last2, last)
	}
}

// Concurrent writers share fsyncs, and every record whose wait returned is
// replayed.
func TestJournal_GroupCommit(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := mustJournal(t, dir)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				journalWrite(t, j, fmt.Sprintf("w%d-%d", w, i))
			}
		}()
	}
	wg.Wait()
	if s := j.Syncs(); s >= 16*20 {
		t.Errorf("%d fsyncs for %d records: none shared", s, 16*20)
	}
	j.Close()
	_, got, _ := mustJournal(t, dir)
	if len(got) != 16*20 {
		t.Fatalf("replayed %d records, want %d", len(got), 16*20)
	}
}

// A crash in the middle of a write: for every cut point inside the last
// record, opening replays the records before it, cuts the segment there,
// and the journal goes on.
func TestJournal_TornTail(t *testing.T) {
	base := t.TempDir()
	j, _, _ := mustJournal(t, base)
	journalWrite(t, j, "acknowledged one", "acknowledged two")
	segs, _ := journalSegments(base)
	before, err := os.ReadFile(j.segName(segs[0]))
	if err != nil {
		t.Fatal(err)
	}
	journalWrite(t, j, "torn")
	j.Close()
	full, err := os.ReadFile(j.segName(segs[0]))
	if err != nil {
		t.Fatal(err)
	}
	tail := len(full) - len(before)
	for cut := len(full) - tail; cut < len(full); cut++ {
		for _, zeros := range []int{0, 7} {
			dir := t.TempDir()
			j := &Journal{dir: dir}
			data := append(append([]byte(nil), full[:cut]...), make([]byte, zeros)...)
			os.WriteFile(j.segName(1), data, 0o600)
			j2, got, _ := mustJournal(t, dir)
			if len(got) != 2 || string(got[1]) != "acknowledged two" {
				t.Fatalf("cut at %d (+%d zeros): replayed %q", cut, zeros, got)
			}
			want := len(full) - tail
			if allZero(data[want:]) { // the zeros of a preallocated segment: kept
				want = len(data)
			}
			if fi, _ := os.Stat(j.segName(1)); fi.Size() != int64(want) {
				t.Fatalf("cut at %d (+%d zeros): segment is %d bytes, want %d", cut, zeros, fi.Size(), want)
			}
			journalWrite(t, j2, "after")
			j2.Close()
			_, got, _ = mustJournal(t, dir)
			if len(got) != 3 || string(got[2]) != "after" {
				t.Fatalf("cut at %d: after a new write, replayed %q", cut, got)
			}
		}
	}
	// A flipped bit in the last record is a torn write too.
	dir := t.TempDir()
	jj := &Journal{dir: dir}
	data := append([]byte(nil), full...)
	data[len(data)-1] ^= 1
	os.WriteFile(jj.segName(1), data, 0o600)
	if _, got, _ := mustJournal(t, dir); len(got) != 2 {
		t.Fatalf("bad last record: replayed %q", got)
	}
}

// Damage before the last record, or in a segment before the last, cannot
// come from a torn write: opening fails and nothing is cut.
func TestJournal_CorruptIsAnError(t *testing.T) {
	base := t.TempDir()
	j, _, _ := mustJournal(t, base)
	journalWrite(t, j, "first record")
	journalWrite(t, j, "second record")
	j.Close()
	segs, _ := journalSegments(base)
	full, _ := os.ReadFile(j.segName(segs[0]))

	dir := t.TempDir()
	jj := &Journal{dir: dir}
	data := append([]byte(nil), full...)
	data[len(journalMagic)+journalHeader] ^= 1 // in the first record
	os.WriteFile(jj.segName(1), data, 0o600)
	_, _, err := OpenJournal(dir, func(_, _ []byte) error { return nil })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged first record: %v, want ErrCorrupt", err)
	}
	if fi, _ := os.Stat(jj.segName(1)); fi.Size() != int64(len(data)) {
		t.Fatalf("a corrupt segment was cut")
	}

	// A torn tail in a segment that is not the last.
	dir = t.TempDir()
	jj = &Journal{dir: dir}
	os.WriteFile(jj.segName(1), full[:len(full)-3], 0o600)
	os.WriteFile(jj.segName(2), full, 0o600)
	if _, _, err := OpenJournal(dir, func(_, _ []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("torn segment before the last: %v, want ErrCorrupt", err)
	}
}

// A segment of the previous version (testdata/journal-v1: a record per
// frame, no keys, no compression) is still replayed, so that a store
// upgraded over a journal it did not flush loses nothing: each record
// comes with a nil key and its whole body.
func TestJournal_GoldenV1(t *testing.T) {
	golden := filepath.Join("testdata", "journal-v1", "0000000000000001.wal")
	want := []string{"first record", "second\nrecord, with a newline", strings.Repeat("x", 300)}
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, filepath.Base(golden)), data, 0o600)
	_, got, last := mustJournal(t, dir)
	if len(got) != len(want) || last != 1 {
		t.Fatalf("golden journal: %d records, last segment %d", len(got), last)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("record %d: %q, want %q", i+1, got[i], want[i])
		}
	}
}

// keyed is a record as a replay gives it.
type keyed struct{ key, body string }

func replayKeyed(tb testing.TB, dir string) []keyed {
	tb.Helper()
	var got []keyed
	j, _, err := OpenJournal(dir, func(k, b []byte) error {
		got = append(got, keyed{string(k), string(b)})
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	j.Close()
	return got
}

func writeKeyed(tb testing.TB, j *Journal, recs ...keyed) {
	tb.Helper()
	var t Ticket
	for _, r := range recs {
		var err error
		if t, err = j.Enqueue([]byte(r.key), []byte(r.body)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := t.Wait(); err != nil {
		tb.Fatal(err)
	}
}

// counterLine is a record's body like a store's: an op as an oplog's
// file keeps it.
func counterLine(i int) string {
	return fmt.Sprintf(`{"date":%d,"origin":"9b2f63c4-3f0e-4a51-9d7e-0c1c2a6d5e11","seq":%d,"payload":{"add":1}}`+"\n", 1764855000000+i, i)
}

// The format is pinned by a golden segment (go test -run Golden -update
// rewrites it): keys defined once and then referred to, a frame of one
// small record stored as it is, and a group commit compressed.
func TestJournal_GoldenV2(t *testing.T) {
	golden := filepath.Join("testdata", "journal-v2", "0000000000000001.wal")
	a, b := "\x03kim\x07counter\x04\x00/c/n", "\x03kim\x03lww\x09\x00/c/a b/\u00e9"
	var want []keyed
	want = append(want, keyed{a, counterLine(1)})
	group := []keyed{{b, `{"date":1,"origin":"o","seq":1,"payload":"x"}` + "\n"}}
	for i := 2; i < 12; i++ {
		group = append(group, keyed{a, counterLine(i)})
	}
	if *update {
		os.RemoveAll(filepath.Dir(golden))
		j, _, _ := mustJournal(t, filepath.Dir(golden))
		writeKeyed(t, j, want...)
		writeKeyed(t, j, group...)
		j.Close()
	}
	want = append(want, group...)
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(data[:len(journalMagic)]) != "GIGWAL2\n" {
		t.Fatalf("golden segment starts %q", data[:len(journalMagic)])
	}
	if n := strings.Count(string(data), a); n != 1 {
		t.Errorf("key %q written %d times in the segment, want once", a, n)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, filepath.Base(golden)), data, 0o600)
	got := replayKeyed(t, dir)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("golden journal replays\n%q\nwant\n%q", got, want)
	}
}

// Each key is written once per segment, and again in the next one; a
// group commit of many small records is compressed, one small record is
// not; replay gives every record its key.
func TestJournal_KeysAndCompression(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := mustJournal(t, dir)
	var want []keyed
	var raw int
	for i := 1; i <= 3; i++ { // one record per write, as a sequential writer's
		r := keyed{"oplog A", counterLine(i)}
		writeKeyed(t, j, r)
		want = append(want, r)
		raw += len(r.body)
	}
	segs, _ := journalSegments(dir)
	first, _ := os.ReadFile(j.segName(segs[0]))
	if n := strings.Count(string(first), "oplog A"); n != 1 {
		t.Errorf("key written %d times in one segment, want once", n)
	}
	if !strings.Contains(string(first), counterLine(3)) {
		t.Errorf("a frame of one small record was compressed")
	}
	if len(first) >= len(journalMagic)+raw+3*(journalHeader+4)+len("oplog A")+2 {
		t.Errorf("3 records of %d bytes take %d bytes", raw, len(first))
	}
	if _, err := j.Rotate(); err != nil {
		t.Fatal(err)
	}
	var group []keyed
	raw = 0
	for i := 4; i < 68; i++ { // a group commit, two oplogs interleaved
		r := keyed{fmt.Sprintf("oplog %c", 'A'+i%2), counterLine(i)}
		group = append(group, r)
		raw += len(r.body)
	}
	writeKeyed(t, j, group...)
	want = append(want, group...)
	j.Close()
	segs, _ = journalSegments(dir)
	second, _ := os.ReadFile(j.segName(segs[1]))
	if len(second) > raw/3 {
		t.Errorf("a group commit of %d bytes of records takes %d bytes, want a third at most", raw, len(second))
	}
	if got := replayKeyed(t, dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replayed\n%q\nwant\n%q", got, want)
	}
}

// A crash in the middle of a compressed frame: for every cut point,
// opening replays the frames before it and cuts the segment there.
func TestJournal_TornCompressedFrame(t *testing.T) {
	base := t.TempDir()
	j, _, _ := mustJournal(t, base)
	writeKeyed(t, j, keyed{"k", counterLine(0)})
	segs, _ := journalSegments(base)
	before, _ := os.ReadFile(j.segName(segs[0]))
	var group []keyed
	for i := 1; i < 40; i++ {
		group = append(group, keyed{"k", counterLine(i)})
	}
	writeKeyed(t, j, group...)
	j.Close()
	full, _ := os.ReadFile(j.segName(segs[0]))
	if full[len(before)+journalHeader] != frameZstd {
		t.Fatalf("the group's frame is not compressed")
	}
	for cut := len(before); cut < len(full); cut++ {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, filepath.Base(j.segName(1))), full[:cut], 0o600)
		if got := replayKeyed(t, dir); len(got) != 1 || got[0].body != counterLine(0) {
			t.Fatalf("cut at %d: replayed %d records", cut, len(got))
		}
		if fi, _ := os.Stat(filepath.Join(dir, filepath.Base(j.segName(1)))); fi.Size() != int64(len(before)) {
			t.Fatalf("cut at %d: segment is %d bytes, want %d", cut, fi.Size(), len(before))
		}
	}
}

// A whole frame (its checksum good) that does not decode cannot come from
// a torn write: even as the last frame it is ErrCorrupt, and nothing is
// cut.
func TestJournal_FrameThatDoesNotDecode(t *testing.T) {
	for name, entries := range map[string][]byte{
		"undefined key":  {3, 1, 'x'},
		"length overrun": {0, 1, 'k', 9, 'x'},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			data := append([]byte(journalMagic), appendJournalFrame(nil, entries)...)
			name := filepath.Join(dir, "0000000000000001.wal")
			os.WriteFile(name, data, 0o600)
			_, _, err := OpenJournal(dir, func(_, _ []byte) error { return nil })
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%v, want ErrCorrupt", err)
			}
			if fi, _ := os.Stat(name); fi.Size() != int64(len(data)) {
				t.Fatalf("a corrupt segment was cut")
			}
		})
	}
}

// A closed journal's error has the kind closed, so that a push it fails is
// answered failed (send it again), not invalid (final: the client would
// give the op up).
func TestJournal_ClosedErrorIsAFailure(t *testing.T) {
	j, _, err := OpenJournal(t.TempDir(), func(_, _ []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{nil, []byte("records")} {
		_, err := j.Enqueue([]byte("k"), body)
		if !errors.Is(err, gig.ErrClosed) {
			t.Fatalf("Enqueue(%q) on a closed journal: %v, want kind closed", body, err)
		}
		if r := Refusal(err); r.Code != CodeFailed {
			t.Fatalf("a push the closed journal failed is answered %v, want failed", r)
		}
	}
}
