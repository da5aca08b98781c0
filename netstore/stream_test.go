package netstore

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gigfs.io/gigfs/oplog"
)

// The pushes of one group commit publish their events as one: they go
// into the stream, and wake a reader waiting on it, once the last of them
// has published, not one push's events at a time, and the reader's read
// then carries them all; a group whose pushes accepted nothing wakes
// nobody.
func TestHub_GroupCommitWakesReadersOnce(t *testing.T) {
	group := groupTicket(t)
	woken := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	h := newHub("e", 100)
	c := newCursor(h, nil, "u", 10, t.Logf)
	wait := park(t, c)
	h.expect(group)
	h.expect(group)
	h.publish(group, []published{{"counter", "/c/x", []oplog.Op{op(t, "a", 1, "1")}}})
	if woken(wait) {
		t.Fatal("a reader was woken before the last push of the group commit published")
	}
	if head := c.Head(); head != 0 {
		t.Fatalf("the stream's head is %d before the last push of its group commit published", head)
	}
	h.publish(group, []published{{"counter", "/c/x", []oplog.Op{op(t, "b", 1, "1"), op(t, "b", 2, "1")}}})
	if !woken(wait) {
		t.Fatal("the group commit is published and its reader is not woken")
	}
	line, err := c.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Ready(context.Background(), buf)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ParseEvents(append(line, buf[:n]...))
	if err != nil || len(evs) != 3 || evs[0].Seq != 1 || evs[2].Seq != 3 {
		t.Fatalf("one read after the wake: %d events %+v, %v; want seqs 1-3", len(evs), evs, err)
	}
	if !bytes.Contains(evs[2].Op, []byte(`"origin":"b"`)) {
		t.Fatalf("last event %s, want the second push's", evs[2].Op)
	}

	wait = park(t, c)
	h.expect(group)
	h.publish(group, nil)
	if woken(wait) {
		t.Fatal("a group commit that published nothing woke a reader")
	}
	if len(h.groups) != 0 {
		t.Fatalf("%d group commits left in the hub, want none", len(h.groups))
	}
}

// park has the reader wait, as Next does when it finds nothing to read,
// and returns the channel it is woken on.
func park(t *testing.T, c *Cursor) <-chan struct{} {
	t.Helper()
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	if line, err := c.nextLocked(); line != nil || err != nil {
		t.Fatalf("the reader has %q, %v to read: it would not wait", line, err)
	}
	c.parkLocked()
	return c.wake
}

