package netstore

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// Two processes must never append to the same oplogs: the data folder is
// locked while a Service has it open.
func TestOpen_LocksDataFolder(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: dir}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v", err)
	}
	a.Close()
	b, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	b.Close()
}

func TestOpen_CorruptUserFile(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Config{Dir: dir})
	s.AddUser("lee")
	s.Close()
	u := s.users["lee"]
	if err := writeTestFile(u.dir+"/store.json", "{not json"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "store.json") {
		t.Fatalf("open with a corrupt store.json: %v", err)
	}
}

func writeTestFile(name, data string) error { return os.WriteFile(name, []byte(data), 0o600) }
