package gigfs

import (
	"testing"
	"time"
)

// The redial backoff doubles from minBackoff to maxBackoff over failed
// dials and connections that drop soon after they are made (a store that
// accepts and hangs up is not redialled in a loop); only a connection that
// stayed up for stableUp starts it over, with no wait at all.
func TestRedial_ResetsOnlyAfterAStableConnection(t *testing.T) {
	var r redial
	want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	for i, w := range want {
		if d := r.failed(); d != w {
			t.Fatalf("failure %d: wait %v, want %v", i+1, d, w)
		}
	}
	// Up for a moment, then dropped: the backoff goes on growing.
	if d := r.dropped(time.Second); d != 400*time.Millisecond {
		t.Fatalf("after a short connection: wait %v, want 400ms", d)
	}
	for range 20 {
		r.failed()
	}
	if d := r.failed(); d != maxBackoff {
		t.Fatalf("after many failures: wait %v, want %v", d, maxBackoff)
	}
	// A stable connection dropped: redial at once, and start over.
	if d := r.dropped(stableUp); d != 0 {
		t.Fatalf("after a stable connection: wait %v, want none", d)
	}
	if d := r.failed(); d != minBackoff {
		t.Fatalf("first failure after a stable connection: wait %v, want %v", d, minBackoff)
	}
}
