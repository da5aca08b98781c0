package netstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/atomicfile"
	"gigfs.io/gigfs/internal/filelock"
	"gigfs.io/gigfs/internal/latency"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

// Defaults for the zero values of Config.
const (
	DefaultTokenCacheTTL = 30 * time.Second
	DefaultStreamBuffer  = 8192
	DefaultCodeTTL       = 24 * time.Hour
	DefaultCheckTimeout  = 5 * time.Second
)

// Errors of the store service, each of a kind (package gig) that the 9P
// tree sends as the leading word of its error strings. A stream cursor the
// store cannot serve is gig.ErrNotExist: the events it names are gone, and
// the client re-reads the oplogs.
var (
	ErrUnknownUser  = gig.Errorf(gig.ErrNotExist, "unknown user")
	ErrNotConfirmed = gig.Errorf(gig.ErrPermission, "user has no confirmed table")
	ErrBadCode      = gig.Errorf(gig.ErrPermission, "bad or expired confirmation code")
	ErrBadSecret    = gig.Errorf(gig.ErrPermission, "bad table secret")
	ErrTokenRevoked = gig.Errorf(gig.ErrPermission, "token revoked")
	ErrTokenRefused = gig.Errorf(gig.ErrPermission, "token refused")
	ErrNoOplog      = gig.Errorf(gig.ErrNotExist, "no such oplog")
	ErrWrongStore   = gig.Errorf(gig.ErrPermission, "token for another store")
	ErrBadToken     = gig.Errorf(gig.ErrPermission, "not a store token (want <store_id>.<session_id>.<mac>)")
	ErrUnavailable  = gig.Errorf(gig.ErrUnavailable, "cannot check token: table unreachable")
	ErrStreamEpoch  = gig.Errorf(gig.ErrNotExist, "stream epoch changed (store restarted or restored): re-read the oplogs")
	ErrStreamTooOld = gig.Errorf(gig.ErrNotExist, "stream cursor too old: re-read the oplogs")
	ErrStreamCursor = gig.Errorf(gig.ErrInvalid, "bad stream cursor")
	ErrUserExists   = gig.Errorf(gig.ErrExist, "user exists")
	// ErrInUse: another process holds the data folder's lock (and, for a
	// local store shared by a user's processes, serves it to the others).
	ErrInUse = filelock.ErrLocked
)

// A TokenChecker asks a table whether a store token is live. The table
// client (package table) implements it; cmd/gig-store plugs it in.
type TokenChecker interface {
	// Check asks the table at tableAddr, presenting this store's id and the
	// secret shared with the table for user, whether token is live for
	// user, and until when it holds if unused. tableFingerprint, if not
	// empty, pins the table's TLS certificate (srv9p.Trust).
	Check(ctx context.Context, tableAddr, tableFingerprint, storeID, secret, user, token string) (until time.Time, err error)
}

