// Package adminkey keeps the admin key of a GiG.fs server (the table or a
// store): the credential of the `admin <key>` attach that opens /admin.
//
// The key lives in <dataDir>/admin.key, one line of hex. It is made on the
// first start, from crypto/rand, and written atomically with mode 0600. A
// key file that group or others may read is refused: whoever reads it
// administers the server.
package adminkey

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"gigfs.io/gigfs/internal/atomicfile"
)

// FileName is the name of the key file inside the data folder.
const FileName = "admin.key"

// keyBytes is how many random bytes a new key has (it is written in hex).
const keyBytes = 32

// maxKeyLen bounds the key read from a file, so that a wrong file given as
// the data folder's admin.key is not read whole.
const maxKeyLen = 1024

// Path returns the path of the admin key file of dataDir.
func Path(dataDir string) string { return filepath.Join(dataDir, FileName) }

// Load returns the admin key kept in dataDir, making dataDir and the key
// on first use. It fails if the key file is readable or writable by group
// or others, is empty, or holds more than one word.
func Load(dataDir string) (string, error) {
	name := Path(dataDir)
	key, err := read(name)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := atomicfile.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("admin key: %w", err)
	}
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("admin key: %w", err)
	}
	key = hex.EncodeToString(b)
	if err := atomicfile.WriteFile(name, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("admin key: %w", err)
	}
	return key, nil
}

// read reads and checks an existing key file. A missing file gives an
// error satisfying errors.Is(err, fs.ErrNotExist).
func read(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("admin key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("admin key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("admin key %s: not a regular file", name)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("admin key %s: mode %04o lets group or others read or write it; run chmod 600 %s", name, perm, name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyLen+1))
	if err != nil {
		return "", fmt.Errorf("admin key %s: %w", name, err)
	}
	if len(b) > maxKeyLen {
		return "", fmt.Errorf("admin key %s: longer than %d bytes", name, maxKeyLen)
	}
	key := strings.TrimSpace(string(b))
	switch {
	case key == "":
		return "", fmt.Errorf("admin key %s: empty", name)
	case strings.IndexFunc(key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "", fmt.Errorf("admin key %s: not one word", name)
	}
	return key, nil
}
