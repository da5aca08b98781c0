package remote

import "testing"

// A stream reader's read buffer swings between sizes in its own memory:
// it is made again only to grow past what it ever had, and what it held
// is left as it was.
func TestResize_KeepsItsMemory(t *testing.T) {
	buf := make([]byte, streamRead)
	copy(buf, "events")
	big := resize(buf, 2*streamRead)
	if len(big) != 2*streamRead || string(buf[:6]) != "events" {
		t.Fatalf("grown to %d bytes, held %q", len(big), buf[:6])
	}
	small := resize(big, streamRead)
	again := resize(small, 2*streamRead)
	if len(small) != streamRead || len(again) != 2*streamRead || &small[0] != &big[0] || &again[0] != &big[0] {
		t.Fatal("a shrink and a grow back within the memory the buffer had made a new one")
	}
}
