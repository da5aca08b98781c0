package table

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/atomicfile"
	"gigfs.io/gigfs/internal/filelock"
)

// Stores is how the table talks to stores (PROTOCOL.md). NinePStores is
// the implementation over 9P; cmd/gig-table may plug in another, and tests
// a fake.
type Stores interface {
	// Confirm makes the store at c.StoreAddr trust this table for c.User:
	// it attaches as the user with `confirm <code>` and writes
	// `confirm <table_addr> <store_id> <secret> [<table_fingerprint>]` to
	// /user/<user>/ctl. A nil error means the store answered ok and the
	// code is used up; fingerprint is that of the store's TLS certificate
	// ("" without TLS), which the table pins from then on.
	Confirm(ctx context.Context, c Confirmation) (fingerprint string, err error)
	// Revoke tells the store at storeAddr, whose certificate has the
	// fingerprint ("" without TLS), that tokens of user are revoked: it
	// attaches as user with `table <secret>` and writes `revoke <token>`
	// to /user/<user>/ctl for each token.
	Revoke(ctx context.Context, storeAddr, fingerprint, user, secret string, tokens []string) error
}

// A Confirmation is what the table tells a store being added.
type Confirmation struct {
	StoreAddr string // the store's dial string
	// StoreFingerprint, if set, is the certificate the user expects the
	// store to show (srv9p.Trust.Fingerprint); empty, the table takes the
	// one it shows (the code vouches for it: trust on first use).
	StoreFingerprint string
	User             string // the user it is added for
	Code             string // the store's one-time code, from its admin
	// TableAddr and TableFingerprint are where the store reaches this
	// table to check tokens, and its certificate ("" without TLS).
	TableAddr, TableFingerprint string
	StoreID, Secret             string // what the table calls the store, and their shared secret
}

// Defaults for the zero values of Config's fields.
const (
	DefaultMaxTimeout   = 365 * 24 * time.Hour // longest session timeout
	DefaultStoreTimeout = 10 * time.Second
	DefaultRevokeWait   = 2 * time.Second
	DefaultTombstoneAge = 7 * 24 * time.Hour
)

// Config configures a Service. Only DataDir is required.
type Config struct {
	// DataDir is the data folder ($GIGFS_DATA); see the package doc.
	DataDir string
	// TableAddr is the dial string of this table that stores are given in
	// confirm, to check tokens with later.
	TableAddr string
	// TableFingerprint is the fingerprint of this table's TLS certificate
	// (srv9p.Fingerprint), given to stores in confirm so that they pin it
	// when they dial TableAddr; empty if the table does not serve TLS.
	TableFingerprint string
	// AllowUnixStores lets store add take unix socket addresses
	// (unix!/path); otherwise the table dials only TCP and TLS addresses
	// of one machine (srv9p.CheckPeerAddr).
	AllowUnixStores bool
	// AdminKey is the credential of the `admin <key>` attach; empty
	// refuses every admin attach.
	AdminKey string
	// Stores reaches the stores; nil means NinePStores{}.
	Stores Stores
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf logs one line per error the table meets; nil means log.Printf.
	Logf func(format string, args ...any)
	// KDF hashes masters; the zero value means DefaultKDF.
	KDF KDF
	// MaxTimeout bounds session timeouts; zero means DefaultMaxTimeout.
	MaxTimeout time.Duration
	// StoreTimeout bounds each call to Stores; zero means
	// DefaultStoreTimeout. A store add whose confirmation fails in a way
	// the user is not told (see Service.AddStore) is answered only once
	// StoreTimeout has passed since it began, so that how long the answer
	// takes does not tell a closed port from a silent one either.
	StoreTimeout time.Duration
	// Wait waits until the clock (Now) reads until, or ctx ends; nil means
	// a timer of until less Now. Tests that set Now set it too.
	Wait func(ctx context.Context, until time.Time)
	// RevokeWait is how long a revocation waits for the stores to be told
	// before it answers; those not told by then are told in the
	// background (each within StoreTimeout) and named in the answer as a
	// warning. Zero means DefaultRevokeWait.
	RevokeWait time.Duration
	// TombstoneAge is how long revoked and expired sessions are
	// remembered; zero means DefaultTombstoneAge.
	TombstoneAge time.Duration
}

