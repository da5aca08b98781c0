package srv9p_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"9fans.net/go/plan9/client"

	"gigfs.io/gigfs/srv9p"
)

// Brute force from one address: after the free failures its attaches
// take turns, whatever connection they come on, so a flood of guesses on
// many connections gets its credentials checked no faster; an attach from
// another address is not delayed. The test counts credential checks and
// attaches waiting for a turn, never time: the delay is an hour.
func TestAttachDelay_PerAddress(t *testing.T) {
	var checks atomic.Int64
	ts := startServer(t, func(s *srv9p.Server) {
		s.AttachDelay, s.AttachMaxDelay = time.Hour, time.Hour
		check := s.Attach
		s.Attach = func(ctx context.Context, uname, aname, remote string) (srv9p.Node, error) {
			checks.Add(1)
			return check(ctx, uname, aname, remote)
		}
	})
	var mu sync.Mutex
	var conns []*client.Conn
	dialFrom := func(ip string) *client.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		nc, err := d.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatalf("dial from %s: %v", ip, err)
		}
		c, err := client.NewConn(nc)
		if err != nil {
			t.Fatalf("version from %s: %v", ip, err)
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return c
	}
	const attacker, victim = "127.0.0.2", "127.0.0.1"

	// 5 free failures, then the first turn: all checked at once.
	for i := range 6 {
		c := dialFrom(attacker)
		if _, err := c.Attach(nil, testUser, "guess"); err == nil {
			t.Fatalf("guess %d attached", i)
		}
		c.Close()
	}
	if n := checks.Load(); n != 6 {
		t.Fatalf("%d credentials checked, want 6", n)
	}
	if !ts.logs.contains(attacker + ": 5 failed attaches: its attaches now take turns") {
		t.Errorf("the delay biting is not logged; logs:\n%s", ts.logs)
	}

	// Ten more guesses in parallel, each on its own connection: each
	// waits for its turn, none is checked.
	const flood = 10
	for range flood {
		c := dialFrom(attacker)
		go c.Attach(nil, testUser, "guess")
	}
	waitFor(t, patience, "every guess checked or waiting", func() bool {
		return srv9p.AttachWaiting(ts.srv)+int(checks.Load())-6 >= flood
	})
	if n, w := checks.Load(), srv9p.AttachWaiting(ts.srv); n != 6 || w != flood {
		t.Fatalf("after a flood of %d guesses: %d credentials checked (want 6), %d waiting (want %d)", flood, n, w, flood)
	}

	// The rightful user from another address attaches now, not in turn.
	done := make(chan error, 1)
	go func() {
		_, err := dialFrom(victim).Attach(nil, testUser, testKey)
		done <- err
	}()
	var err error
	waitFor(t, patience, "the victim's attach answered or waiting", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return srv9p.AttachWaiting(ts.srv) > flood
		}
	})
	if srv9p.AttachWaiting(ts.srv) > flood {
		t.Fatal("the attach from another address waits for the attacker's turn")
	}
	if err != nil {
		t.Fatalf("the attach from another address: %v", err)
	}

	// From the attacker's address even the right key waits its turn: the
	// unit is the address, not the credential.
	go dialFrom(attacker).Attach(nil, testUser, testKey)
	waitFor(t, patience, "the right key from the attacker's address waiting", func() bool {
		return srv9p.AttachWaiting(ts.srv) == flood+1
	})

	// Hanging up ends the waits.
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	waitFor(t, patience, "no attach waiting once their connections closed", func() bool {
		return srv9p.AttachWaiting(ts.srv) == 0
	})
	if n := checks.Load(); n != 7 {
		t.Errorf("%d credentials checked in all, want 7 (6 guesses and the victim)", n)
	}
}
