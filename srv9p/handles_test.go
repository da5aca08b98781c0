package srv9p_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

func readString(t *testing.T, h srv9p.Handle, size int, off int64) string {
	t.Helper()
	buf := make([]byte, size)
	n, err := h.Read(context.Background(), buf, off)
	if err != nil {
		t.Fatalf("read %d at %d: %v", size, off, err)
	}
	return string(buf[:n])
}

func TestStatic(t *testing.T) {
	h := srv9p.NewStatic([]byte("hello"))
	for _, tc := range []struct {
		size int
		off  int64
		want string
	}{
		{2, 0, "he"}, {10, 3, "lo"}, {10, 5, ""}, {10, 100, ""}, {10, -1, ""}, {0, 0, ""},
	} {
		if got := readString(t, h, tc.size, tc.off); got != tc.want {
			t.Errorf("read %d at %d: got %q, want %q", tc.size, tc.off, got, tc.want)
		}
	}
	if _, err := h.Write(context.Background(), []byte("x"), 0); !errors.Is(err, gig.ErrPermission) {
		t.Errorf("write: got %v, want gig.ErrPermission", err)
	}
}

func TestCtl(t *testing.T) {
	var got []string
	h := srv9p.NewCtl(func(_ context.Context, cmd string) (string, error) {
		got = append(got, cmd)
		if cmd == "bad" {
			return "", errors.New("bad command")
		}
		return "ok " + cmd, nil
	})
	ctx := context.Background()
	if s := readString(t, h, 10, 0); s != "" {
		t.Errorf("before any command: %q", s)
	}
	for _, cmd := range []string{"a\n", "b\r\n", "c"} {
		if n, err := h.Write(ctx, []byte(cmd), 99); n != len(cmd) || err != nil {
			t.Errorf("write %q: %d, %v", cmd, n, err)
		}
	}
	if s := readString(t, h, 10, 0); s != "ok c" {
		t.Errorf("reply: got %q, want %q", s, "ok c")
	}
	if s := readString(t, h, 10, 3); s != "c" {
		t.Errorf("reply at offset 3: got %q", s)
	}
	if _, err := h.Write(ctx, []byte("bad"), 0); err == nil || err.Error() != "bad command" {
		t.Errorf("failed command: %v", err)
	}
	if s := readString(t, h, 10, 0); s != "" {
		t.Errorf("reply after a failed command: %q", s)
	}
	if want := []string{"a", "b", "c", "bad"}; len(got) != len(want) || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Errorf("commands: got %q, want %q", got, want)
	}
}

// cancelSource returns its records only once ctx is done, as a racing
// publish would: the stream must keep such a record for the next read.
type cancelSource struct {
	recs   [][]byte
	closed bool
}

func (s *cancelSource) Next(ctx context.Context) ([]byte, error) {
	if len(s.recs) == 0 {
		return nil, io.EOF
	}
	rec := s.recs[0]
	s.recs = s.recs[1:]
	return rec, nil
}

func (s *cancelSource) Close() error { s.closed = true; return nil }

func TestStream(t *testing.T) {
	src := &cancelSource{recs: [][]byte{{}, []byte("one"), []byte("two")}}
	h := srv9p.NewStream(src)

	// A record fetched as the read is flushed is not lost.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := h.Read(ctx, make([]byte, 10), 0); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("read with a cancelled context: %d, %v", n, err)
	}
	// Empty records are skipped: a read never returns 0 bytes before the end.
	if s := readString(t, h, 10, 0); s != "one" {
		t.Errorf("got %q, want the kept record %q", s, "one")
	}
	if s := readString(t, h, 2, 0); s != "tw" {
		t.Errorf("got %q", s)
	}
	if s := readString(t, h, 10, 0); s != "o" {
		t.Errorf("got %q", s)
	}
	// io.EOF from the source is end of file.
	if n, err := h.Read(context.Background(), make([]byte, 10), 0); n != 0 || err != nil {
		t.Errorf("at the end: %d, %v", n, err)
	}
	if _, err := h.Write(context.Background(), []byte("since 1"), 0); !errors.Is(err, gig.ErrPermission) {
		t.Errorf("write to a source without Write: %v", err)
	}
	h.Close()
	if !src.closed {
		t.Error("Close did not close the source")
	}
}

// A reply is read from 0 (9P clients), or from where the command's write
// ended (a FUSE client reading on the descriptor it wrote with); a longer
// reply read on from 0 is not shifted.
func TestCtl_ReplyOffsets(t *testing.T) {
	h := srv9p.NewCtl(func(_ context.Context, cmd string) (string, error) {
		return "reply to " + cmd + "\n", nil
	})
	ctx := context.Background()
	// from 0, in small reads past the command's length
	h.Write(ctx, []byte("cursor\n"), 0)
	var all string
	for off := int64(0); ; {
		s := readString(t, h, 4, off)
		if s == "" {
			break
		}
		all += s
		off += int64(len(s))
	}
	if all != "reply to cursor\n" {
		t.Errorf("read from 0: %q", all)
	}
	// from where the write ended (7), as a shell's cat <&3 does
	h.Write(ctx, []byte("cursor\n"), 0)
	if s := readString(t, h, 100, 7); s != "reply to cursor\n" {
		t.Errorf("read from the write's end: %q", s)
	}
	if s := readString(t, h, 100, 7+16); s != "" {
		t.Errorf("read past the reply: %q", s)
	}
	// a second command on the same descriptor, written after the reply
	h.Write(ctx, []byte("x\n"), 23)
	if s := readString(t, h, 100, 25); s != "reply to x\n" {
		t.Errorf("second command's reply: %q", s)
	}
}
