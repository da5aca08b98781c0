package srv9p

import (
	"context"
	"errors"

	"9fans.net/go/plan9/client"
)

// IsHangup reports whether err, from a call of a Client, is a failure of
// the connection (it could not be made, broke, or was closed) rather than
// the server's answer to the call (an Rerror) or the caller's context
// ending. Only a hang-up is worth dialling again for.
func IsHangup(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var answer client.Error
	return !errors.As(err, &answer)
}
