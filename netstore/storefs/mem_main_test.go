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

// A soft memory limit that is negative, or not above the budget, is bad
// usage, named in the error.
func TestMain_BadMemLimit(t *testing.T) {
	for _, args := range [][]string{{"-mem-limit", "-1"}, {"-mem", "1000", "-mem-limit", "1000"}} {
		var stderr bytes.Buffer
		code := run(context.Background(), append(args, "-data", t.TempDir()), &stderr, nil, nil)
		if code != 2 || !strings.Contains(stderr.String(), "-mem-limit") {
			t.Fatalf("%q: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}
