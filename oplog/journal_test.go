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
)

func mustJournal(tb testing.TB, dir string) (*Journal, [][]byte, uint64) {
	tb.Helper()
	var got [][]byte
	j, last, err := OpenJournal(dir, func(b []byte) error {
		got = append(got, append([]byte(nil), b...))
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return j, got, last
}

func journalWrite(tb testing.TB, j *Journal, bodies ...string) {
	tb.Helper()
	var t Ticket
	for _, b := range bodies {
		var err error
		if t, err = j.Enqueue([]byte(b)); err != nil {
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
	journalWrite(t, j, "torn")
	j.Close()
	segs, _ := journalSegments(base)
	full, err := os.ReadFile(j.segName(segs[0]))
	if err != nil {
		t.Fatal(err)
	}
	tail := journalHeader + len("torn")
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
			if fi, _ := os.Stat(j.segName(1)); fi.Size() != int64(len(full)-tail) {
				t.Fatalf("cut at %d: segment is %d bytes, want %d", cut, fi.Size(), len(full)-tail)
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
	journalWrite(t, j, "first record", "second record")
	j.Close()
	segs, _ := journalSegments(base)
	full, _ := os.ReadFile(j.segName(segs[0]))

	dir := t.TempDir()
	jj := &Journal{dir: dir}
	data := append([]byte(nil), full...)
	data[len(journalMagic)+journalHeader] ^= 1 // in the first record
	os.WriteFile(jj.segName(1), data, 0o600)
	_, _, err := OpenJournal(dir, func([]byte) error { return nil })
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
	if _, _, err := OpenJournal(dir, func([]byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("torn segment before the last: %v, want ErrCorrupt", err)
	}
}

// The journal's format is pinned by a golden file (go test -run Golden
// -update rewrites it).
func TestJournal_Golden(t *testing.T) {
	golden := filepath.Join("testdata", "journal-v1", "0000000000000001.wal")
	want := []string{"first record", "second\nrecord, with a newline", strings.Repeat("x", 300)}
	if *update {
		os.RemoveAll(filepath.Dir(golden))
		j, _, _ := mustJournal(t, filepath.Dir(golden))
		journalWrite(t, j, want...)
		j.Close()
	}
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