// A Service is the table: users, masters, sessions, store tokens and
// mount tables, kept under Config.DataDir. Its methods are safe for
// concurrent use. Operations of a user take the Principal that
// Authenticate returned.
type Service struct {
	cfg    Config
	dir    string // the salt folder
	keys   keys
	hashes chan struct{} // bounds concurrent argon2id hashes
	dummy  masterHash    // hashed for unknown users, so they take as long
	closed atomic.Bool

	// bg is cancelled by Close; revocations still running in the
	// background (a store slow to answer) use it, counted in bgWG.
	bg       context.Context
	bgCancel context.CancelFunc
	bgMu     sync.Mutex // guards bgWG.Go against Close's Wait
	bgDone   bool       // Close has begun waiting
	bgWG     sync.WaitGroup
	lock     *os.File // holds the data folder's lock until Close

	mu    sync.RWMutex
	users map[string]*user

	stats tableStats // status.go
}

// A user is the state of one user. Its fields are guarded by mu, but id
// and dir, which never change.
type user struct {
	id, dir string
	addMu   sync.Mutex // serialises store adds, whose confirm runs outside mu

	mu       sync.Mutex
	gone     bool   // removed: principals of it are void
	gen      uint64 // moves with each change of master
	rec      userRecord
	sessions map[string]*session
	tab      tableRecord
	tabWake  chan struct{} // closed when tab's version moves (wait.go); nil until waited on
}

// A session is one session of a user.
type session struct {
	rec   sessionRecord // rec.Expires is current; it may be ahead of the file
	saved int64         // rec.Expires as last written
}

