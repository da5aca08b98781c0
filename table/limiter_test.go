package table

import (
	"net"
	"testing"
	"time"
)

func TestLimiter_Delays(t *testing.T) {
	clock := newClock()
	l := newLimiter(100*time.Millisecond, time.Second, time.Minute, clock.Now)
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		l.fail("alice", "10.0.0.1")
		if got := l.delay("alice", "10.0.0.9"); got != w*time.Millisecond {
			t.Errorf("after %d failures, by user: got %v, want %v", i+1, got, w*time.Millisecond)
		}
		if got := l.delay("bob", "10.0.0.1"); got != w*time.Millisecond {
			t.Errorf("after %d failures, by host: got %v, want %v", i+1, got, w*time.Millisecond)
		}
		if got := l.delay("bob", "10.0.0.9"); got != 0 {
			t.Errorf("another user from another host: got %v, want 0", got)
		}
		clock.Advance(30 * time.Second)
	}
	clock.Advance(61 * time.Second)
	if got := l.delay("alice", "10.0.0.1"); got != 0 {
		t.Errorf("past the window: got %v, want 0", got)
	}
	l.fail("alice", "10.0.0.1")
	if got := l.delay("alice", "x"); got != 100*time.Millisecond {
		t.Errorf("a failure past the window starts again: got %v", got)
	}
	l.succeed("alice", "10.0.0.1")
	if got := l.delay("alice", "10.0.0.1"); got != 0 {
		t.Errorf("after a success: got %v, want 0", got)
	}
}

func TestLimiter_Bounded(t *testing.T) {
	clock := newClock()
	l := newLimiter(time.Millisecond, time.Second, time.Minute, clock.Now)
	for i := range maxLimited + 10 {
		l.fail(string(rune(i)), "h")
	}
	if n := len(l.users); n > maxLimited {
		t.Errorf("%d users remembered, want at most %d", n, maxLimited)
	}
}

// A failing attach loop over 9P meets a growing delay, per user and per
// remote address, while another user from another address stays fast.
func TestAttach_SlowedDown(t *testing.T) {
	const base, maxDelay = 20 * time.Millisecond, 160 * time.Millisecond
	tt := newTestTable(t, func(c *Config) {
		c.AttachDelayBase, c.AttachDelayMax, c.AttachDelayWindow = base, maxDelay, time.Minute
	})
	tt.setUser("alice", testMaster)
	tt.setUser("bob", "bob's master")
	attacker := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}

	want := base
	for i := range 5 {
		if got := tt.svc.AttachDelay("alice", "127.0.0.1:1"); i > 0 && got != want/2 && got != maxDelay {
			t.Errorf("before failure %d: delay of alice %v", i+1, got)
		}
		start := time.Now()
		if _, err := tt.attachFrom(attacker, "alice", "master wrong guess"); err == nil {
			t.Fatal("a wrong master attached")
		}
		if i > 0 {
			if took, least := time.Since(start), min(base<<(i-1), maxDelay); took < least {
				t.Errorf("failure %d took %v, want at least %v", i+1, took, least)
			}
		}
		if got := tt.svc.AttachDelay("alice", "127.0.0.1:9"); got != want {
			t.Errorf("after %d failures: delay of alice %v, want %v", i+1, got, want)
		}
		if got := tt.svc.AttachDelay("carol", "127.0.0.2:9"); got != want {
			t.Errorf("after %d failures: delay of the address %v, want %v", i+1, got, want)
		}
		if got := tt.svc.AttachDelay("bob", "127.0.0.1:9"); got != 0 {
			t.Errorf("after %d failures: delay of bob from another address %v, want 0", i+1, got)
		}
		start = time.Now()
		tt.mustAttach("bob", "master bob's master")
		if took := time.Since(start); took >= want {
			t.Logf("bob's attach took %v (alice's delay %v)", took, want)
		}
		want = min(2*want, maxDelay)
	}
	// The right master from the attacker's address waits, then resets.
	tt.mustAttach("alice", "master "+testMaster)
	if got := tt.svc.AttachDelay("alice", "127.0.0.1:9"); got != 0 {
		t.Errorf("after a success: %v", got)
	}
	tt.attachFrom(attacker, "alice", "master wrong guess")
	tt.clock.Advance(2 * time.Minute)
	if got := tt.svc.AttachDelay("alice", "127.0.0.2:9"); got != 0 {
		t.Errorf("past the window: %v", got)
	}
}
