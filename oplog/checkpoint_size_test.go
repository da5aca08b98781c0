package oplog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A checkpoint may be larger than an op, up to MaxCheckpointSize: a path
// written by tens of thousands of origins (one per run, before leases)
// must still be prunable. Past the bound it is refused, naming it.
func TestCheck_CheckpointSizeLimit(t *testing.T) {
	cov := make(Coverage)
	for i := 0; len(cov) < 50_000; i++ {
		cov[fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)] = uint64(i + 1)
	}
	c, err := NewCheckpoint(1000, "p", []byte(`1`), cov)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.AppendJSON(nil)); n <= MaxOpSize {
		t.Fatalf("a checkpoint of 50,000 origins is %d bytes, not over an op's limit", n)
	}
	d, err := Decode(c.AppendJSON(nil))
	if err != nil || d.Sha != c.Sha {
		t.Fatalf("decode: %v", err)
	}
	for len(cov) < MaxCheckpointSize/40 {
		cov[fmt.Sprintf("%08x-1111-4000-8000-%012x", len(cov), len(cov))] = 1
	}
	huge, err := NewCheckpoint(1000, "p", []byte(`1`), cov)
	if err == nil {
		err = huge.Check()
	}
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprint(MaxCheckpointSize)) {
		t.Fatalf("a checkpoint over %d bytes: %v, want ErrTooLarge naming the limit", MaxCheckpointSize, err)
	}
}
