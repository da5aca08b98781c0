package adminkey_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gigfs.io/gigfs/internal/adminkey"
)

func TestLoad_CreatesOnceAndKeeps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	key, err := adminkey.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 64 {
		t.Errorf("new key %q: got %d characters, want 64", key, len(key))
	}
	fi, err := os.Stat(adminkey.Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("key file mode: got %04o, want %04o", got, want)
	}
	again, err := adminkey.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again != key {
		t.Errorf("second Load: got %q, want the first key %q", again, key)
	}
	other, err := adminkey.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if other == key {
		t.Error("two data folders got the same key")
	}
}

func TestLoad_ExistingKey(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(adminkey.Path(dir), []byte("  s3cret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := adminkey.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if key != "s3cret-key" {
		t.Errorf("got %q, want %q", key, "s3cret-key")
	}
}

func TestLoad_Refuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"group readable", "k", 0o640, "mode 0640"},
		{"world readable", "k", 0o604, "mode 0604"},
		{"group writable", "k", 0o620, "mode 0620"},
		{"empty", "\n", 0o600, "empty"},
		{"two words", "a b\n", 0o600, "not one word"},
		{"too long", strings.Repeat("k", 2000), 0o600, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := adminkey.Path(dir)
			if err := os.WriteFile(name, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(name, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := adminkey.Load(dir)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), name) {
				t.Errorf("got %q, want it to name %s and say %q", err, name, tc.want)
			}
		})
	}
}

func TestLoad_NotAFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(adminkey.Path(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := adminkey.Load(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("got %v, want a not-a-regular-file error", err)
	}
}