// Config configures a Service.
type Config struct {
	// Dir is the data folder ($GIGFS_DATA): user data lives under
	// Dir/<salt>/<user>/ (the salt is made on first start and kept in
	// Dir/salt).
	Dir string
	// Checker checks store tokens with the table; nil refuses every token.
	Checker TokenChecker
	// TokenCacheTTL bounds how long a good token check is trusted without
	// asking the table again. Zero means DefaultTokenCacheTTL.
	TokenCacheTTL time.Duration
	// StreamBuffer is how many recent events per user the stream keeps for
	// readers that resume. Zero means DefaultStreamBuffer.
	StreamBuffer int
	// StreamWants bounds the oplogs, channels and origins one filtered
	// stream reader may name (want, skip); past it the reader gets every
	// event (logged). Zero means DefaultStreamWants.
	StreamWants int
	// CheckTimeout bounds a token check with the table. Zero means
	// DefaultCheckTimeout.
	CheckTimeout time.Duration
	// CodeTTL is how long a confirmation code is valid. Zero means
	// DefaultCodeTTL.
	CodeTTL time.Duration
	// Authenticator, if set, checks store tokens in place of the user's
	// table: a local store shared by the processes of its user over a unix
	// socket accepts the key of its key file.
	Authenticator func(ctx context.Context, user, token string) error
	// KeepStream keeps each user's recent stream in a file of its folder,
	// so that the next process to open the store goes on with it: same
	// epoch, same seqs (streamfile.go). For a local store that the
	// processes of its user serve in turn; a gig-store starts a new epoch
	// on every start.
	KeepStream bool
	// DateHorizon is how far in the future an op may be dated: later ops
	// are refused (a client clock far ahead, or a hostile date, would
	// otherwise date every later op of the path after it). Zero means
	// oplog.DefaultHorizon; negative, no bound.
	DateHorizon time.Duration
	// FlushInterval is how often the oplogs' files are brought up to date
	// from the write-ahead log (which acknowledges pushes), which is then
	// emptied. Zero means DefaultFlushInterval; negative, only when the
	// log passes WALMaxBytes and at Close.
	FlushInterval time.Duration
	// WALMaxBytes is the size of the write-ahead log past which a flush
	// starts at once. Zero means DefaultWALMaxBytes.
	WALMaxBytes int64
	// WALPrealloc is the most bytes a segment of the write-ahead log is
	// preallocated with (written with zeros and fsynced ahead of need, so
	// that a push's fdatasync commits no metadata: oplog.Journal's
	// Preallocate). Zero means DefaultWALPrealloc; negative, none.
	WALPrealloc int64
	// WALMaxRecord is the largest record the write-ahead log takes: the
	// accepted ops of one push to one oplog. An oplog's ops over it are
	// refused (limit) and not merged; the push's other oplogs go on. Zero
	// means oplog.MaxJournalRecord (64 MiB), also the most it can be.
	WALMaxRecord int
	// FlushWorkers is how many oplogs' files a flush writes and fsyncs at
	// once. Zero means DefaultFlushWorkers.
	FlushWorkers int
	// MemBudget is how many bytes of oplogs the store keeps in memory, by
	// its estimate (oplog.Log.MemSize): past it, the least recently used
	// oplogs that no request holds and whose records are all in their
	// files are dropped from memory, and loaded again on demand. Oplogs in
	// use, or with records only in the write-ahead log, stay; while they
	// keep the store over the budget, pushes wait for the next flush. Zero
	// means DefaultMemBudget; negative, no budget.
	MemBudget int64
	// MemLimit is the process's soft memory limit (SetMemoryLimit sets
	// it): when the live heap comes near it, the store keeps fewer oplogs
	// in memory than MemBudget, so that the limit is not reached
	// (memory.go). Zero: the store does not watch the heap.
	MemLimit int64
	// CallLog is how many calls per user the user's calls file shows
	// (calls.go); the file on disk holds at most twice that. Zero means
	// DefaultCallLog.
	CallLog int
	// CallFlush is how long a call's line may wait in memory before the
	// background writer writes it with the lines queued meanwhile (one
	// write per user), unless a chunk's worth waits first. Zero means
	// DefaultCallFlush; negative, the writer starts at once.
	CallFlush time.Duration
	// AllowUnixTable lets confirm name a table on a unix socket
	// (unix!/path); otherwise the store dials only TCP and TLS addresses
	// of one machine (srv9p.CheckPeerAddr) to check tokens.
	AllowUnixTable bool
	// Now replaces time.Now (for tests).
	Now func() time.Time
	// Logf logs one line per error; nil means log.Printf.
	Logf func(format string, args ...any)
}

// A Service is a store: per user, oplogs by (type, path) on disk, the stream
// of accepted ops, and the table the user confirmed. It never reduces values.
// It is safe for concurrent use.
type Service struct {
	cfg     Config
	root    string // Dir/<salt>
	epoch   string // names this run of the store in stream cursors
	verBase uint32 // added to oplog versions in qids, so they differ across runs

	lock   *os.File // holds the data folder's lock
	wal    *storeWAL
	fsync  latency.Recorder // the write-ahead log's fsyncs
	cache  *oplogCache
	mu     sync.Mutex
	users  map[string]*user
	tokens tokenCache
	calls  callLogs
	closed bool

	futureLogged atomic.Int64 // unix ms of the last log line of a refused future date
}

