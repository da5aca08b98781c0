// Package stack lets a new goroutine that is about to make a deep call
// take the stack that call needs at once.
package stack

// reserve is the room Reserve makes: what a push takes below it on
// either side (the client's delivery, the store's push handle), with
// margin; their CPU profiles show no stack growth under it.
const reserve = 5 << 10

// Reserve grows the calling goroutine's stack, if needed, to hold
// reserve bytes more, in one growth while the goroutine is shallow. A
// new goroutine's stack starts small (the runtime's average, often
// 2 KiB) and doubles each time a call finds it full, and each growth
// copies and adjusts every frame on it (runtime.copystack): a push's
// goroutines, each some fifteen calls deep, grew deep down, twice, and
// that was 10% of the CPU of 16 clients pushing (gig-bench -only 'own
// path' -cpuprofile), 5% with one growth at the top.
//
//go:noinline
func Reserve() {
	var b [reserve]byte
	keep(b[:])
}

// keep takes b so that Reserve's frame holds it.
//
//go:noinline
func keep(b []byte) { _ = b }