// A group commit wakes only the waiting readers that want one of its
// events (or are due a mark of their position); the others sleep on, and
// read from where they were when woken later.
func TestHub_WakesOnlyReadersThatWant(t *testing.T) {
	group := groupTicket(t)
	h := newHub("e", 6) // a mark after 3 events spared in a row
	reader := func(control string) *Cursor {
		c := newCursor(h, nil, "u", 10, t.Logf)
		if control != "" {
			if _, err := c.Write(context.Background(), []byte(control)); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	all := reader("")
	x := reader("only\nwant /c/x\n")
	y := reader("only\nwant /c/y\nskip me\n")
	z := reader("only\nwant /c/z\n")
	wakes := map[*Cursor]<-chan struct{}{all: park(t, all), x: park(t, x), y: park(t, y), z: park(t, z)}
	names := map[*Cursor]string{all: "unfiltered", x: "want /c/x", y: "want /c/y, skip me", z: "want /c/z"}
	// publish publishes one event, checks which readers it woke, and
	// returns what each woken one reads, having it wait again.
	publish := func(path, origin string, seq uint64, want ...*Cursor) map[*Cursor]string {
		t.Helper()
		h.expect(group)
		h.publish(group, []published{{"counter", path, []oplog.Op{op(t, origin, seq, "1")}}})
		read := map[*Cursor]string{}
		for c, wake := range wakes {
			select {
			case <-wake:
				if !slices.Contains(want, c) {
					t.Errorf("event %s of %s: the reader %s was woken", path, origin, names[c])
				}
				h.mu.Lock()
				for {
					line, err := c.nextLocked()
					if err != nil {
						t.Fatal(err)
					}
					if line == nil {
						break
					}
					read[c] += string(line)
				}
				h.mu.Unlock()
				wakes[c] = park(t, c)
			default:
				if slices.Contains(want, c) {
					t.Errorf("event %s of %s: the reader %s was not woken", path, origin, names[c])
				}
			}
		}
		return read
	}

	if read := publish("/c/x", "me", 1, all, x); !strings.Contains(read[x], `"seq":1,`) {
		t.Errorf("x woken reads %q, want event 1", read[x])
	}
	publish("/c/y", "me", 2, all) // y skips its own
	// y is woken for an event it wants and reads it, passing the one
	// it slept through; z, spared 3 in a row, is woken for a mark of its
	// position.
	read := publish("/c/y", "other", 1, all, y, z)
	if !strings.Contains(read[y], `"seq":3,`) || !strings.Contains(read[y], `"origin":"other"`) || strings.Count(read[y], "\n") != 1 {
		t.Errorf("y woken reads %q, want event 3 alone", read[y])
	}
	if read[z] != `{"seq":3,"epoch":"e"}`+"\n" {
		t.Errorf("z woken reads %q, want the mark of seq 3", read[z])
	}
	if strings.Count(read[all], "\n") != 1 {
		t.Errorf("the unfiltered reader woken reads %q, want event 3", read[all])
	}
}

// A since written while the reader waits (the stream file's control, on
// another request) moves it back, and the waiting Next reads from there.
func TestCursor_SinceWakesAWaitingNext(t *testing.T) {
	group := groupTicket(t)
	h := newHub("e", 100)
	h.expect(group)
	h.publish(group, []published{{"counter", "/c/x", []oplog.Op{op(t, "a", 1, "1")}}})
	c := newCursor(h, nil, "u", 10, t.Logf) // at the head: nothing to read
	got := make(chan string, 1)
	go func() {
		line, err := c.Next(context.Background())
		if err != nil {
			line = []byte(err.Error())
		}
		got <- string(line)
	}()
	waitParked(t, c)
	if _, err := c.Write(context.Background(), []byte("since e 0\n")); err != nil {
		t.Fatal(err)
	}
	if line := <-got; !strings.Contains(line, `"seq":1,`) {
		t.Fatalf("the waiting Next read %q after since e 0, want event 1", line)
	}
}

// waitParked waits until the reader waits in Next.
func waitParked(t *testing.T, c *Cursor) {
	t.Helper()
	for {
		c.h.mu.Lock()
		waiting := c.waiting
		c.h.mu.Unlock()
		if waiting {
			return
		}
		runtime.Gosched()
	}
}

// groupTicket returns the ticket of a group commit, of a journal of its
// own, for the tests' pushes to expect and publish with.
func groupTicket(tb testing.TB) oplog.Ticket {
	tb.Helper()
	j, _, err := oplog.OpenJournal(tb.TempDir(), func(_, _ []byte) error { return nil })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { j.Close() })
	g, err := j.Enqueue([]byte("k"), []byte("records"))
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// A wake left in the reader's slot (woken as its ctx ended, it took the
// ctx) is dropped when it next waits, and it is listed once: before, the
// stale wake ended the wait at once and the reader was listed twice, so
// that a cancel or a since took only one of it off the list.
func TestCursor_StaleWakeIsDropped(t *testing.T) {
	h := newHub("e", 100)
	c := newCursor(h, nil, "u", 10, t.Logf)
	park(t, c)
	h.mu.Lock()
	h.unwait(c)
	c.woken() // a publish's wake, as Next takes its ctx instead
	c.waiting = false
	h.mu.Unlock()
	if len(c.wake) != 1 {
		t.Fatal("no wake left in the slot")
	}
	wake := park(t, c) // the next Next waits
	park(t, c)         // and, woken by nothing, waits again
	h.mu.Lock()
	listed := 0
	for _, w := range h.waiters {
		if w == c {
			listed++
		}
	}
	h.mu.Unlock()
	if listed != 1 {
		t.Errorf("the waiting reader is listed %d times, want once", listed)
	}
	select {
	case <-wake:
		t.Error("the stale wake is still in the slot: the wait would end at once")
	default:
	}
}

// A since written while Next checks its auth is kept when the auth fails:
// the failure puts back only a position nothing else moved, even a since
// to the very seq Next had moved to.
func TestCursor_AuthFailureKeepsASince(t *testing.T) {
	for _, to := range []uint64{3, 2} {
		h := newHub("e", 100)
		group := groupTicket(t)
		for s := uint64(1); s <= 3; s++ {
			h.expect(group)
			h.publish(group, []published{{"counter", "/c/x", []oplog.Op{op(t, "a", s, "1")}}})
		}
		in, release := make(chan struct{}), make(chan struct{})
		c := newCursor(h, func(context.Context) error {
			close(in)
			<-release
			return errors.New("token revoked")
		}, "u", 10, t.Logf)
		if err := c.Since("e", 1); err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() {
			_, err := c.Next(context.Background())
			done <- err
		}()
		<-in // Next has event 2 and checks the auth
		if err := c.Since("e", to); err != nil {
			t.Fatal(err)
		}
		close(release)
		if err := <-done; err == nil {
			t.Fatal("Next returned an event past a failed auth")
		}
		h.mu.Lock()
		after := c.after
		h.mu.Unlock()
		if after != to {
			t.Errorf("since e %d during the auth: the cursor is at %d after the auth failed, want %d", to, after, to)
		}
	}
}

// A want written while the reader waits wakes it for the events it slept
// through that the want passes: they are given at once, not with the next
// event it wanted before (seen from outside: a want written after a push
// to its oplog was answered only at the next push to another).
func TestCursor_WantWakesForAnEventSleptThrough(t *testing.T) {
	h := newHub("e", 100)
	group := groupTicket(t)
	c := newCursor(h, nil, "u", 10, t.Logf)
	if _, err := c.Write(context.Background(), []byte("only\nwant /c/q1\n")); err != nil {
		t.Fatal(err)
	}
	wake := park(t, c)
	h.expect(group)
	h.publish(group, []published{{"counter", "/c/q9", []oplog.Op{op(t, "a", 1, "1")}}})
	select {
	case <-wake:
		t.Fatal("woken for an event it does not want")
	default:
	}
	if _, err := c.Write(context.Background(), []byte("want /c/q9\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	default:
		t.Fatal("the want of an oplog whose event it slept through did not wake it")
	}
	h.mu.Lock()
	line, err := c.nextLocked()
	h.mu.Unlock()
	if err != nil || !strings.Contains(string(line), `"path":"/c/q9"`) {
		t.Fatalf("woken, it reads %q, %v: want the event of /c/q9", line, err)
	}
}

// A reader that fell behind what the stream keeps is told so by Next, not
// passed to the head by a Ready that found nothing to copy.
func TestCursor_ReadyLeavesTooOldToNext(t *testing.T) {
	h := newHub("e", 2)
	group := groupTicket(t)
	c := newCursor(h, nil, "u", 10, t.Logf)
	for s := uint64(1); s <= 5; s++ {
		h.expect(group)
		h.publish(group, []published{{"counter", "/c/x", []oplog.Op{op(t, "a", s, "1")}}})
	}
	if n, err := c.Ready(context.Background(), make([]byte, 4096)); n != 0 || err != nil {
		t.Fatalf("Ready behind the kept events: %d bytes, %v; want none", n, err)
	}
	h.mu.Lock()
	_, err := c.nextLocked() // what Next reads first
	h.mu.Unlock()
	if !errors.Is(err, ErrStreamTooOld) {
		t.Fatalf("Next after it: %v, want ErrStreamTooOld", err)
	}
}
