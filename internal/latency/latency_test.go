package latency

import (
	"testing"
	"time"
)

func TestRecorder_Quantiles(t *testing.T) {
	var r Recorder
	if _, _, n := r.Quantiles(); n != 0 || r.Text() != "none yet" {
		t.Fatalf("empty: n %d, %q", n, r.Text())
	}
	for i := 1; i <= 100; i++ {
		r.Observe(time.Duration(i) * time.Millisecond)
	}
	if p50, p99, n := r.Quantiles(); p50 != 50*time.Millisecond || p99 != 99*time.Millisecond || n != 100 {
		t.Fatalf("1..100 ms: p50 %v p99 %v n %d", p50, p99, n)
	}
	// Only the last Window count.
	for range Window {
		r.Observe(time.Second)
	}
	if p50, _, n := r.Quantiles(); p50 != time.Second || n != 100+Window {
		t.Fatalf("after a window of 1s: p50 %v n %d", p50, n)
	}
}
