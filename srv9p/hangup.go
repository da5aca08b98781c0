package srv9p

import (
	"context"
	"errors"

	"gigfs.io/gigfs/gig"
)

// IsHangup reports whether err, from a call of a Client or a Mux, is a
// failure of the connection (it could not be made, broke, or was closed:
// kind gig.ErrTransport) rather than the server's answer to the call (an
// Rerror, of the kind its word names) or the caller's context ending.
// Only a hang-up is worth dialling again for.
func IsHangup(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, gig.ErrTransport)
}
