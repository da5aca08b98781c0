package table

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"

	"gigfs.io/gigfs/internal/atomicfile"
)

// KDF holds the argon2id parameters used to hash masters. The parameters
// are stored with each hash, so changing them affects new masters only.
type KDF struct {
	Time      uint32 // passes
	MemoryKiB uint32 // memory, in KiB
	Threads   uint8  // parallelism
}

// DefaultKDF is the OWASP recommendation for argon2id: 19 MiB, 2 passes,
// one thread (about 20-50 ms per hash on a current machine).
var DefaultKDF = KDF{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}

const (
	saltLen   = 16 // bytes of salt per master hash
	hashLen   = 32 // bytes of argon2id output
	keyLen    = 32 // bytes of the table key
	randLen   = 32 // random bytes in a session token
	secretLen = 32 // bytes of a (user, store) secret
)

// masterHash is a master as stored in user.json.
type masterHash struct {
	Alg       string `json:"alg"`
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"`
	Hash      []byte `json:"hash"`
}

const algArgon2id = "argon2id"

// hashMaster hashes a master with a new random salt.
func hashMaster(k KDF, master string) (masterHash, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return masterHash{}, fmt.Errorf("hash master: %w", err)
	}
	return masterHash{
		Alg:       algArgon2id,
		Time:      k.Time,
		MemoryKiB: k.MemoryKiB,
		Threads:   k.Threads,
		Salt:      salt,
		Hash:      argon2.IDKey([]byte(master), salt, k.Time, k.MemoryKiB, k.Threads, hashLen),
	}, nil
}

// matches reports, in constant time, whether master is the hashed one.
func (h masterHash) matches(master string) bool {
	got := argon2.IDKey([]byte(master), h.Salt, h.Time, h.MemoryKiB, h.Threads, uint32(len(h.Hash)))
	return subtle.ConstantTimeCompare(got, h.Hash) == 1
}

// check reports whether a stored hash is usable.
func (h masterHash) check() error {
	switch {
	case h.Alg != algArgon2id:
		return fmt.Errorf("master: unknown algorithm %q", h.Alg)
	case h.Time == 0 || h.Threads == 0 || h.MemoryKiB < 8*uint32(h.Threads):
		return errors.New("master: bad argon2id parameters")
	case len(h.Salt) < 8 || len(h.Hash) < 16:
		return errors.New("master: salt or hash too short")
	}
	return nil
}

// keys holds the table key and the keys derived from it.
type keys struct {
	store   []byte // HMAC key of store tokens: the table key itself (PROTOCOL.md)
	session []byte // HMAC key of session tokens, derived from the table key
}

func newKeys(tableKey []byte) keys {
	m := hmac.New(sha256.New, tableKey)
	m.Write([]byte("gigfs table: session tokens"))
	return keys{store: tableKey, session: m.Sum(nil)}
}

func mac(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join(parts, "\n")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func macEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// newSessionToken makes the token of a new session of user:
// <session_id>.<32 random bytes, base64url>.<mac>, mac an HMAC-SHA256 of
// the user, the id and the random part.
func (k keys) newSessionToken(user, id string) (string, error) {
	b := make([]byte, randLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new session token: %w", err)
	}
	r := base64.RawURLEncoding.EncodeToString(b)
	return id + "." + r + "." + mac(k.session, user, id, r), nil
}

// sessionOf returns the session id of a session token of user whose
// signature is right, or false.
func (k keys) sessionOf(user, token string) (string, bool) {
	id, r, sig, ok := split3(token)
	if !ok || validID("session", id) != nil {
		return "", false
	}
	return id, macEqual(sig, mac(k.session, user, id, r))
}

// storeToken is the token of a session for one store (PROTOCOL.md):
// <store_id>.<session_id>.<base64url HMAC-SHA256 of user\nstore_id\nsession_id>.
func (k keys) storeToken(user, storeID, sessionID string) string {
	return storeID + "." + sessionID + "." + mac(k.store, user, storeID, sessionID)
}

// parseStoreToken returns the store and session ids of a store token of
// user whose signature is right, or false.
func (k keys) parseStoreToken(user, token string) (storeID, sessionID string, ok bool) {
	storeID, sessionID, sig, ok := split3(token)
	if !ok || validID("store", storeID) != nil || validID("session", sessionID) != nil {
		return "", "", false
	}
	return storeID, sessionID, macEqual(sig, mac(k.store, user, storeID, sessionID))
}

func split3(s string) (a, b, c string, ok bool) {
	f := strings.Split(s, ".")
	if len(f) != 3 || f[0] == "" || f[1] == "" || f[2] == "" {
		return "", "", "", false
	}
	return f[0], f[1], f[2], true
}

// tokenHash is what sessions.json keeps of a session token.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// newID makes a session or store id.
func newID() string { return uuid.NewString() }

// newSecret makes the secret of a (user, store) pair: 32 random bytes, hex.
func newSecret() (string, error) {
	b := make([]byte, secretLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new store secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// loadKey reads the table key at name, making it on first start. A key
// file readable by group or others is refused.
func loadKey(name string) ([]byte, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, keyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("table key: %w", err)
		}
		if err := atomicfile.WriteFile(name, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("table key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("table key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("table key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("table key %s: mode %04o lets group or others read or write it; run chmod 600 %s", name, perm, name)
	}
	buf := make([]byte, 4*keyLen)
	n, _ := f.Read(buf)
	key, err := hex.DecodeString(strings.TrimSpace(string(buf[:n])))
	if err != nil || len(key) != keyLen {
		return nil, fmt.Errorf("table key %s: corrupt: want %d bytes in hex", name, keyLen)
	}
	return key, nil
}

// loadSalt returns the name of the salt folder kept in the file name,
// making a random one on first start.
func loadSalt(name string) (string, error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		r := make([]byte, 16)
		if _, err := rand.Read(r); err != nil {
			return "", fmt.Errorf("salt: %w", err)
		}
		salt := hex.EncodeToString(r)
		if err := atomicfile.WriteFile(name, []byte(salt+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("salt: %w", err)
		}
		return salt, nil
	}
	if err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	salt := strings.TrimSpace(string(b))
	if salt == "" || len(salt) > 64 || strings.Trim(salt, "0123456789abcdef") != "" {
		return "", fmt.Errorf("salt %s: corrupt: want a folder name in hex", name)
	}
	return salt, nil
}

// constEqual compares two secrets in constant time.
func constEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
