package gigfs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/atomicfile"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
	"gigfs.io/gigfs/netstore/storefs"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

// An on-disk local store is shared by every process of its user on the
// machine. The process that holds the data folder's lock opens the store
// (package netstore, in-process: one writer of the files, group commit,
// crash safety) and serves its 9P tree, with the one local user, on a unix
// socket in the folder; every other process is a client of it over the
// socket, stream included, so that a change made by one process reaches
// the watches of all. When the serving process exits or dies (the kernel
// drops its lock), the others race for the lock: the winner removes the
// stale socket, listens and serves, and the rest dial it. Reads and pushes
// are idempotent (a known op is a no-op), so a call that a take-over cut
// is made again on the new server; nothing it acknowledged is lost, since
// the store acknowledges only what is on disk.
//
// In the folder, besides the store's own files:
//
//	local.sock   the socket (mode 0600), while a process serves
//	local.key    the key a process presents at attach (mode 0600, made once)
//
// Who can read the key file and reach the socket is the user: file
// permissions are the authentication. A folder whose socket path would be
// too long for a unix socket has it in $TMPDIR/gigfs-<uid>/ instead.
const (
	sockName = "local.sock"
	keyName  = "local.key"
)

// maxSockPath is the longest path of a unix socket (sun_path less its NUL).
const maxSockPath = 107

// sharedStore is an on-disk local store, served by this process or reached
// through the process that serves it.
type sharedStore struct {
	c    *Client
	dir  string // as configured (the store's name)
	abs  string // absolute
	sock string // the socket's path

	mu     sync.Mutex
	disk   *diskStore     // set while this process serves
	r      *remote.Remote // set while connected to the serving process
	sr     *remote.StreamReader
	cur    *netstore.Cursor // the served store's stream, while serving
	up     chan struct{}    // closed while disk or r is set
	closed bool
	key    string
	epoch  string    // stream position, to resume on the same server
	seq    uint64    //
	alive  time.Time // when the stream last spoke (or opened)
	head   uint64    // the stream's head when it was (re)opened
	// After a reconnection, the resync waits for the stream to replay up
	// to head: what the stream carries reaches watchers in its order, and
	// only then do they hear of what it may lack.
	resyncDue   bool
	resyncSince time.Time // the ops to catch up on: dated from a little
	resyncUntil time.Time // before since, up to until
	stopSrv     context.CancelFunc
	served      chan struct{} // closed once the server stopped
}

// openSharedStore opens the on-disk local store in dir: it serves it, or
// connects to the process that does, within the call timeout.
func openSharedStore(c *Client, dir string) (*sharedStore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local store %s: %w", dir, err)
	}
	s := &sharedStore{c: c, dir: dir, abs: abs, up: make(chan struct{})}
	if s.sock, err = socketPath(abs); err != nil {
		return nil, fmt.Errorf("local store %s: %w", dir, err)
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.CallTimeout)
	defer cancel()
	if _, err := s.attach(ctx); err != nil {
		return nil, fmt.Errorf("local store %s: %w", dir, err)
	}
	return s, nil
}

// socketPath is where the socket of the store in folder abs lives.
func socketPath(abs string) (string, error) {
	sock := filepath.Join(abs, sockName)
	if len(sock) <= maxSockPath {
		return sock, nil
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("gigfs-%d", os.Getuid()))
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	// Another user could have made it first, to play the server.
	if err := ownedPrivate(dir); err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(abs))
	return filepath.Join(dir, hex.EncodeToString(h[:12])+".sock"), nil
}

