package netstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gigfs.io/gigfs/oplog"
)

func keptStore(t *testing.T, dir string) *Service {
	t.Helper()
	s, err := Open(Config{Dir: dir, KeepStream: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Users()) == 0 {
		if _, err := s.AddUser("lee"); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func pushOne(t *testing.T, s *Service, o string, seq uint64) {
	t.Helper()
	if _, err := s.Push(context.Background(), "lee", []Record{{Type: "counter", Path: "/c/x", Op: op(t, o, seq, "1")}}); err != nil {
		t.Fatal(err)
	}
}

// With KeepStream, the next Service on the folder goes on with the stream:
// same epoch and seqs, and a cursor of the first resumes on the second,
// missing nothing published before the first closed (or was killed: the
// file is written before Push returns).
func TestStream_KeptAcrossOpens(t *testing.T) {
	dir := t.TempDir()
	a := keptStore(t, dir)
	cur, _ := a.Stream("lee", nil)
	pushOne(t, a, "o1", 1)
	if _, err := cur.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	epoch := cur.h.epoch
	pushOne(t, a, "o1", 2) // published, never read from a
	pushOne(t, a, "o1", 3)
	a.Close()

	b := keptStore(t, dir)
	defer b.Close()
	if e, seq, err := b.Cursor("lee"); err != nil || e != epoch || seq != 3 {
		t.Fatalf("cursor of the next store = %s %d, %v; want %s 3", e, seq, err, epoch)
	}
	c2, _ := b.Stream("lee", nil)
	if err := c2.Since(epoch, 1); err != nil {
		t.Fatalf("resume on the next store: %v", err)
	}
	pushOne(t, b, "o1", 4)
	for _, want := range []string{`"seq":2,`, `"seq":3,`, `"seq":4,`} {
		line, err := c2.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(line), want) || !strings.Contains(string(line), epoch) {
			t.Fatalf("got %s, want %s of epoch %s", line, want, epoch)
		}
	}
}

// A stream file that does not read back whole starts a new epoch: a cursor
// of the old one is refused, never silently rewound.
func TestStream_KeptFileTornStartsNewEpoch(t *testing.T) {
	dir := t.TempDir()
	a := keptStore(t, dir)
	pushOne(t, a, "o1", 1)
	pushOne(t, a, "o1", 2)
	epoch := a.users["lee"].hub.epoch
	name := filepath.Join(a.users["lee"].dir, streamFileName)
	a.Close()
	b, _ := os.ReadFile(name)
	if err := os.WriteFile(name, b[:len(b)-5], 0o600); err != nil {
		t.Fatal(err)
	}
	s := keptStore(t, dir)
	defer s.Close()
	c, _ := s.Stream("lee", nil)
	if err := c.Since(epoch, 1); !errors.Is(err, ErrStreamEpoch) {
		t.Fatalf("resume after a torn stream file: %v", err)
	}
}

// The file is rewritten with the events the stream keeps: it never holds
// more than about twice as many.
func TestStream_KeptFileBounded(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, KeepStream: true, StreamBuffer: 10, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	s.AddUser("lee")
	for i := uint64(1); i <= 3000; i++ {
		pushOne(t, s, "o1", i)
	}
	name := filepath.Join(s.users["lee"].dir, streamFileName)
	s.Close()
	b, _ := os.ReadFile(name)
	if n := strings.Count(string(b), "\n"); n > 2*10+1024+2 {
		t.Fatalf("stream file has %d lines for a stream of 10", n)
	}
	s = keptStore(t, dir)
	defer s.Close()
	c, _ := s.Stream("lee", nil)
	if err := c.Since(s.users["lee"].hub.epoch, 2995); err != nil {
		t.Fatalf("resume near the end: %v", err)
	}
}

// An op in an oplog whose event the kept stream lacks (its server was
// killed between the two) is published when it is pushed again, as a
// pusher without an answer does, although the push is a no-op; once only.
func TestStream_KeptNoOpOfUnheardOpPublished(t *testing.T) {
	dir := t.TempDir()
	plain, err := Open(Config{Dir: dir, Logf: t.Logf}) // a stream not kept: the event is lost with it
	if err != nil {
		t.Fatal(err)
	}
	plain.AddUser("lee")
	x := op(t, "o1", 1, "1")
	rec := []Record{{Type: "counter", Path: "/c/x", Op: x}}
	if _, err := plain.Push(context.Background(), "lee", rec); err != nil {
		t.Fatal(err)
	}
	plain.Close()

	s := keptStore(t, dir)
	defer s.Close()
	cur, _ := s.Stream("lee", nil)
	for i := 0; i < 2; i++ {
		res, err := s.Push(context.Background(), "lee", rec)
		if err != nil || res[0].Outcome() != oplog.NoOp {
			t.Fatalf("push again: %v %v", res, err)
		}
	}
	pushOne(t, s, "o1", 2)
	for i := 0; i < 2; i++ {
		line, err := cur.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(line), x.Sha) != (i == 0) {
			t.Fatalf("event %d is %s; want the unheard op once, then the next op", i+1, line)
		}
	}
}

var testClock oplog.Clock

func op(tb testing.TB, origin string, seq uint64, payload string) oplog.Op {
	tb.Helper()
	o, err := oplog.NewOp(testClock.Date(), origin, seq, []byte(payload))
	if err != nil {
		tb.Fatal(err)
	}
	return o
}
