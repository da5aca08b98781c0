package srv9p

import (
	"context"
	"fmt"
	"io"
	"testing"

	"9fans.net/go/plan9/client"
)

// A server's answer is never a hang-up, whatever its kind; a broken or
// refused connection always is; a context that ended is neither. (The
// shared local store redials on a hang-up only: taking an answer such as
// "stream epoch changed" for one made it retry a resume for ever, and
// then skip the events of the server it took over from.)
func TestIsHangup(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{classify(client.Error("notfound: stream epoch changed (store restarted or restored): re-read the oplogs")), false},
		{classify(client.Error("permission: token revoked")), false},
		{classify(client.Error("file 'x' not found")), false},
		{classify(client.Error("something another server says")), false},
		{classify(io.EOF), true},
		{classify(fmt.Errorf("dial unix!/tmp/x: %w", io.ErrUnexpectedEOF)), true},
		{classify(context.Canceled), false},
		{fmt.Errorf("stream: %w", classify(context.DeadlineExceeded)), false},
		{nil, false},
	} {
		if got := IsHangup(c.err); got != c.want {
			t.Errorf("IsHangup(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
