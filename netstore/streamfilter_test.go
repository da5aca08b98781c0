package netstore

import (
	"context"
	"errors"
	"testing"

	"gigfs.io/gigfs/gig"
)

func filterStore(t *testing.T, cfg Config) *Service {
	t.Helper()
	cfg.Dir, cfg.Logf = t.TempDir(), t.Logf
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.AddUser("lee"); err != nil {
		t.Fatal(err)
	}
	return s
}

func pushAt(t *testing.T, s *Service, path, origin string, seq uint64) {
	t.Helper()
	if _, err := s.Push(context.Background(), "lee", []Record{{Type: "counter", Path: path, Op: op(t, origin, seq, `{"add":1}`)}}); err != nil {
		t.Fatal(err)
	}
}

// next reads the cursor's next event, parsed.
func nextEvent(t *testing.T, c *Cursor) Event {
	t.Helper()
	ev, err := c.NextEvent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// A filtered reader gets the events of the oplogs and channels it wants,
// not those of the origin it skips on its oplogs (but on a wanted
// channel), and with the seqs of the whole stream.
func TestCursor_Filter(t *testing.T) {
	s := filterStore(t, Config{})
	c, _ := s.Stream("lee", nil)
	if _, err := c.Write(context.Background(), []byte("only\nskip me\nwant /c/mine\nwant /w/\n")); err != nil {
		t.Fatal(err)
	}
	pushAt(t, s, "/c/other", "them", 1) // 1: not wanted
	pushAt(t, s, "/c/mine", "me", 1)    // 2: its own
	pushAt(t, s, "/c/mine", "them", 2)  // 3
	pushAt(t, s, "/w/any", "me", 1)     // 4: a watched channel: even its own
	for _, want := range []struct {
		seq  uint64
		path string
	}{{3, "/c/mine"}, {4, "/w/any"}} {
		ev := nextEvent(t, c)
		if ev.Seq != want.seq || ev.Path != want.path {
			t.Errorf("got event %d %s, want %d %s", ev.Seq, ev.Path, want.seq, want.path)
		}
	}
	// Ready spares them too.
	pushAt(t, s, "/c/other", "them", 2) // 5
	pushAt(t, s, "/c/mine", "them", 3)  // 6
	line, err := c.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := c.Ready(context.Background(), buf)
	evs, err := ParseEvents(append(line, buf[:n]...))
	if err != nil || len(evs) != 1 || evs[0].Seq != 6 {
		t.Errorf("got %+v (%v), want the event of seq 6 alone", evs, err)
	}
}

// A reader spared many events in a row gets a mark of its position, so
// that it can resume from it after the events it did not want are gone.
func TestCursor_FilterMarks(t *testing.T) {
	s := filterStore(t, Config{StreamBuffer: 4})
	c, _ := s.Stream("lee", nil)
	if _, err := c.Write(context.Background(), []byte("only\n")); err != nil {
		t.Fatal(err)
	}
	var ev Event
	for i := range 3 {
		pushAt(t, s, "/c/x", "them", uint64(2*i+1))
		pushAt(t, s, "/c/x", "them", uint64(2*i+2))
		ev = nextEvent(t, c)
		if !ev.Mark() || ev.Seq != uint64(2*i+2) || ev.Epoch != c.Epoch() {
			t.Fatalf("got %+v, want a mark at seq %d", ev, 2*i+2)
		}
	}
	c2, _ := s.Stream("lee", nil)
	if err := c2.Since(ev.Epoch, ev.Seq); err != nil {
		t.Errorf("resume from the mark: %v", err)
	}
}

// Past its bound of wants a reader gets every event; control lines out
// of order are refused, of kind invalid.
func TestCursor_FilterBound(t *testing.T) {
	s := filterStore(t, Config{StreamWants: 2})
	c, _ := s.Stream("lee", nil)
	if _, err := c.Write(context.Background(), []byte("want /c/x\n")); !errors.Is(err, gig.ErrInvalid) {
		t.Errorf("want before only: got %v, want invalid", err)
	}
	if _, err := c.Write(context.Background(), []byte("only\nwant /c/a\nwant /c/b\nwant /c/c\n")); err != nil {
		t.Fatal(err)
	}
	pushAt(t, s, "/c/z", "them", 1)
	if ev := nextEvent(t, c); ev.Path != "/c/z" {
		t.Errorf("got %+v, want the event of /c/z", ev)
	}
	for _, bad := range []string{"want c/x", "want /c", "bogus", "only now"} {
		if _, err := c.Write(context.Background(), []byte(bad+"\n")); !errors.Is(err, gig.ErrInvalid) {
			t.Errorf("%q: got %v, want invalid", bad, err)
		}
	}
}

// A write whose later line is refused applies none of its lines: the
// reader, told its filter was refused, still gets every event, as one
// that never said what it wants.
func TestCursor_FilterRefusedWrite(t *testing.T) {
	s := filterStore(t, Config{})
	c, _ := s.Stream("lee", nil)
	_, err := c.Write(context.Background(), []byte("only\nwant /c/mine\nwant nochannel\n"))
	if !errors.Is(err, ErrStreamControl) {
		t.Fatalf("write with a bad want: %v, want ErrStreamControl", err)
	}
	pushAt(t, s, "/c/other", "them", 1) // 1: unwanted, were the filter applied
	pushAt(t, s, "/c/mine", "them", 1)  // 2
	if ev := nextEvent(t, c); ev.Mark() || ev.Seq != 1 || ev.Path != "/c/other" {
		t.Errorf("got %+v, want the event of /c/other at seq 1", ev)
	}
}
