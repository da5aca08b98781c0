package srv9p

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"testing"

	"9fans.net/go/plan9"
)

// readerOf is a reader of the requests in wire, as ServeConn sets one up.
func readerOf(t *testing.T, wire []byte) *reader {
	t.Helper()
	c := &conn{srv: &Server{Logf: t.Logf}, br: bufio.NewReaderSize(bytes.NewReader(wire), readBuffer),
		srvMsize: DefaultMsize, maxInFlight: DefaultMaxInFlight, maxPending: DefaultMaxPending}
	c.attached.Store(true)
	c.rmsize.Store(DefaultMsize)
	c.msize.Store(DefaultMsize)
	c.flow.init()
	return &reader{c: c}
}

// handed returns the tags of the messages r hands the library, in order,
// read as the library reads them: a size, then the rest.
func handed(t *testing.T, r *reader) []uint16 {
	t.Helper()
	var tags []uint16
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err == io.EOF {
			return tags
		} else if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
		copy(msg, hdr[:])
		if _, err := io.ReadFull(r, msg[4:]); err != nil {
			t.Fatal(err)
		}
		f, err := plan9.UnmarshalFcall(msg)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == plan9.Tflush {
			continue // the end's flushes of the requests in flight (hangupFlushes)
		}
		tags = append(tags, f.Tag)
	}
}

func wireOf(t *testing.T, fs ...*plan9.Fcall) []byte {
	t.Helper()
	var b []byte
	for _, f := range fs {
		m, err := f.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, m...)
	}
	return b
}

// TestReader_HandsANamedReadBeforeItsWrite: a numbered Twrite and the
// Tread that names it, read together, go to the library read first (so
// that the write's goroutine, started last, runs first); every other pair
// keeps its order, and every request is handed over once.
func TestReader_HandsANamedReadBeforeItsWrite(t *testing.T) {
	w := func(tag uint16, fid uint32, k int64) *plan9.Fcall {
		return &plan9.Fcall{Type: plan9.Twrite, Tag: tag, Fid: fid, Offset: uint64(k), Data: []byte("x\n")}
	}
	rd := func(tag uint16, fid uint32, off int64) *plan9.Fcall {
		return &plan9.Fcall{Type: plan9.Tread, Tag: tag, Fid: fid, Offset: uint64(off), Count: 512}
	}
	for _, c := range []struct {
		name string
		reqs []*plan9.Fcall
		want []uint16
	}{
		{"named pair", []*plan9.Fcall{w(1, 5, 1), rd(2, 5, NamedOffset(1, 0))}, []uint16{2, 1}},
		{"pairs in a row", []*plan9.Fcall{w(1, 5, 1), rd(2, 5, NamedOffset(1, 0)), w(3, 5, 2), rd(4, 5, NamedOffset(2, 0)), rd(5, 7, 0)}, []uint16{2, 1, 4, 3, 5}},
		{"another write's read", []*plan9.Fcall{w(1, 5, 2), rd(2, 5, NamedOffset(1, 0))}, []uint16{1, 2}},
		{"another fid's read", []*plan9.Fcall{w(1, 5, 1), rd(2, 6, NamedOffset(1, 0))}, []uint16{1, 2}},
		{"a plain read", []*plan9.Fcall{w(1, 5, 1), rd(2, 5, 0)}, []uint16{1, 2}},
		{"a write at 0", []*plan9.Fcall{w(1, 5, 0), rd(2, 5, NamedOffset(0, 0))}, []uint16{1, 2}},
		{"the write last", []*plan9.Fcall{rd(2, 5, NamedOffset(1, 0)), w(1, 5, 1)}, []uint16{2, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := readerOf(t, wireOf(t, c.reqs...))
			got := handed(t, r)
			if !slices.Equal(got, c.want) {
				t.Errorf("tags handed over %v, want %v", got, c.want)
			}
			if n, _ := r.c.pending(); n != len(c.reqs) {
				t.Errorf("%d requests in flight, want %d", n, len(c.reqs))
			}
		})
	}
}

// TestReader_KeepsAPairInOrderWithoutRoom: a Tread past the requests in
// flight allowed is not read early to swap it: the pair goes over in order,
// the read once there is room.
func TestReader_KeepsAPairInOrderWithoutRoom(t *testing.T) {
	r := readerOf(t, wireOf(t,
		&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 5, Offset: 1, Data: []byte("x\n")},
		&plan9.Fcall{Type: plan9.Tread, Tag: 2, Fid: 5, Offset: uint64(NamedOffset(1, 0)), Count: 512}))
	r.c.maxInFlight = 1
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if r.after != nil {
		t.Fatalf("the Tread was read with no room for it")
	}
	if n, _ := r.c.pending(); n != 1 {
		t.Errorf("%d requests in flight, want 1", n)
	}
}
