package oplog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// preallocJournal opens a journal in dir whose segments are preallocated
// with max bytes, its first spare ready.
func preallocJournal(tb testing.TB, dir string, max int64) (*Journal, *strings.Builder) {
	tb.Helper()
	j, _, _ := mustJournal(tb, dir)
	var logged strings.Builder
	j.Preallocate(max, func(f string, a ...any) { fmt.Fprintf(&logged, f+"\n", a...) })
	j.waitSpare()
	return j, &logged
}

// Records overwrite the zeros of preallocated segments, which never grow
// while a spare is ready: a segment that fills moves on to the next one,
// keys defined again there. Every record is replayed, in order, zeros
// ending any segment being no damage; Size counts records, not zeros.
func TestJournal_Preallocated(t *testing.T) {
	dir := t.TempDir()
	const seg = 1024
	j, logged := preallocJournal(t, dir, seg)
	if _, err := os.Stat(filepath.Join(dir, spareName)); err != nil {
		t.Fatalf("no spare after Preallocate: %v", err)
	}
	var want []string
	var records int64
	for i := 1; i <= 30; i++ {
		j.waitSpare()
		want = append(want, counterLine(i))
		journalWrite(t, j, counterLine(i))
	}
	segs, _ := journalSegments(dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments for 30 records of ~100 bytes in %d-byte segments, want 3 or more", len(segs), seg)
	}
	for _, s := range segs {
		data, _ := os.ReadFile(j.segName(s))
		if len(data) != seg {
			t.Errorf("segment %d: %d bytes, want its %d preallocated", s, len(data), seg)
		}
		good, err := readJournal(data, func(_, _ []byte) error { return nil })
		if err != nil || !allZero(data[good:]) {
			t.Errorf("segment %d: %d good bytes, then not zeros (%v)", s, good, err)
		}
		records += good
	}
	if got := j.Size(); got != records {
		t.Errorf("Size %d, want the %d bytes of magics and frames", got, records)
	}
	if logged.Len() > 0 {
		t.Errorf("logged with a spare always ready: %s", logged)
	}
	j.Close()
	if _, err := os.Stat(filepath.Join(dir, spareName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a clean close left the spare: %v", err)
	}
	j, got, last := mustJournal(t, dir)
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	if err := j.Remove(last); err != nil {
		t.Fatal(err)
	}
	if j.Size() != 0 {
		t.Errorf("Size %d once every segment is removed", j.Size())
	}
	j.Close()
}

// A segment that fills with no spare ready is appended to past its zeros,
// with one log line naming the bound; its records are replayed.
func TestJournal_PreallocatedRunsPast(t *testing.T) {
	dir := t.TempDir()
	j, logged := preallocJournal(t, dir, 256)
	j.mu.Lock()
	j.prealloc = 0 // no further spare
	j.mu.Unlock()
	var want []string
	for i := 1; i <= 8; i++ {
		want = append(want, counterLine(i))
		journalWrite(t, j, counterLine(i))
	}
	if n := strings.Count(logged.String(), "-wal-prealloc"); n != 1 {
		t.Errorf("%d log lines about running past the zeros, want 1: %s", n, logged)
	}
	j.Close()
	_, got, _ := mustJournal(t, dir)
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("replayed %q, want %q", got, want)
	}
}