// attach serves the store or connects to its server, trying until ctx
// ends. It reports whether it resumed the stream of the same server.
func (s *sharedStore) attach(ctx context.Context) (resumed bool, err error) {
	backoff := 2 * time.Millisecond
	for {
		err := s.serve()
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, netstore.ErrInUse) {
			return false, err
		}
		// Another process holds the lock: it serves, or is about to (or
		// is dying, and the lock will be free).
		resumed, derr := s.dial(ctx)
		if derr == nil {
			return resumed, nil
		}
		select {
		case <-ctx.Done():
			if cause := s.closedErr(); cause != nil {
				return false, cause
			}
			return false, fmt.Errorf("%w; and its socket %s does not answer: %v", err, s.sock, derr)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

func (s *sharedStore) closedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// serve opens the store, if no other process holds its lock, and serves it
// on the socket. Holding the lock, it may remove a socket left by a server
// that died: no other process can be serving.
func (s *sharedStore) serve() error {
	var key string
	svc, err := netstore.Open(netstore.Config{
		Dir:        s.dir,
		Logf:       s.c.cfg.Logf,
		KeepStream: true, // the next server goes on with it: readers resume
		Authenticator: func(_ context.Context, user, token string) error {
			if user != localUser || subtle.ConstantTimeCompare([]byte(token), []byte(key)) != 1 {
				return gig.ErrPermission
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	fail := func(err error) error {
		svc.Close()
		return err
	}
	if len(svc.Users()) == 0 {
		if _, err := svc.AddUser(localUser); err != nil {
			return fail(err)
		}
	}
	if key, err = makeKey(s.abs); err != nil {
		return fail(err)
	}
	cur, err := svc.Stream(localUser, nil)
	if err != nil {
		return fail(err)
	}
	s.mu.Lock()
	epoch, seq := s.epoch, s.seq
	s.mu.Unlock()
	head := cur.Head()
	if epoch != "" {
		// Taking over from a server whose stream this process followed:
		// go on where it left off (the stream is kept in the folder).
		if err := cur.Since(epoch, seq); err != nil {
			s.c.cfg.Logf("gigfs: %s: serving: cannot resume the stream at %s %d: %v", s.Name(), epoch, seq, err)
			epoch, seq = cur.Epoch(), head // it reads from the head
		}
	}
	if err := os.Remove(s.sock); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(fmt.Errorf("remove stale socket: %w", err))
	}
	l, err := srv9p.Listen("unix!" + s.sock)
	if err != nil {
		return fail(err)
	}
	if err := os.Chmod(s.sock, 0o600); err != nil {
		l.Close()
		return fail(err)
	}
	tree := &storefs.Tree{S: svc, Started: time.Now()}
	srv := &srv9p.Server{Attach: tree.Attach, Logf: s.c.cfg.Logf}
	tree.Server = srv // its status file counts connections
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ctx, l); err != nil {
			s.c.cfg.Logf("gigfs: local store %s: serve: %v", s.dir, err)
		}
	}()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		stop()
		<-served
		return fail(ErrClosed)
	}
	if s.r != nil { // cannot be: a connection ends before a take-over
		s.r.Close()
		s.r = nil
	}
	s.disk = &diskStore{path: s.dir, svc: svc}
	s.cur, s.key = cur, key
	if epoch != "" {
		s.epoch, s.seq = epoch, seq
	}
	s.head = head
	s.stopSrv, s.served = stop, served
	s.alive = time.Now()
	close(s.up)
	s.mu.Unlock()
	return nil
}

// makeKey returns the key of the store in dir, making it on first use. The
// caller holds the store's lock.
func makeKey(dir string) (string, error) {
	name := filepath.Join(dir, keyName)
	if key, err := readKey(dir); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	key := hex.EncodeToString(b)
	if err := atomicfile.WriteFile(name, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("key file: %w", err)
	}
	return key, nil
}

// readKey reads the key file of the store in dir.
func readKey(dir string) (string, error) {
	name := filepath.Join(dir, keyName)
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(string(b))
	if len(key) < 32 {
		return "", fmt.Errorf("key file %s: too short", name)
	}
	return key, nil
}

// ownedPrivate checks that dir is a folder of this user that no one else
// can enter.
func ownedPrivate(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 || !ownedByMe(fi) {
		return fmt.Errorf("%s must be a folder of user %d with mode 0700", dir, os.Getuid())
	}
	return nil
}

func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}

// dial connects to the process that serves the store, and to its stream.
// It reports whether the stream resumed where it broke, on the same server.
func (s *sharedStore) dial(ctx context.Context) (resumed bool, err error) {
	if _, err := os.Stat(s.sock); err != nil {
		return false, err // no server yet, or it died and no one took over
	}
	key, err := readKey(s.abs)
	if err != nil {
		return false, err
	}
	addr := "unix!" + s.sock
	r, err := remote.Dial(ctx, addr, localUser, key)
	if err != nil {
		return false, err
	}
	sr, epoch, seq, head, resumed, err := s.openStream(ctx, r, addr, key)
	if err != nil {
		r.Close()
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		r.Close()
		sr.Close()
		return false, ErrClosed
	}
	s.r, s.sr, s.key = r, sr, key
	s.epoch, s.seq, s.head = epoch, seq, head
	s.alive = time.Now()
	close(s.up)
	return resumed, nil
}

// openStream opens the stream of the serving process: on a first
// connection from its head; then where the last stream left off (the
// stream is kept in the folder, so the next server goes on with it), or,
// if the server cannot resume it (the stream file was lost: another
// epoch), from the first event of its epoch, so that nothing it accepted
// before this connection is missed, or from its head if it no longer
// keeps them all. It returns the stream, its position and the stream's
// head when it opened (at least the position).
func (s *sharedStore) openStream(ctx context.Context, r *remote.Remote, addr, key string) (sr *remote.StreamReader, epoch string, seq, head uint64, resumed bool, err error) {
	s.mu.Lock()
	epoch, seq = s.epoch, s.seq
	s.mu.Unlock()
	e, head, err := r.Cursor(ctx)
	if err != nil {
		return nil, "", 0, 0, false, err
	}
	if epoch != "" {
		sr, err = remote.OpenStream(ctx, addr, localUser, key, epoch, seq)
		if err == nil || srv9p.IsHangup(err) {
			// A hang-up: try again, rather than skip ahead.
			return sr, epoch, seq, max(head, seq), err == nil, err
		}
		s.c.cfg.Logf("gigfs: %s: cannot resume the stream at %s %d: %v", s.Name(), epoch, seq, err)
	}
	if epoch != "" && e != epoch {
		if sr, err = remote.OpenStream(ctx, addr, localUser, key, e, 0); err == nil || srv9p.IsHangup(err) {
			return sr, e, 0, head, false, err
		}
	}
	sr, err = remote.OpenStream(ctx, addr, localUser, key, e, head)
	return sr, e, head, head, false, err
}

// run follows the store's stream, handing events to the client, and
// reconnects (serving the store if it can) when its server goes away,
// until the client closes.
func (s *sharedStore) run(ctx context.Context) {
	for ctx.Err() == nil {
		s.mu.Lock()
		cur, sr, r := s.cur, s.sr, s.r
		s.mu.Unlock()
		switch {
		case cur != nil:
			s.followLocal(ctx, cur)
			return // a server serves until the client closes
		case sr != nil:
			s.followRemote(ctx, r, sr)
		}
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		since := s.alive
		s.mu.Unlock()
		if _, err := s.attach(ctx); err != nil {
			continue
		}
		// Even a resumed stream may lack an op: one the server that went
		// made durable but was killed before it published (and its pusher
		// with it). Once the stream has replayed what it holds, watchers
		// hear of those too. An op dated from now on is made from now on:
		// the stream carries it.
		s.dueResync(since, time.Now())
		s.replayed()
	}
}

// dueResync makes a resync of the ops dated about since to until due (with
// one that is due already, if any: the window covers both).
func (s *sharedStore) dueResync(since, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resyncDue {
		since = minTime(since, s.resyncSince)
		until = maxTime(until, s.resyncUntil)
	}
	s.resyncDue, s.resyncSince, s.resyncUntil = true, since, until
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// replayed starts the resync due after a reconnection once the stream has
// given the events it held when it was opened.
func (s *sharedStore) replayed() {
	s.mu.Lock()
	due := s.resyncDue && s.seq >= s.head
	if due {
		s.resyncDue = false
	}
	since, until := s.resyncSince, s.resyncUntil
	s.mu.Unlock()
	if due {
		s.c.spawn(func() { s.resync(since, until) })
	}
}

// followLocal reads the stream of the store this process serves.
func (s *sharedStore) followLocal(ctx context.Context, cur *netstore.Cursor) {
	for {
		line, err := cur.Next(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, netstore.ErrStreamTooOld) {
			// This process fell behind its own stream: re-read.
			s.mu.Lock()
			since := s.alive
			s.mu.Unlock()
			until := time.Now() // the cursor is at the head
			s.c.spawn(func() { s.resync(since, until) })
			continue
		}
		if err != nil {
			s.c.cfg.Logf("gigfs: %s: stream: %v", s.Name(), err)
			return
		}
		ev, err := netstore.ParseEvent(line)
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.epoch, s.seq, s.alive = ev.Epoch, ev.Seq, time.Now()
		s.mu.Unlock()
		s.c.storeEvent(s, ev)
		s.replayed()
	}
}

// followRemote reads the stream of the serving process until it fails.
func (s *sharedStore) followRemote(ctx context.Context, r *remote.Remote, sr *remote.StreamReader) {
	for {
		ev, err := sr.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.fail(r, fmt.Errorf("stream: %w", err))
			}
			return
		}
		s.mu.Lock()
		s.epoch, s.seq, s.alive = ev.Epoch, ev.Seq, time.Now()
		s.mu.Unlock()
		s.c.storeEvent(s, ev)
		s.replayed()
	}
}

