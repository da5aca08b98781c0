package netstore

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"gigfs.io/gigfs/oplog"
)

// Every file a store writes is its own: mode 0600 (oplogs were 0644).
func TestStore_FileModes(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUser("ann"); err != nil {
		t.Fatal(err)
	}
	o, err := oplog.NewOp(1, "o", 1, []byte(`1`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Push(context.Background(), "ann", []Record{{Type: "counter", Path: "/c/a", Op: o}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // flushes the write-ahead log to the oplog's file
		t.Fatal(err)
	}
	oplogs := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
		}
		if filepath.Base(filepath.Dir(p)) == "c" {
			oplogs++
		}
		return nil
	})
	if oplogs != 1 {
		t.Errorf("%d oplog files under %s, want 1", oplogs, dir)
	}
}
