package bench

import (
	"os"
	"syscall"
)

// fdatasync makes f's data durable without its times, as the store's
// write-ahead log does.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