// fail hangs up a connection to the serving process that failed; run
// reconnects.
func (s *sharedStore) fail(r *remote.Remote, err error) {
	s.mu.Lock()
	if s.r != r || r == nil {
		s.mu.Unlock()
		return
	}
	sr := s.sr
	s.r, s.sr = nil, nil
	s.up = make(chan struct{})
	s.mu.Unlock()
	s.c.cfg.Logf("gigfs: %s: %v; reconnecting", s.Name(), err)
	r.Close()
	if sr != nil {
		sr.Close()
	}
}

// resync re-reads what the client holds of the store's channels after the
// stream broke: loaded paths are synced; op watchers hear of the ops dated
// from a little before since (when the stream last spoke) to until (when
// it spoke again) that they have not seen. If the store cannot be read,
// the resync is due again.
func (s *sharedStore) resync(since, until time.Time) {
	c := s.c
	from, to := since.Add(-c.cfg.CallTimeout).UnixMilli(), until.UnixMilli()
	c.mu.Lock()
	var chans []string
	for ch, stores := range c.local {
		for _, st := range stores {
			if st == Store(s) {
				chans = append(chans, ch)
			}
		}
	}
	var paths []*pathState
	watched := make(map[string]bool)
	for _, ch := range chans {
		watched[ch] = len(c.chanSubs[ch]) > 0
	}
	for k, p := range c.paths {
		if _, ok := watched[k.channel]; ok {
			paths = append(paths, p)
		}
	}
	c.mu.Unlock()
	loaded := make(map[pathKey]bool)
	for _, p := range paths {
		loaded[p.key] = true
		c.scheduleSync(p, 0)
	}
	for ch, w := range watched {
		if w && !s.catchUp(ch, from, to, loaded) {
			s.dueResync(since, until)
		}
	}
}

