package srv9p_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	"gigfs.io/gigfs/srv9p"
)

// Floods, as issue 10 found them: a client that sends without reading its
// replies must not make the server buffer without end, and others must
// keep being answered. Memory is the live heap plus goroutine stacks,
// measured in this process after a GC.

// liveMem returns the bytes of live heap and stacks after a GC.
func liveMem() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

// dialVersion connects from local address from (empty: any), and sends
// Tversion with msize.
func dialVersion(t testing.TB, addr, from string, msize uint32) *raw {
	t.Helper()
	d := net.Dialer{Control: smallRcvBuf}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &raw{t: t, c: c}
	rx := r.rpc(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: msize, Version: "9P2000"})
	if rx.Type != plan9.Rversion || rx.Version != "9P2000" {
		t.Fatalf("Tversion: got %v", rx)
	}
	return r
}

// flood writes n copies of msg, the i-th with tag i mod 60,000, without
// reading a reply, or fewer if the connection fails (the test closes it at
// its end); n < 0 means until it fails. It allocates nothing per message,
// so that the live memory a test measures during the flood is the
// server's, not the flood's garbage.
func flood(c net.Conn, n int, msg *plan9.Fcall) {
	one, err := msg.Bytes()
	if err != nil {
		panic(err)
	}
	var buf []byte
	for i := 0; n < 0 || i < n; i++ {
		buf = append(buf, one...)
		binary.LittleEndian.PutUint16(buf[len(buf)-len(one)+5:], uint16(i%60000))
		if len(buf) >= 32<<10 || i == n-1 {
			if _, err := c.Write(buf); err != nil {
				return
			}
			buf = buf[:0]
		}
	}
}

// smallRcvBuf makes the receive buffer of a socket small before it
// connects, so that unread replies soon fill the kernel's buffers and the
// server meets its own limits quickly.
func smallRcvBuf(_, _ string, rc syscall.RawConn) error {
	var err error
	rc.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
	return err
}

// answered checks that a client attached before the flood still gets its
// replies while the flood is held.
func answered(t *testing.T, ctl *client.Fid, what string) {
	t.Helper()
	for i := range 5 {
		want := fmt.Sprintf("%s %d", what, i)
		if got, err := ctlRoundTrip(ctl, "echo "+want); err != nil || got != want+"\n" {
			t.Fatalf("another client during %s: got %q, %v", what, got, err)
		}
	}
}

func openCtl(t *testing.T, ts *testServer) *client.Fid {
	t.Helper()
	_, fsys := ts.mount(t)
	ctl, err := fsys.Open("ctl", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	return ctl
}

// checkGrowth fails the test if the live memory grew by more than limit
// since before.
func checkGrowth(t *testing.T, what string, before, limit int64) {
	t.Helper()
	grew := liveMem() - before
	t.Logf("%s: live memory grew by %.1f MiB (bound %d MiB)", what, float64(grew)/(1<<20), limit>>20)
	if grew > limit {
		t.Errorf("%s: live memory grew by %d bytes, over the bound of %d", what, grew, limit)
	}
}

// TestFlood_StatsUnread sends 900,000 Tstat of an unknown fid without
// reading a reply, unattached (after Tversion only) and attached.
func TestFlood_StatsUnread(t *testing.T) {
	for _, attach := range []bool{false, true} {
		t.Run(fmt.Sprintf("attached=%v", attach), func(t *testing.T) {
			ts := startServer(t, nil)
			ctl := openCtl(t, ts)
			before := liveMem()

			r := dialVersion(t, ts.addr, "", 8192)
			if attach {
				r.want(r.rpc(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: testUser, Aname: testKey}), plan9.Rattach, "")
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				flood(r.c, 900_000, &plan9.Fcall{Type: plan9.Tstat, Fid: 99})
			}()
			waitFor(t, patience, "the flood held", func() bool { return srv9p.Paused(ts.srv) == 1 })
			answered(t, ctl, "a stat flood")
			checkGrowth(t, "900,000 unread Tstat", before, 16<<20)
			if !ts.logs.contains("not reading from it") {
				t.Errorf("no log line for the back-pressure; logs:\n%s", ts.logs)
			}
			r.c.Close()
			<-done
		})
	}
}

// TestFlood_ReadsUnread sends 30,000 Treads of a 60 KB file at msize
// 64 KiB without reading a reply.
func TestFlood_ReadsUnread(t *testing.T) {
	ts := startServer(t, nil)
	ctl := openCtl(t, ts)
	before := liveMem()

	r := dialVersion(t, ts.addr, "", 64<<10)
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: testUser, Aname: testKey}), plan9.Rattach, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"ctl"}}), plan9.Rwalk, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.ORDWR}), plan9.Ropen, "")
	r.want(r.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: []byte("big 60000")}), plan9.Rwrite, "")
	if rx := r.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 1, Count: 64 << 10}); rx.Type != plan9.Rread || len(rx.Data) != 60000 {
		t.Fatalf("read of the 60 KB reply: %v", rx.Type)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		flood(r.c, 30_000, &plan9.Fcall{Type: plan9.Tread, Fid: 1, Count: 64 << 10})
	}()
	waitFor(t, patience, "the flood held", func() bool { return srv9p.Paused(ts.srv) == 1 })
	answered(t, ctl, "a read flood")
	checkGrowth(t, "30,000 unread Treads of 60 KB", before, 32<<20)
	r.c.Close()
	<-done
}

