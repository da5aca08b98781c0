package srv9p_test

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"9fans.net/go/plan9"

	"gigfs.io/gigfs/srv9p"
)

// FuzzServerMessage sends a live server, on an attached connection, one
// message of any bytes (framed with its size), then a Tstat of the root:
// the server must not panic, and must answer the Tstat or hang up; it
// must then still serve a new connection. The read deadline only turns
// a hang into a failure.
//
//	go test ./srv9p -run '^$' -fuzz FuzzServerMessage -fuzztime 30s
func FuzzServerMessage(f *testing.F) {
	ts := startServer(f, func(s *srv9p.Server) { s.AttachDelay = -1 }) // guesses are the point here
	for _, fc := range []*plan9.Fcall{
		{Type: plan9.Twalk, Tag: 2, Fid: 0, Newfid: 1, Wname: []string{"ctl"}},
		{Type: plan9.Tread, Tag: 2, Fid: 0, Offset: 0, Count: 1 << 30},
		{Type: plan9.Twrite, Tag: 2, Fid: 0, Data: []byte("echo hi")},
		{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 7, Version: "9P2000"},
		{Type: plan9.Tattach, Tag: 2, Fid: 5, Afid: plan9.NOFID, Uname: testUser, Aname: "guess"},
		{Type: plan9.Tflush, Tag: 2, Oldtag: 3},
		{Type: plan9.Tcreate, Tag: 2, Fid: 0, Name: "..", Perm: plan9.DMDIR | 0o777},
		{Type: plan9.Twstat, Tag: 2, Fid: 0, Stat: []byte{0, 0}},
		{Type: plan9.Tclunk, Tag: 2, Fid: 0},  // handed to the library as a Tremove (clunk.go)
		{Type: plan9.Tremove, Tag: 2, Fid: 0}, // the root: refused, clunked
	} {
		b, err := fc.Bytes()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[4:])
	}
	// A walk of 17 names, which the library cannot encode: 16, then one more.
	w, _ := (&plan9.Fcall{Type: plan9.Twalk, Tag: 2, Fid: 0, Newfid: 1, Wname: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p"}}).Bytes()
	w = append(w[4:], 1, 0, 'q')
	binary.LittleEndian.PutUint16(w[11:13], 17)
	f.Add(w)
	f.Add([]byte{0, 2, 0})        // type 0, no body
	f.Add([]byte{255, 2, 0, 1})   // an unknown type
	f.Add([]byte{plan9.Rread, 2}) // a reply type, short
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) < 3 || len(body) > 8000 {
			return
		}
		r := ts.dialRaw(t)
		msg := binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)))
		msg = append(msg, body...)
		if _, err := r.c.Write(msg); err != nil {
			return // hung up already
		}
		tag := binary.LittleEndian.Uint16(body[1:3]) ^ 0x5a5a
		if tag == plan9.NOTAG {
			tag--
		}
		stat, _ := (&plan9.Fcall{Type: plan9.Tstat, Tag: tag, Fid: 0}).Bytes()
		if _, err := r.c.Write(stat); err != nil {
			return
		}
		r.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			fc, err := plan9.ReadFcall(r.c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("after % x the server neither answered the Tstat nor hung up", body)
			}
			if err != nil {
				break // it hung up: allowed for a message it cannot parse
			}
			if fc.Tag == tag && (fc.Type == plan9.Rstat || fc.Type == plan9.Rerror) {
				break
			}
		}
		r.c.Close()
		ts.dialRaw(t) // still serving
	})
}