// catchUp tells the op watchers of channel about the ops dated from from
// to to that paths the client has not loaded hold in the store (a loaded
// path's sync does it for its own). It reports whether it read them all.
func (s *sharedStore) catchUp(channel string, from, to int64, loaded map[pathKey]bool) bool {
	c := s.c
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.CallTimeout)
	defer cancel()
	list, err := s.List(ctx, channel, "")
	if err != nil {
		c.cfg.Logf("gigfs: %s: catching up channel %s: %v", s.Name(), channel, err)
		return false
	}
	ok := true
	for _, tp := range list {
		k := pathKey{channel, tp.Type, tp.Path}
		if loaded[k] {
			continue
		}
		l, err := s.Read(ctx, tp.Type, storePath(channel, tp.Path))
		if err != nil {
			c.cfg.Logf("gigfs: %s: catching up %s: %v", s.Name(), k, err)
			ok = false
			continue
		}
		for _, o := range l.Ops() {
			if o.Date >= from && o.Date <= to {
				c.publishOpSince(k, o, true)
			}
		}
	}
	return ok
}

func (s *sharedStore) Name() string { return "local:" + s.dir }

// call runs one call: in-process while this process serves, else on the
// connection to the serving process, made again after a hang-up (once the
// store is back: a take-over) until ctx ends.
func (s *sharedStore) call(ctx context.Context, local func(*diskStore) error, remote func(*remote.Remote) error) error {
	for {
		s.mu.Lock()
		d, r, up, closed := s.disk, s.r, s.up, s.closed
		s.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case d != nil:
			return local(d)
		case r != nil:
			err := remote(r)
			if !srv9p.IsHangup(err) {
				return err
			}
			s.fail(r, err)
			continue
		}
		select {
		case <-up:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", errOffline, ctx.Err())
		}
	}
}

func (s *sharedStore) Read(ctx context.Context, typ, spath string) (*oplog.Log, error) {
	var l *oplog.Log
	err := s.call(ctx, func(d *diskStore) (err error) {
		l, err = d.read(ctx, typ, spath)
		return err
	}, func(r *remote.Remote) (err error) {
		l, err = r.Read(ctx, typ, spath)
		return err
	})
	return l, err
}

func (s *sharedStore) Push(ctx context.Context, recs []netstore.Record) ([]oplog.Result, error) {
	var res []oplog.Result
	err := s.call(ctx, func(d *diskStore) (err error) {
		res, err = d.push(ctx, recs)
		return err
	}, func(r *remote.Remote) (err error) {
		res, err = r.Push(ctx, recs)
		return err
	})
	return res, err
}

func (s *sharedStore) List(ctx context.Context, channel, dir string) ([]TypePath, error) {
	var out []TypePath
	err := s.call(ctx, func(d *diskStore) (err error) {
		out, err = d.list(ctx, channel, dir)
		return err
	}, func(r *remote.Remote) (err error) {
		out, err = listRemote(ctx, r, channel, dir)
		return err
	})
	return out, err
}

// Close stops serving (the socket goes, then the lock: another process
// takes over) or hangs up.
func (s *sharedStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	d, r, sr, stop, served := s.disk, s.r, s.sr, s.stopSrv, s.served
	s.disk, s.r, s.sr, s.cur = nil, nil, nil, nil
	s.mu.Unlock()
	if r != nil {
		r.Close()
	}
	if sr != nil {
		sr.Close()
	}
	if d == nil {
		return nil
	}
	stop()
	<-served
	return d.close()
}
