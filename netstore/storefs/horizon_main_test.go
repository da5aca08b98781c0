package storefs

import (
	"context"
	"strings"
	"testing"
)

func TestMain_DateHorizonFlag(t *testing.T) {
	var stderr strings.Builder
	code := run(context.Background(), []string{"-date-horizon", "0s", "-data", t.TempDir()}, &stderr, nil, nil)
	if code != 2 || !strings.Contains(stderr.String(), "-date-horizon") {
		t.Fatalf("-date-horizon 0s: exit %d, stderr %q", code, stderr.String())
	}
}