// Open opens the table kept in cfg.DataDir, making it on first start.
// It fails, naming the file, if a file of it is corrupt.
func Open(cfg Config) (*Service, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("table: no data folder")
	}
	if cfg.Stores == nil {
		cfg.Stores = NinePStores{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	if cfg.KDF == (KDF{}) {
		cfg.KDF = DefaultKDF
	}
	if cfg.KDF.Time == 0 || cfg.KDF.Threads == 0 || cfg.KDF.MemoryKiB < 8*uint32(cfg.KDF.Threads) {
		return nil, fmt.Errorf("table: bad argon2id parameters %+v", cfg.KDF)
	}
	cfg.MaxTimeout = orDefault(cfg.MaxTimeout, DefaultMaxTimeout)
	cfg.StoreTimeout = orDefault(cfg.StoreTimeout, DefaultStoreTimeout)
	cfg.RevokeWait = orDefault(cfg.RevokeWait, DefaultRevokeWait)
	cfg.TombstoneAge = orDefault(cfg.TombstoneAge, DefaultTombstoneAge)

	if err := atomicfile.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	// Two tables on one folder would each acknowledge what the other
	// overwrites.
	lock, err := filelock.LockDir(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	s, err := open(cfg)
	if err != nil {
		lock.Close()
		return nil, err
	}
	s.lock = lock
	s.stats.start.Store(time.Now().UnixMilli())
	return s, nil
}

// open is Open once the data folder is locked.
func open(cfg Config) (*Service, error) {
	salt, err := loadSalt(filepath.Join(cfg.DataDir, "salt"))
	if err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	s := &Service{
		cfg:    cfg,
		dir:    filepath.Join(cfg.DataDir, salt),
		hashes: make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
		users:  map[string]*user{},
	}
	s.bg, s.bgCancel = context.WithCancel(context.Background())
	if err := atomicfile.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	if err := atomicfile.RemoveTemps(s.dir); err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	key, err := loadKey(filepath.Join(s.dir, "table.key"))
	if err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	s.keys = newKeys(key)
	if s.dummy, err = hashMaster(cfg.KDF, "no such user"); err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	if err := s.loadUsers(); err != nil {
		return nil, err
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// removedPrefix marks the folder of a user being removed.
const removedPrefix = ".removed-"

// loadUsers reads every user folder.
func (s *Service) loadUsers() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("table: %w", err)
	}
	now := s.cfg.Now()
	for _, e := range ents {
		name := e.Name()
		dir := filepath.Join(s.dir, name)
		switch {
		case !e.IsDir():
			continue
		case strings.HasPrefix(name, removedPrefix):
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("table: finish removing %s: %w", dir, err)
			}
			continue
		case !validUser(name):
			s.logf("table: %s: not a user folder; ignored", dir)
			continue
		}
		u, ok, err := loadUser(dir, name, now)
		if err != nil {
			return err
		}
		if !ok {
			if err := os.Remove(dir); err != nil {
				return fmt.Errorf("table: remove unfinished user %s: %w", dir, err)
			}
			continue
		}
		s.users[name] = u
	}
	return nil
}

// Close writes what is not yet on disk (sliding expiries) and closes the
// service: later calls fail with ErrClosed.
func (s *Service) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.bgCancel()
	s.bgMu.Lock()
	s.bgDone = true
	s.bgMu.Unlock()
	s.bgWG.Wait()
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.cfg.Now()
	var errs []error
	for _, u := range s.users {
		u.mu.Lock()
		dirty := false
		for _, ss := range u.sessions {
			dirty = dirty || ss.rec.Expires != ss.saved
		}
		if dirty && !u.gone {
			errs = append(errs, u.saveSessions(now, s.cfg.TombstoneAge))
		}
		u.mu.Unlock()
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

func (s *Service) logf(format string, args ...any) { s.cfg.Logf(format, args...) }

// user returns the user id, or nil.
func (s *Service) user(id string) *user {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.users[id]
}

// Kind is the kind of credential an attach presented.
type Kind int

// The kinds of credential (PROTOCOL.md).
const (
	KindMaster  Kind = iota + 1 // `master <password>`: the user, all rights
	KindSession                 // `session <token>`: the user's clients
	KindStore                   // `store <store_id> <secret>`: a store checking tokens
	KindAdmin                   // `admin <key>`: the table's admin
)

// String returns the credential kind as the aname spells it.
func (k Kind) String() string {
	switch k {
	case KindMaster:
		return "master"
	case KindSession:
		return "session"
	case KindStore:
		return "store"
	case KindAdmin:
		return "admin"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// A Principal is what an attach proved: a user and a credential. Only
// Authenticate makes them. The service checks at each use that it still
// holds (the session live, the master unchanged, the store still trusted).
type Principal struct {
	kind   Kind
	user   string
	u      *user
	gen    uint64 // KindMaster: u.gen at attach
	id     string // KindSession: the session id; KindStore: the store id
	secret string // KindStore: the store's secret
}

// Kind returns the kind of credential of p.
func (p *Principal) Kind() Kind { return p.kind }

// User returns the user id of p ("admin" for KindAdmin).
func (p *Principal) User() string { return p.user }

// Authenticate checks the credential aname (PROTOCOL.md) of an attach as
// uname from remoteAddr. It does not slow failed attaches down: the 9P
// server does, per source address (srv9p.Server.AttachDelay), so that
// guesses at a user's master from one address never delay the user at
// another. A session attach counts as a use of the session.
func (s *Service) Authenticate(ctx context.Context, uname, aname, remoteAddr string) (*Principal, error) {
	return s.authenticate(ctx, uname, aname)
}

var errBadCredential = denied("bad credential")

func (s *Service) authenticate(ctx context.Context, uname, aname string) (*Principal, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	kind, cred, _ := strings.Cut(aname, " ")
	cred = strings.TrimLeft(cred, " ")
	if kind == "admin" {
		if uname != "admin" || s.cfg.AdminKey == "" || !constEqual(cred, s.cfg.AdminKey) {
			return nil, denied("bad admin key")
		}
		return &Principal{kind: KindAdmin, user: "admin"}, nil
	}
	if kind != "master" && kind != "session" && kind != "store" {
		return nil, denied("unknown credential %q: want master, session, store or admin", gig.Clip(kind))
	}
	if !validUser(uname) {
		return nil, errBadCredential
	}
	u := s.user(uname)
	switch kind {
	case "master":
		return s.authMaster(ctx, u, cred)
	case "session":
		return s.authSession(u, uname, cred)
	}
	return s.authStore(u, cred)
}

func (s *Service) authMaster(ctx context.Context, u *user, master string) (*Principal, error) {
	if u == nil {
		s.verify(ctx, s.dummy, master) // as long as for a user that exists
		return nil, errBadCredential
	}
	u.mu.Lock()
	h, gen, gone := u.rec.Master, u.gen, u.gone
	u.mu.Unlock()
	ok, err := s.verify(ctx, h, master)
	if err != nil {
		return nil, err
	}
	if !ok || gone {
		return nil, errBadCredential
	}
	return &Principal{kind: KindMaster, user: u.id, u: u, gen: gen}, nil
}

// verify checks a master against its hash, running at most GOMAXPROCS
// hashes at once.
func (s *Service) verify(ctx context.Context, h masterHash, master string) (bool, error) {
	select {
	case s.hashes <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.hashes }()
	return h.matches(master), nil
}

func (s *Service) authSession(u *user, uname, token string) (*Principal, error) {
	id, ok := s.keys.sessionOf(uname, token)
	if !ok || u == nil {
		return nil, errBadCredential
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	ss := u.sessions[id]
	if u.gone || ss == nil || !constEqual(ss.rec.Hash, tokenHash(token)) {
		return nil, errBadCredential
	}
	now := s.cfg.Now()
	if err := ss.state(now); err != nil {
		return nil, denied("%v", err)
	}
	if err := s.slide(u, ss, now); err != nil {
		return nil, err
	}
	return &Principal{kind: KindSession, user: u.id, u: u, id: id}, nil
}

func (s *Service) authStore(u *user, cred string) (*Principal, error) {
	f := strings.Fields(cred)
	if len(f) != 2 || u == nil {
		return nil, errBadCredential
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	st := u.tab.Stores[f[0]]
	if u.gone || st == nil || !constEqual(st.Secret, f[1]) {
		return nil, errBadCredential
	}
	return &Principal{kind: KindStore, user: u.id, u: u, id: f[0], secret: f[1]}, nil
}

// acquire checks that p may still act and locks its user: the caller
// unlocks u.mu. For a session, slide says whether this is a use that moves
// its expiry. The session is returned for KindSession.
func (s *Service) acquire(p *Principal, slide bool) (*user, *session, error) {
	if s.closed.Load() {
		return nil, nil, ErrClosed
	}
	if p == nil || p.u == nil {
		return nil, nil, denied("not attached as a user")
	}
	u := p.u
	u.mu.Lock()
	var ss *session
	err := error(nil)
	switch {
	case u.gone:
		err = denied("user removed")
	case p.kind == KindMaster && p.gen != u.gen:
		err = denied("master changed")
	case p.kind == KindSession:
		now := s.cfg.Now()
		if ss = u.sessions[p.id]; ss == nil {
			err = denied("%v", ErrTokenRevoked)
		} else if err = ss.state(now); err != nil {
			err = denied("%v", err)
		} else if slide {
			err = s.slide(u, ss, now)
		}
	case p.kind == KindStore:
		if st := u.tab.Stores[p.id]; st == nil || !constEqual(st.Secret, p.secret) {
			err = denied("store no longer trusted")
		}
	}
	if err != nil {
		u.mu.Unlock()
		return nil, nil, err
	}
	return u, ss, nil
}

// state returns nil for a live session, else why it is not.
func (ss *session) state(now time.Time) error {
	switch {
	case ss.rec.Revoked != 0:
		return ErrTokenRevoked
	case now.UnixMilli() >= ss.rec.Expires:
		return ErrTokenExpired
	}
	return nil
}

// slide moves the expiry of a live session to now plus its timeout. The
// move is written when it is larger than slack (see the package doc).
// u.mu is held.
func (s *Service) slide(u *user, ss *session, now time.Time) error {
	ss.rec.Expires = now.UnixMilli() + ss.rec.TimeoutMs
	if ss.rec.Expires-ss.saved > slackMs(ss.rec.TimeoutMs) {
		return u.saveSessions(now, s.cfg.TombstoneAge)
	}
	return nil
}

// slackMs is how far a session's expiry may run ahead of its file.
func slackMs(timeoutMs int64) int64 { return min(timeoutMs/10, time.Minute.Milliseconds()) }

// Users returns the ids of the users, sorted.
func (s *Service) Users() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.users))
}