// meta is what the store keeps about a user, in store.json.
type meta struct {
	TableAddr   string `json:"table_addr,omitempty"`
	TableFP     string `json:"table_fingerprint,omitempty"` // of its TLS certificate, pinned
	StoreID     string `json:"store_id,omitempty"`
	Secret      string `json:"secret,omitempty"`
	CodeHash    string `json:"code_hash,omitempty"`
	CodeExpires int64  `json:"code_expires,omitempty"` // unix ms
}

type logKey struct{ typ, path string }

type user struct {
	id   string
	dir  string
	hub  *hub
	logf func(format string, args ...any)

	cache    *oplogCache
	createMu sync.Mutex // one oplog creation at a time (user.open)

	mu   sync.Mutex
	meta meta
}

// Open opens the store whose data is in cfg.Dir, creating it if needed.
func Open(cfg Config) (*Service, error) {
	if cfg.Dir == "" {
		return nil, errors.New("open store: no data folder")
	}
	if cfg.TokenCacheTTL == 0 {
		cfg.TokenCacheTTL = DefaultTokenCacheTTL
	}
	if cfg.StreamBuffer <= 0 {
		cfg.StreamBuffer = DefaultStreamBuffer
	}
	if cfg.StreamWants <= 0 {
		cfg.StreamWants = DefaultStreamWants
	}
	if cfg.CheckTimeout == 0 {
		cfg.CheckTimeout = DefaultCheckTimeout
	}
	if cfg.CodeTTL == 0 {
		cfg.CodeTTL = DefaultCodeTTL
	}
	if cfg.DateHorizon == 0 {
		cfg.DateHorizon = oplog.DefaultHorizon
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CallLog <= 0 {
		cfg.CallLog = DefaultCallLog
	}
	if cfg.CallFlush == 0 {
		cfg.CallFlush = DefaultCallFlush
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.WALMaxBytes <= 0 {
		cfg.WALMaxBytes = DefaultWALMaxBytes
	}
	if cfg.WALPrealloc == 0 {
		cfg.WALPrealloc = DefaultWALPrealloc
	}
	if cfg.FlushWorkers <= 0 {
		cfg.FlushWorkers = DefaultFlushWorkers
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	if cfg.MemBudget == 0 {
		cfg.MemBudget = DefaultMemBudget
	}
	// The lock comes first: two processes opening a new folder at once
	// must not both make a salt (one of them would write where the other
	// never reads).
	if err := atomicfile.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	lock, err := filelock.LockDir(cfg.Dir) // two processes never append to the same oplogs
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	root, err := saltDir(cfg.Dir)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Service{cfg: cfg, root: root, epoch: randomHex(8), users: make(map[string]*user), lock: lock}
	s.cache = newCache(cfg.MemBudget, cfg.MemLimit, cfg.Logf)
	var vb [4]byte
	rand.Read(vb[:])
	s.verBase = uint32(vb[0])<<24 | uint32(vb[1])<<16 | uint32(vb[2])<<8 | uint32(vb[3])
	s.tokens.init()
	ents, err := os.ReadDir(root)
	if err == nil {
		err = atomicfile.RemoveTemps(root)
	}
	for _, e := range ents {
		if err != nil {
			break
		}
		if !e.IsDir() || !isUser(e.Name()) {
			continue
		}
		if _, serr := os.Stat(filepath.Join(root, e.Name(), "store.json")); errors.Is(serr, fs.ErrNotExist) {
			// A crash while the user was being added: the admin adds it again.
			cfg.Logf("store: %s: folder without store.json, ignored (user add again)", e.Name())
			continue
		}
		var u *user
		if u, err = s.loadUser(e.Name()); err == nil {
			s.users[u.id] = u
		}
	}
	if err == nil {
		err = s.openWAL()
	}
	if err != nil {
		s.closeLogs()
		lock.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

// saltDir returns Dir/<salt>, making the salt on first start.
func saltDir(dir string) (string, error) {
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	saltFile := filepath.Join(dir, "salt")
	b, err := os.ReadFile(saltFile)
	if errors.Is(err, os.ErrNotExist) {
		b = []byte(randomHex(16) + "\n")
		if err := atomicfile.WriteFile(saltFile, b, 0o600); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	salt := strings.TrimSpace(string(b))
	if salt == "" || strings.ContainsAny(salt, "/.\x00") {
		return "", fmt.Errorf("bad salt in %s", saltFile)
	}
	root := filepath.Join(dir, salt)
	return root, atomicfile.MkdirAll(root, 0o700)
}

func (s *Service) loadUser(id string) (*user, error) {
	dir := filepath.Join(s.root, id)
	u := &user{id: id, dir: dir, cache: s.cache, logf: s.cfg.Logf}
	b, err := os.ReadFile(filepath.Join(dir, "store.json"))
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", id, err)
	}
	if u.hub, err = s.newHub(dir); err != nil {
		return nil, fmt.Errorf("user %s: %w", id, err)
	}
	if err := json.Unmarshal(b, &u.meta); err != nil {
		return nil, fmt.Errorf("user %s: corrupt %s: %v", id, filepath.Join(dir, "store.json"), err)
	}
	return u, nil
}

func (u *user) saveMeta() error {
	b, err := json.MarshalIndent(&u.meta, "", "\t")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(u.dir, "store.json"), append(b, '\n'), 0o600)
}

func (s *Service) user(id string) (*user, error) {
	if _, err := gig.ParseUser(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownUser, id)
	}
	return u, nil
}

// Epoch names this run of the store; stream cursors of another epoch are
// refused.
func (s *Service) Epoch() string { return s.epoch }

// Users lists the users of the store.
func (s *Service) Users() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.users))
}