// A crash in the middle of a write into a preallocated segment leaves
// the bytes of the write that reached the disk over zeros: for every cut
// inside the last frame, the records before it are replayed, the torn
// part cut off, and the journal goes on. Damage followed by frames is
// still ErrCorrupt, and so is a torn frame in a segment before the last.
func TestJournal_PreallocatedTornTail(t *testing.T) {
	base := t.TempDir()
	j, _ := preallocJournal(t, base, 4096)
	journalWrite(t, j, "acknowledged one", "acknowledged two")
	segs, _ := journalSegments(base)
	before, _ := os.ReadFile(j.segName(segs[0]))
	good, _ := readJournal(before, func(_, _ []byte) error { return nil })
	journalWrite(t, j, "torn")
	full, _ := os.ReadFile(j.segName(segs[0]))
	j.Close()
	end, _ := readJournal(full, func(_, _ []byte) error { return nil })
	if len(full) != 4096 || end <= good {
		t.Fatalf("segment of %d bytes, frames end at %d then %d", len(full), good, end)
	}
	for cut := good + 1; cut < end; cut++ {
		dir := t.TempDir()
		data := append(append([]byte(nil), full[:cut]...), make([]byte, len(full)-int(cut))...)
		os.WriteFile(filepath.Join(dir, filepath.Base(j.segName(1))), data, 0o600)
		j2, got, _ := mustJournal(t, dir)
		if len(got) != 2 || string(got[1]) != "acknowledged two" {
			t.Fatalf("cut at %d: replayed %q", cut, got)
		}
		journalWrite(t, j2, "after")
		j2.Close()
		_, got, _ = mustJournal(t, dir)
		if len(got) != 3 || string(got[2]) != "after" {
			t.Fatalf("cut at %d: after a new write, replayed %q", cut, got)
		}
	}

	// A frame damaged in the middle of the acknowledged ones.
	dir := t.TempDir()
	data := bytes.Clone(full)
	data[len(journalMagic)+journalHeader+1] ^= 1
	os.WriteFile(filepath.Join(dir, filepath.Base(j.segName(1))), data, 0o600)
	if _, _, err := OpenJournal(dir, func(_, _ []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged first frame of a preallocated segment: %v, want ErrCorrupt", err)
	}
	// A torn frame over zeros in a segment that is not the last.
	dir = t.TempDir()
	torn := append(bytes.Clone(full[:end-2]), make([]byte, len(full)-int(end)+2)...)
	os.WriteFile(filepath.Join(dir, filepath.Base(j.segName(1))), torn, 0o600)
	os.WriteFile(filepath.Join(dir, filepath.Base(j.segName(2))), full, 0o600)
	if _, _, err := OpenJournal(dir, func(_, _ []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("torn preallocated segment before the last: %v, want ErrCorrupt", err)
	}
}

// A spare left by a crash is no segment: it is removed on open, and the
// journal's records are replayed as they were.
func TestJournal_LeftoverSpare(t *testing.T) {
	dir := t.TempDir()
	j, _ := preallocJournal(t, dir, 2048)
	journalWrite(t, j, "kept")
	j.waitSpare()
	segs, _ := journalSegments(dir)
	data, _ := os.ReadFile(j.segName(segs[0]))
	spare, err := os.ReadFile(filepath.Join(dir, spareName))
	if err != nil {
		t.Fatalf("no spare made after the first segment was taken: %v", err)
	}
	j.Close()
	crashed := t.TempDir() // as SIGKILL leaves it: the segment, and the spare
	os.WriteFile(filepath.Join(crashed, filepath.Base(j.segName(segs[0]))), data, 0o600)
	os.WriteFile(filepath.Join(crashed, spareName), spare[:len(spare)/2], 0o600) // half made
	_, got, _ := mustJournal(t, crashed)
	if len(got) != 1 || string(got[0]) != "kept" {
		t.Fatalf("replayed %q", got)
	}
	if _, err := os.Stat(filepath.Join(crashed, spareName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spare left by a crash is still there: %v", err)
	}
}

// A golden pair of preallocated segments (go test -run Golden -update
// rewrites them): the first filled up to its zeros' end and moved on,
// the second with records and then zeros. They replay whole.
func TestJournal_GoldenV2Preallocated(t *testing.T) {
	golden := filepath.Join("testdata", "journal-v2-prealloc")
	var want []keyed
	for i := 1; i <= 6; i++ {
		want = append(want, keyed{"\x03kim\x07counter\x04\x00/c/n", counterLine(i)})
	}
	if *update {
		os.RemoveAll(golden)
		j, _ := preallocJournal(t, golden, 512)
		for _, r := range want {
			j.waitSpare()
			writeKeyed(t, j, r)
		}
		j.Close()
	}
	segs, err := journalSegments(golden)
	if err != nil || len(segs) != 2 {
		t.Fatalf("golden segments %v (%v), want 2", segs, err)
	}
	dir := t.TempDir()
	for _, s := range segs {
		name := filepath.Base((&Journal{dir: golden}).segName(s))
		data, err := os.ReadFile(filepath.Join(golden, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != 512 || data[len(data)-1] != 0 {
			t.Fatalf("golden segment %s: %d bytes, want 512 ending with zeros", name, len(data))
		}
		os.WriteFile(filepath.Join(dir, name), data, 0o600)
	}
	if got := replayKeyed(t, dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("golden journal replays\n%q\nwant\n%q", got, want)
	}
}