// TestFlood_Unauthenticated opens connections that never attach, each
// flooding Tstat: past MaxUnauthPerAddr from one address and past
// MaxUnauth in all, new connections are closed at once; an attach frees a
// place; memory stays bounded and an attached client is answered.
func TestFlood_Unauthenticated(t *testing.T) {
	const total, perAddr = 6, 3
	ts := startServer(t, func(s *srv9p.Server) {
		s.MaxUnauth, s.MaxUnauthPerAddr = total, perAddr
		s.AuthTimeout = -1
	})
	ctl := openCtl(t, ts)
	before := liveMem()

	var wg sync.WaitGroup
	var conns []*raw
	t.Cleanup(func() {
		for _, c := range conns {
			c.c.Close()
		}
		wg.Wait()
	})
	for a := range total / perAddr {
		from := fmt.Sprintf("127.0.0.%d", 2+a)
		for range perAddr {
			r := dialVersion(t, ts.addr, from, 8192)
			conns = append(conns, r)
			wg.Go(func() {
				flood(r.c, -1, &plan9.Fcall{Type: plan9.Tstat, Fid: 99})
			})
		}
		// One more from this address is closed.
		closedAtOnce(t, ts.addr, from)
	}
	if !ts.logs.contains("not attached yet from this address (limit 3)") {
		t.Errorf("no log line for the per-address limit; logs:\n%s", ts.logs)
	}
	closedAtOnce(t, ts.addr, "127.0.0.9")
	if !ts.logs.contains("not attached yet (limit 6)") {
		t.Errorf("no log line for the limit; logs:\n%s", ts.logs)
	}
	waitFor(t, patience, "every flood held", func() bool { return srv9p.Paused(ts.srv) == total })
	answered(t, ctl, "unauthenticated floods")
	checkGrowth(t, fmt.Sprintf("%d unattached connections flooding Tstat", total), before, 16<<20)

	// A connection that ends, or one that attaches, frees a place.
	conns[0].c.Close()
	waitFor(t, patience, "the closed connection uncounted", func() bool { return srv9p.Unauth(ts.srv) == total-1 })
	a := dialVersion(t, ts.addr, "127.0.0.10", 8192)
	closedAtOnce(t, ts.addr, "127.0.0.11")
	a.want(a.rpc(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: testUser, Aname: testKey}), plan9.Rattach, "")
	dialVersion(t, ts.addr, "127.0.0.11", 8192)
}

// closedAtOnce checks that a new connection from from is closed without
// an answer.
func closedAtOnce(t *testing.T, addr, from string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	plan9.WriteFcall(c, &plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8192, Version: "9P2000"})
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ne net.Error
	if f, err := plan9.ReadFcall(c); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection from %s past the limit: got %v, %v; want it closed", from, f, err)
	}
}

// TestFlood_AuthTimeout checks that a connection that does not attach in
// time is closed, and that one that attached is not.
func TestFlood_AuthTimeout(t *testing.T) {
	ts := startServer(t, func(s *srv9p.Server) { s.AuthTimeout = 50 * time.Millisecond })
	ctl := openCtl(t, ts)
	r := dialVersion(t, ts.addr, "", 8192)
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := plan9.ReadFcall(r.c); !errors.Is(err, io.EOF) {
		t.Fatalf("unattached connection: got %v, want EOF", err)
	}
	if !ts.logs.contains("not attached within 50ms") {
		t.Errorf("no log line for the attach timeout; logs:\n%s", ts.logs)
	}
	waitFor(t, patience, "the closed connection uncounted", func() bool { return srv9p.Unauth(ts.srv) == 0 })
	answered(t, ctl, "after the timeout")
}

// BenchmarkFlood_OtherClient measures a ctl round trip of one client while
// another floods the server with unread Tstat.
func BenchmarkFlood_OtherClient(b *testing.B) {
	for _, flooded := range []bool{false, true} {
		b.Run(fmt.Sprintf("flood=%v", flooded), func(b *testing.B) {
			ts := startServer(b, nil)
			_, fsys := ts.mount(b)
			ctl, err := fsys.Open("ctl", plan9.ORDWR)
			if err != nil {
				b.Fatal(err)
			}
			defer ctl.Close()
			if flooded {
				r := dialVersion(b, ts.addr, "", 8192)
				r.want(r.rpc(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: testUser, Aname: testKey}), plan9.Rattach, "")
				go flood(r.c, 900_000, &plan9.Fcall{Type: plan9.Tstat, Fid: 99})
				waitFor(b, patience, "the flood held", func() bool { return srv9p.Paused(ts.srv) == 1 })
			}
			b.ResetTimer()
			for range b.N {
				if _, err := ctlRoundTrip(ctl, "echo x"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