// AddUser adds a user and returns a one-time confirmation code for the
// user's table. Adding a user that exists is an error; NewCode makes a new
// code for an existing user.
func (s *Service) AddUser(id string) (string, error) {
	if _, err := gig.ParseUser(id); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; ok {
		return "", fmt.Errorf("%w: %s", ErrUserExists, id)
	}
	// A folder left by a crash before store.json was written is reused.
	dir := filepath.Join(s.root, id)
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("add user %s: %w", id, err)
	}
	hub, err := s.newHub(dir)
	if err != nil {
		return "", fmt.Errorf("add user %s: %w", id, err)
	}
	u := &user{id: id, dir: dir, hub: hub, cache: s.cache, logf: s.cfg.Logf}
	code, err := s.newCode(u)
	if err != nil {
		hub.close()
		return "", fmt.Errorf("add user %s: %w", id, err)
	}
	s.users[id] = u
	return code, nil
}

// NewCode makes a new one-time confirmation code for a user, replacing any
// previous one.
func (s *Service) NewCode(id string) (string, error) {
	u, err := s.user(id)
	if err != nil {
		return "", err
	}
	return s.newCode(u)
}

func (s *Service) newCode(u *user) (string, error) {
	code := randomHex(12)
	u.mu.Lock()
	defer u.mu.Unlock()
	old := u.meta
	u.meta.CodeHash = hashCode(code)
	u.meta.CodeExpires = s.cfg.Now().Add(s.cfg.CodeTTL).UnixMilli()
	if err := u.saveMeta(); err != nil {
		u.meta = old
		return "", err
	}
	return code, nil
}

func hashCode(code string) string {
	h := sha256.Sum256([]byte("gigfs-confirm\n" + code))
	return hex.EncodeToString(h[:])
}

// CheckCode verifies a confirmation code for a user.
func (s *Service) CheckCode(id, code string) error {
	u, err := s.user(id)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return s.checkCodeLocked(u, code)
}

func (s *Service) checkCodeLocked(u *user, code string) error {
	if u.meta.CodeHash == "" || s.cfg.Now().UnixMilli() > u.meta.CodeExpires ||
		subtle.ConstantTimeCompare([]byte(hashCode(code)), []byte(u.meta.CodeHash)) != 1 {
		return ErrBadCode
	}
	return nil
}

// Confirm makes the store trust the table at tableAddr for a user, which
// knows this store as storeID and shares secret with it. The code is used
// up. Confirming again (with a new code) replaces the table.
func (s *Service) Confirm(id, code, tableAddr, storeID, secret string) error {
	return s.ConfirmPinned(id, code, tableAddr, "", storeID, secret)
}

