package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// A push past Config.MaxPushes waits its turn and says so, once, through
// Logf; it sends nothing while it waits (here its context ends first).
func TestRemote_MaxPushesWaitsAndLogs(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	saw := make(chan struct{})
	r := &Remote{Addr: "test", cfg: Config{MaxPushes: 1, Logf: func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, fmt.Sprintf(format, args...))
		if len(logged) == 1 {
			close(saw)
		}
	}}, pushes: make(chan struct{}, 1)}
	r.pushes <- struct{}{} // a push in flight holds the one slot
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Push(ctx, []netstore.Record{{Type: "counter", Path: "/x"}})
		done <- err
	}()
	<-saw
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("push past the bound: %v, want it to wait until its context ends", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 1 || !strings.Contains(logged[0], "1 pushes in flight (MaxPushes)") {
		t.Fatalf("logged %q", logged)
	}
}

// The result lines of a push parse one per record, the last one with or
// without its newline; a count that differs, or a line that is no result,
// is an error.
func TestParseResults(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // longer than a bufio.Scanner's line
	res, err := parseResults([]byte("accepted\nduplicate\r\nlimit: "+long), 3)
	if err != nil {
		t.Fatalf("%.200v", err)
	}
	if res[0].Outcome() != oplog.Accepted || res[1].Outcome() != oplog.NoOp || res[2].Outcome() != oplog.Refused || res[2].Reason != long {
		t.Fatalf("results %v, %v and a reason of %d bytes", res[0], res[1], len(res[2].Reason))
	}
	if _, err := parseResults([]byte("accepted\n"), 2); gig.KindOf(err) != gig.ErrInternal {
		t.Errorf("1 result for 2 records: %v, want an error of kind internal", err)
	}
	if _, err := parseResults([]byte("accepted\n\naccepted\n"), 3); gig.KindOf(err) != gig.ErrInvalid {
		t.Errorf("an empty line: %v, want an error of kind invalid", err)
	}
}
