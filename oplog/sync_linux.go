package oplog

import (
	"os"
	"syscall"
)

// fdatasync makes f's data durable, and the metadata needed to read it
// (its length), without waiting for the rest (times).
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
