package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"gigfs.io/gigfs/netstore"
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
