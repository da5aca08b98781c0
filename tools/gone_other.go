//go:build !linux

package tools

import (
	"context"
	"io"
)

// readerGone is only known on Linux; elsewhere a watch notices that its
// reader went away when it next writes.
func readerGone(ctx context.Context, w io.Writer) <-chan struct{} { return nil }
