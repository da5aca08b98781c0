package oplog

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"gigfs.io/gigfs/gig"
)

// A clock with a horizon never moves to a date past it: one op dated in
// the year 9999 (or MaxInt64) does not date every later op after it.
func TestClock_HorizonIgnoresFarFuture(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	c := Clock{Now: func() time.Time { return now }, Horizon: time.Hour}
	for _, d := range []int64{math.MaxInt64, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), now.UnixMilli() + time.Hour.Milliseconds() + 1} {
		if c.Observe(d) {
			t.Errorf("Observe(%d) moved the clock", d)
		}
		if got := c.Date(); got <= 0 || got > now.UnixMilli()+1000 {
			t.Fatalf("after Observe(%d): Date %d, want about %d", d, got, now.UnixMilli())
		}
	}
	// Within the horizon, the clock follows.
	in := now.UnixMilli() + time.Hour.Milliseconds()
	if !c.Observe(in) {
		t.Fatal("a date within the horizon was ignored")
	}
	if got := c.Date(); got != in+1 {
		t.Fatalf("Date %d, want %d", got, in+1)
	}
}

func TestCheckHorizon_NamesTheBound(t *testing.T) {
	now := int64(1_700_000_000_000)
	far := mustOp(t, math.MaxInt64, "a", 1, `1`)
	err := CheckHorizon(&far, now, 24*time.Hour)
	if !errors.Is(err, ErrFuture) || !errors.Is(err, gig.ErrLimit) || !strings.Contains(err.Error(), "horizon of 24h0m0s") {
		t.Fatalf("got %v, want ErrFuture naming the 24h horizon", err)
	}
	near := mustOp(t, now+time.Hour.Milliseconds(), "a", 1, `1`)
	if err := CheckHorizon(&near, now, 24*time.Hour); err != nil {
		t.Fatalf("an op within the horizon: %v", err)
	}
	if err := CheckHorizon(&far, now, 0); err != nil {
		t.Fatalf("no horizon: %v", err)
	}
}
