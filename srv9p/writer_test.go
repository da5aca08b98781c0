package srv9p_test

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"9fans.net/go/plan9"
	"gigfs.io/gigfs/srv9p"
)

// writeLog records, for every write a server makes on its connections,
// the types of the messages it carries.
type writeLog struct {
	mu     sync.Mutex
	writes [][]uint8
}

type loggedListener struct {
	net.Listener
	log *writeLog
}

func (l loggedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return loggedConn{c, l.log}, nil
}

type loggedConn struct {
	net.Conn
	log *writeLog
}

func (c loggedConn) Write(p []byte) (int, error) {
	var types []uint8
	for m := p; len(m) >= 7; {
		n := int(binary.LittleEndian.Uint32(m))
		if n < 7 || n > len(m) {
			break
		}
		types = append(types, m[4])
		m = m[n:]
	}
	c.log.mu.Lock()
	c.log.writes = append(c.log.writes, types)
	c.log.mu.Unlock()
	return c.Conn.Write(p)
}

// TestServer_PushPairLeavesInOneWrite: the Rwrite of a numbered write
// whose named read is in flight beside it does not leave alone, before
// the read's reply: the two leave in one write(2) (or the Rread first),
// so a sequential push costs the server one write and its client one
// read. Without the hold (the Rwrite written at once) Rwrites leave alone
// first.
func TestServer_PushPairLeavesInOneWrite(t *testing.T) {
	var reads atomic.Int64
	root := srv9p.NewDir(srv9p.Info{Name: "/"}, srv9p.NewFile(srv9p.Info{Name: "push", Mode: 0o600}, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
		// readFirst: the write ends only once its read is being served,
		// so the read is in flight when the Rwrite is made.
		return &echoLines{reads: &reads, named: true, readFirst: make(chan struct{}, 1)}, nil
	}))
	l, err := srv9p.Listen("tcp!127.0.0.1!0")
	if err != nil {
		t.Fatal(err)
	}
	log := &writeLog{}
	s := &srv9p.Server{
		Attach: func(context.Context, string, string, string) (srv9p.Node, error) { return root, nil },
		Logf:   t.Logf,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx, loggedListener{l, log}) }()
	t.Cleanup(func() { cancel(); <-done })
	f := openPush(t, l.Addr().String(), srv9p.MuxConfig{})

	log.mu.Lock()
	before := len(log.writes)
	log.mu.Unlock()
	const pushes = 200
	for range pushes {
		exchange(t, f, 1)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	// Every message the server wrote, in order, and where each write ended.
	var msgs []uint8
	var ends []bool
	for _, w := range log.writes[before:] {
		for i, typ := range w {
			msgs = append(msgs, typ)
			ends = append(ends, i == len(w)-1)
		}
	}
	// The pushes are sequential: the replies of push j are messages 2j
	// and 2j+1, in either order.
	if len(msgs) != 2*pushes {
		t.Fatalf("%d messages written for %d pushes, want %d", len(msgs), pushes, 2*pushes)
	}
	pairs, alone := 0, 0
	for j := 0; j < len(msgs); j += 2 {
		switch {
		case msgs[j] == plan9.Rwrite && msgs[j+1] == plan9.Rread && ends[j]:
			alone++
		case msgs[j] == plan9.Rwrite && msgs[j+1] == plan9.Rread:
			pairs++
		case msgs[j] == plan9.Rread && msgs[j+1] == plan9.Rwrite:
			// the read was answered before the Rwrite was made
		default:
			t.Fatalf("push %d: replies of types %d and %d", j/2, msgs[j], msgs[j+1])
		}
	}
	if alone > 0 {
		t.Errorf("%d of %d pushes: the Rwrite left alone (%d left with their Rread)", alone, pushes, pairs)
	}
}
