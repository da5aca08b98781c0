//go:build !linux

package tools

import (
	"os"
)

// isTTY reports whether fd is a terminal, roughly: a character device
// other than the null device.
func isTTY(fd uintptr) bool {
	f := os.NewFile(fd, "")
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}
