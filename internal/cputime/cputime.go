// Package cputime reads the CPU time the process has used: on a loaded
// machine it tells a computation's cost better than the wall clock, and
// the benchmarks report it beside their times.
package cputime

import (
	"syscall"
	"time"
)

// Used is the CPU time the process has used so far, user and system.
func Used() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
