package storefs

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A memory budget that is not a positive number of bytes is bad usage,
// named in the error.
func TestMain_BadMemBudget(t *testing.T) {
	for _, v := range []string{"0", "-5"} {
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"-mem", v, "-data", t.TempDir()}, &stderr, nil, nil)
		if code != 2 || !strings.Contains(stderr.String(), "-mem") {
			t.Fatalf("-mem %s: exit %d, stderr %q", v, code, stderr.String())
		}
	}
}
