package stack

import "testing"

// deep calls itself n times, each frame holding some bytes, as a push's
// calls do on their way down to the socket or the sha-256.
//
//go:noinline
func deep(n int) byte {
	var b [160]byte
	b[n%len(b)] = byte(n)
	if n == 0 {
		return b[0]
	}
	return deep(n-1) + b[n%len(b)]
}

// BenchmarkGoroutineDeepCall measures a new goroutine making a call some
// thirty frames (about 5 KiB) deep, its stack grown as the call goes
// down, and with Reserve first.
func BenchmarkGoroutineDeepCall(b *testing.B) {
	for _, reserve := range []bool{false, true} {
		name := "grown-on-the-way"
		if reserve {
			name = "reserved"
		}
		b.Run(name, func(b *testing.B) {
			done := make(chan byte)
			for b.Loop() {
				go func() {
					if reserve {
						Reserve()
					}
					done <- deep(30)
				}()
				<-done
			}
		})
	}
}
