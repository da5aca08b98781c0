// Package filelock holds advisory whole-file locks (flock) that die with
// the process that holds them: the data folder lock of the servers and the
// origin leases of the clients. A leaf helper with no GiG.fs logic.
package filelock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLocked reports a lock another open file description holds (another
// process, or another open of the same file in this one).
var ErrLocked = errors.New("locked by another process")

// TryLock opens (creating it with mode 0600) the file at path and takes an
// exclusive lock on it without waiting. The lock is held until the file is
// closed or the process ends, however it ends. A lock held elsewhere is an
// error wrapping ErrLocked.
func TryLock(path string) (*os.File, error) {
	return lock(path, syscall.LOCK_EX|syscall.LOCK_NB)
}

// Lock is TryLock that waits for the lock.
func Lock(path string) (*os.File, error) {
	return lock(path, syscall.LOCK_EX)
}

func lock(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// LockDir takes the lock of a server's data folder (the file "lock" in
// it), so that two processes never serve the same data. A folder another
// process holds is a one-line error naming it.
func LockDir(dir string) (*os.File, error) {
	f, err := TryLock(filepath.Join(dir, "lock"))
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("data folder %s is in use by another process: %w", dir, ErrLocked)
	}
	return f, err
}
