package tools

import (
	"context"
	"io"
	"os"
	"syscall"
)

// readerGone returns a channel closed when w is a pipe whose reading end
// has been closed (gig-watch a | head -1), so that a watch with nothing to
// print notices too; nil when w is not a pipe. On Linux, select reports
// the writing end of a pipe readable exactly when no reader is left.
func readerGone(ctx context.Context, w io.Writer) <-chan struct{} {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return nil
	}
	fd := int(f.Fd())
	if fd >= 31 {
		return nil
	}
	gone := make(chan struct{})
	go func() {
		for ctx.Err() == nil {
			var set syscall.FdSet
			set.Bits[0] |= 1 << uint(fd)
			tv := syscall.NsecToTimeval(pollInterval.Nanoseconds())
			n, err := syscall.Select(fd+1, &set, nil, nil, &tv)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return
			}
			if n > 0 {
				close(gone)
				return
			}
		}
	}()
	return gone
}
