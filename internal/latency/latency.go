// Package latency keeps the last durations of an operation, to tell their
// median and 99th percentile in a status file. It is a leaf helper.
package latency

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Window is how many of the last durations a Recorder keeps.
const Window = 1024

// A Recorder keeps the last Window durations it was told. The zero value
// is ready; it is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	ring [Window]time.Duration
	n    int64 // durations observed, ever
}

// Observe adds one duration.
func (r *Recorder) Observe(d time.Duration) {
	r.mu.Lock()
	r.ring[r.n%Window] = d
	r.n++
	r.mu.Unlock()
}

// Since observes the time since start.
func (r *Recorder) Since(start time.Time) { r.Observe(time.Since(start)) }

// Quantiles returns the median and the 99th percentile of the kept
// durations, and how many were observed ever (0: none, and no quantiles).
func (r *Recorder) Quantiles() (p50, p99 time.Duration, n int64) {
	r.mu.Lock()
	k := int(min(r.n, Window))
	d := slices.Clone(r.ring[:k])
	n = r.n
	r.mu.Unlock()
	if k == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	return d[(k-1)/2], d[(k*99-1)/100], n
}

// Text is the quantiles as a status line's value: "p50 1.2ms p99 4ms (n
// 1234)", or "none yet".
func (r *Recorder) Text() string {
	p50, p99, n := r.Quantiles()
	if n == 0 {
		return "none yet"
	}
	return fmt.Sprintf("p50 %v p99 %v (n %d)", round(p50), round(p99), n)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
