package srv9p

import (
	"context"
	"errors"
	"strings"

	"9fans.net/go/plan9/client"

	"gigfs.io/gigfs/gig"
)

// classify gives an error of the 9P client library its kind, so that the
// client sides of GiG.fs test kinds, never text:
//
//   - an Rerror from one of our servers: the kind its leading word names
//     (ParseError);
//   - a walk the server answered short: gig.ErrNotExist;
//   - a cancelled or expired context: as it is (gig.KindOf says interrupted
//     or timeout);
//   - anything else (refused, reset or closed connection, a broken 9P
//     conversation): gig.ErrTransport, the only kind that means hang up
//     and redial.
func classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var k *gig.Kind
	if errors.As(err, &k) {
		return err
	}
	var ce client.Error
	if errors.As(err, &ce) {
		msg := string(ce)
		if strings.HasPrefix(msg, "file '") && strings.HasSuffix(msg, "' not found") {
			return gig.Errorf(gig.ErrNotExist, "%s", msg)
		}
		return ParseError(msg)
	}
	return gig.Errorf(gig.ErrTransport, "%w", err)
}
