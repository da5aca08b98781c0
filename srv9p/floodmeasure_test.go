package srv9p_test

import (
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"9fans.net/go/plan9"
)

// TestFloodMeasure reports how much a server's memory grows under a flood
// of unread requests, for the README's figures and for comparing with a
// server without the limits (it uses nothing the older server lacks). It
// runs only with GIGFS_FLOOD_MEASURE set:
//
//	GIGFS_FLOOD_MEASURE=1 go test ./srv9p -run TestFloodMeasure -v
func TestFloodMeasure(t *testing.T) {
	if os.Getenv("GIGFS_FLOOD_MEASURE") == "" {
		t.Skip("set GIGFS_FLOOD_MEASURE to measure")
	}
	mem := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc + m.StackInuse)
	}
	for _, tc := range []struct {
		name   string
		n      int
		msize  uint32
		attach bool
		msg    func(i int) *plan9.Fcall
	}{
		{"Tstat of an unknown fid, unattached", 900_000, 8192, false, func(i int) *plan9.Fcall {
			return &plan9.Fcall{Type: plan9.Tstat, Tag: uint16(i % 60000), Fid: 99}
		}},
		{"Tread of 64 KiB, attached", 30_000, 64 << 10, true, func(i int) *plan9.Fcall {
			return &plan9.Fcall{Type: plan9.Tread, Tag: uint16(i), Fid: 1, Count: 64 << 10}
		}},
	} {
		ts := startServer(t, nil)
		before := mem()
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		r := &raw{t: t, c: c}
		r.rpc(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: tc.msize, Version: "9P2000"})
		if tc.attach {
			r.rpc(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: testUser, Aname: testKey})
			r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"ctl"}})
			r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.ORDWR})
			r.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: []byte("big 60000")})
		}
		start := time.Now()
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		sent := 0
		var buf []byte
		for i := range tc.n {
			b, _ := tc.msg(i).Bytes()
			buf = append(buf, b...)
			if len(buf) >= 32<<10 || i == tc.n-1 {
				if _, err := c.Write(buf); err != nil {
					break
				}
				sent = i + 1
				buf = buf[:0]
			}
		}
		d := time.Since(start)
		// The server may still be reading what was sent: take the peak
		// over the next 5 seconds.
		grew := int64(0)
		for range 20 {
			grew = max(grew, mem()-before)
			time.Sleep(250 * time.Millisecond)
		}
		t.Logf("%s: %d of %d sent in %v (the rest held back by the server); live memory grew by %.1f MiB at most",
			tc.name, sent, tc.n, d.Round(time.Millisecond), float64(grew)/(1<<20))
		c.Close()
		ts.stop()
	}
}
