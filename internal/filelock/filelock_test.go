package filelock

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestTryLock_HeldElsewhere(t *testing.T) {
	p := filepath.Join(t.TempDir(), "slot")
	a, err := TryLock(p)
	if err != nil {
		t.Fatal(err)
	}
	// A second open file description is another holder, as another
	// process would be.
	if _, err := TryLock(p); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock: got %v, want ErrLocked", err)
	}
	a.Close()
	b, err := TryLock(p)
	if err != nil {
		t.Fatalf("TryLock after the holder closed: %v", err)
	}
	b.Close()
}

func TestLockDir_NamesTheFolder(t *testing.T) {
	dir := t.TempDir()
	a, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = LockDir(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("got %v, want ErrLocked", err)
	}
	if want := "data folder " + dir + " is in use by another process"; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Fatalf("error %q does not start with %q", err, want)
	}
}