// ConfirmPinned is Confirm for a table whose TLS certificate has the
// fingerprint tableFingerprint ("" for none): the store pins it when it
// checks tokens with the table.
func (s *Service) ConfirmPinned(id, code, tableAddr, tableFingerprint, storeID, secret string) error {
	if tableFingerprint != "" {
		fp, err := srv9p.ParseFingerprint(tableFingerprint)
		if err != nil {
			return err
		}
		tableFingerprint = fp
	}
	if tableAddr == "" || storeID == "" || len(secret) < 32 {
		return errors.New("usage: confirm <table_addr> <store_id> <secret of at least 32 characters>")
	}
	if strings.ContainsAny(storeID, ". \t\n") {
		return fmt.Errorf("bad store id %q", storeID)
	}
	if err := srv9p.CheckPeerAddr(tableAddr, s.cfg.AllowUnixTable); err != nil {
		return fmt.Errorf("confirm: the table's address: %w", err)
	}
	u, err := s.user(id)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := s.checkCodeLocked(u, code); err != nil {
		return err
	}
	old := u.meta
	u.meta = meta{TableAddr: tableAddr, TableFP: tableFingerprint, StoreID: storeID, Secret: secret}
	if err := u.saveMeta(); err != nil {
		u.meta = old
		return fmt.Errorf("confirm %s: %w", id, err)
	}
	s.tokens.dropUser(id)
	return nil
}

// CheckSecret verifies the secret a table presents for a user.
func (s *Service) CheckSecret(id, secret string) error {
	u, err := s.user(id)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.meta.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(u.meta.Secret)) != 1 {
		return ErrBadSecret
	}
	return nil
}

// Authenticate checks a store token for a user: from the cache when a check
// is recent enough, else with the user's table.
func (s *Service) Authenticate(ctx context.Context, id, token string) error {
	u, err := s.user(id)
	if err != nil {
		return err
	}
	if s.cfg.Authenticator != nil {
		return s.cfg.Authenticator(ctx, id, token)
	}
	u.mu.Lock()
	m := u.meta
	u.mu.Unlock()
	if m.TableAddr == "" {
		return fmt.Errorf("%w: %s", ErrNotConfirmed, id)
	}
	if !wellFormedToken(token) {
		return ErrBadToken
	}
	if storeID, _, _ := strings.Cut(token, "."); storeID != m.StoreID {
		return ErrWrongStore
	}
	now := s.cfg.Now()
	if err := s.tokens.lookup(id, token, now); err == nil || errors.Is(err, ErrTokenRevoked) {
		return err
	}
	if s.cfg.Checker == nil {
		return ErrTokenRefused
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
	defer cancel()
	until, err := s.cfg.Checker.Check(ctx, m.TableAddr, m.TableFP, m.StoreID, m.Secret, id, token)
	if err != nil {
		if errors.Is(err, gig.ErrPermission) {
			return fmt.Errorf("%w: %v", ErrTokenRefused, err)
		}
		// The table did not answer, or not with a refusal: the token may
		// well be good, so the client keeps it and tries again later.
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s.tokens.put(id, token, until, s.cfg.Now(), s.cfg.TokenCacheTTL)
	return nil
}

// Revoke makes the store refuse a token at once, whatever its cache says.
func (s *Service) Revoke(id, token string) error {
	if _, err := s.user(id); err != nil {
		return err
	}
	s.tokens.revoke(id, token, s.cfg.Now())
	return nil
}

// Close closes every oplog file.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	var first error
	if err := s.wal.close(); err != nil {
		first = err
	}
	if err := s.closeLogs(); err != nil && first == nil {
		first = err
	}
	s.closeCalls()
	if err := s.lock.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// closeLogs closes every open oplog.
func (s *Service) closeLogs() error {
	first := s.cache.closeAll()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		u.hub.close()
	}
	return first
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// isUser reports whether name is a user id.
func isUser(name string) bool {
	_, err := gig.ParseUser(name)
	return err == nil
}

// wellFormedToken reports whether token has the shape of a store token,
// <store_id>.<session_id>.<mac>, three non-empty fields of printable
// ASCII without spaces: anything else is garbage, not "another store's".
func wellFormedToken(token string) bool {
	f := strings.Split(token, ".")
	if len(f) != 3 || len(token) > 512 {
		return false
	}
	for _, p := range f {
		if p == "" {
			return false
		}
	}
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] >= 0x7f {
			return false
		}
	}
	return true
}
