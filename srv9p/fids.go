package srv9p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

	"9fans.net/go/plan9"
	lib "9fans.net/go/plan9/srv9p"
	"gigfs.io/gigfs/gig"
)

// A fidState is our state for one fid, kept in the library's Fid.Aux.
type fidState struct {
	c     *conn
	uname string
	path  atomic.Pointer[[]Node] // from the attach root to the fid's node

	// mu is held for reading during each Read and Write of the handle,
	// and for writing to install the handle and to release it.
	mu       sync.RWMutex
	released bool
	h        Handle     // an open file
	dir      *dirReader // an open directory
}

// pathName is the fid's path from the attach root, for logs.
func (f *fidState) pathName(ctx context.Context) string {
	var b strings.Builder
	for _, n := range (*f.path.Load())[1:] {
		info, err := n.Stat(ctx)
		if err != nil {
			info.Name = "?"
		}
		b.WriteString("/" + info.Name)
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

func (f *fidState) node() Node {
	p := *f.path.Load()
	return p[len(p)-1]
}

// newFid registers a fid on the connection, within MaxFids.
func (c *conn) newFid(uname string, path []Node) (*fidState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, gig.ErrInterrupted
	}
	if len(c.fids) >= c.maxFids {
		return nil, c.fidLimit()
	}
	f := &fidState{c: c, uname: uname}
	f.path.Store(&path)
	c.fids[f] = struct{}{}
	return f, nil
}

// release forgets the fid and closes its handle once no read or write on
// it is in progress; an error of Close is logged. It may be called more
// than once.
func (f *fidState) release() {
	f.c.forget(f)
	f.mu.Lock()
	if err := f.closeLocked(); err != nil {
		f.logClose(context.Background(), err)
	}
}

// clunk releases the fid for a Tclunk and returns the error of its
// handle's Close, which the client gets (and the log). If a read or write
// on it is in progress (a stream read the client did not flush), it does
// not wait: the library's Clunk releases the fid when that ends, and only
// the log hears of an error.
func (f *fidState) clunk(ctx context.Context) error {
	if !f.mu.TryLock() {
		return nil
	}
	f.c.forget(f)
	err := f.closeLocked()
	if err != nil {
		f.logClose(ctx, err)
	}
	return err
}

// forget takes f out of the connection's fids.
func (c *conn) forget(f *fidState) {
	c.mu.Lock()
	delete(c.fids, f)
	c.mu.Unlock()
}

// closeLocked closes the fid's handle, once, with f.mu held for writing,
// and unlocks it.
func (f *fidState) closeLocked() (err error) {
	defer f.mu.Unlock()
	if f.released {
		return nil
	}
	f.released = true
	h := f.h
	f.h, f.dir = nil, nil
	if h == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			f.c.logf("panic in Close: %v", p)
			err = nil
		}
	}()
	return h.Close()
}

// logClose logs the error of a handle's Close: clients that show any
// error as EIO (FUSE) leave the reason here.
func (f *fidState) logClose(ctx context.Context, err error) {
	f.c.logf("user %s: close %s: %s", f.uname, f.pathName(ctx), ErrorString(err))
}

// install sets the handle of a fid being opened.
func (f *fidState) install(h Handle, d *dirReader) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := error(nil)
	switch {
	case f.released:
		err = gig.ErrClosed
	case f.h != nil || f.dir != nil:
		err = nineErr("file already open")
	default:
		f.h, f.dir = h, d
		return nil
	}
	if h != nil {
		h.Close()
	}
	return err
}

// use returns the open handle or directory of the fid, held until unuse
// is called (unless use fails).
func (f *fidState) use() (h Handle, d *dirReader, err error) {
	f.mu.RLock()
	if f.released {
		f.mu.RUnlock()
		return nil, nil, gig.ErrClosed
	}
	if f.h == nil && f.dir == nil {
		f.mu.RUnlock()
		return nil, nil, nineErr("file not open")
	}
	return f.h, f.dir, nil
}

// unuse ends a use. (A method value of f.mu.RUnlock returned by use
// would cost an allocation per read and write.)
func (f *fidState) unuse() { f.mu.RUnlock() }

func stateOf(fid *lib.Fid) (*fidState, error) {
	if f, ok := fid.Aux().(*fidState); ok && f != nil {
		return f, nil
	}
	return nil, nineErr("unknown fid")
}

// qidOf returns the qid of a file described by info.
func qidOf(info Info) plan9.Qid {
	q := plan9.Qid{Path: info.Path, Vers: info.Version}
	if info.Mode.IsDir() {
		q.Type |= plan9.QTDIR
	}
	if info.Mode&fs.ModeAppend != 0 {
		q.Type |= plan9.QTAPPEND
	}
	if info.Mode&fs.ModeExclusive != 0 {
		q.Type |= plan9.QTEXCL
	}
	if info.Mode&fs.ModeTemporary != 0 {
		q.Type |= plan9.QTTMP
	}
	return q
}

// permOf returns the 9P mode of a file described by info.
func permOf(info Info) plan9.Perm {
	p := plan9.Perm(info.Mode.Perm())
	if info.Mode.IsDir() {
		p |= plan9.DMDIR
	}
	if info.Mode&fs.ModeAppend != 0 {
		p |= plan9.DMAPPEND
	}
	if info.Mode&fs.ModeExclusive != 0 {
		p |= plan9.DMEXCL
	}
	if info.Mode&fs.ModeTemporary != 0 {
		p |= plan9.DMTMP
	}
	return p
}

// fileMode returns the fs.FileMode of a 9P create permission.
func fileMode(p plan9.Perm) fs.FileMode {
	m := fs.FileMode(p & 0777)
	if p&plan9.DMDIR != 0 {
		m |= fs.ModeDir
	}
	if p&plan9.DMAPPEND != 0 {
		m |= fs.ModeAppend
	}
	if p&plan9.DMEXCL != 0 {
		m |= fs.ModeExclusive
	}
	if p&plan9.DMTMP != 0 {
		m |= fs.ModeTemporary
	}
	return m
}

// dirOf returns the 9P stat of a file described by info, owned by uname.
func dirOf(info Info, uname string) plan9.Dir {
	name := info.Name
	if name == "" {
		name = "/"
	}
	length := uint64(max(info.Length, 0))
	if info.Mode.IsDir() {
		length = 0
	}
	mtime := info.Mtime
	if mtime.IsZero() {
		mtime = startTime
	}
	return plan9.Dir{
		Qid:    qidOf(info),
		Mode:   permOf(info),
		Atime:  uint32(mtime.Unix()),
		Mtime:  uint32(mtime.Unix()),
		Length: length,
		Name:   name,
		Uid:    uname,
		Gid:    uname,
		Muid:   uname,
	}
}

// badName reports whether name may not be a file name.
func badName(name string) bool {
	return name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00")
}

func (c *conn) attach(rctx context.Context, fid, _ *lib.Fid, uname, aname string) (qid plan9.Qid, err error) {
	err = c.do(rctx, func(ctx context.Context) error {
		if c.srv.Attach == nil {
			return errors.New("attach not configured")
		}
		f, err := c.newFid(uname, nil)
		if err != nil {
			return err
		}
		if err := c.srv.attachTurn(ctx, c.key); err != nil {
			f.release()
			return err
		}
		root, err := c.srv.Attach(ctx, uname, aname, c.remote)
		if err == nil && root == nil {
			err = gig.ErrNotExist
		}
		var info Info
		if err == nil {
			info, err = root.Stat(ctx)
		}
		if err == nil && !info.Mode.IsDir() {
			err = errors.New("root is not a directory")
		}
		if err != nil {
			f.release()
			c.logf("attach refused: user %q: %s", uname, ErrorString(err))
			if countsAsFailure(err) {
				c.srv.attachFailed(c.key)
			}
			return err
		}
		if !c.attached.Swap(true) {
			c.srv.leaveUnauth(c.key)
		}
		f.path.Store(&[]Node{root})
		fid.SetAux(f)
		qid = qidOf(info)
		return nil
	})
	return qid, err
}

// walk walks newfid from fid along names. A walk that fails after the
// first name returns the qids so far and no error: the library then
// answers a short Rwalk and leaves newfid undefined (or fid unchanged).
func (c *conn) walk(rctx context.Context, fid, newfid *lib.Fid, names []string) (qids []plan9.Qid, err error) {
	err = c.do(rctx, func(ctx context.Context) error {
		f, err := stateOf(fid)
		if err != nil {
			return err
		}
		path := *f.path.Load()
		for i, name := range names {
			next, info, err := step(ctx, path, name, i == 0 || qids[i-1].Type&plan9.QTDIR != 0)
			if err != nil {
				if i == 0 {
					return err
				}
				return nil
			}
			path = next
			qids = append(qids, qidOf(info))
		}
		if newfid == fid {
			f.path.Store(&path)
			return nil
		}
		nf, err := c.newFid(f.uname, path)
		if err != nil {
			return err
		}
		newfid.SetAux(nf)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return qids, nil
}

// step walks one name from the last node of path, which is a directory if isDir.
func step(ctx context.Context, path []Node, name string, isDir bool) ([]Node, Info, error) {
	if !isDir {
		return nil, Info{}, nineErr("walk in non-directory")
	}
	if name == ".." {
		if len(path) > 1 {
			path = path[:len(path)-1]
		}
		info, err := path[len(path)-1].Stat(ctx)
		return path, info, err
	}
	if badName(name) {
		return nil, Info{}, gig.ErrNotExist
	}
	d, ok := path[len(path)-1].(Dir)
	if !ok {
		return nil, Info{}, gig.ErrNotExist
	}
	n, err := d.Walk(ctx, name)
	if err == nil && n == nil {
		err = gig.ErrNotExist
	}
	if err != nil {
		return nil, Info{}, err
	}
	info, err := n.Stat(ctx)
	if err != nil {
		return nil, Info{}, err
	}
	next := make([]Node, len(path)+1)
	copy(next, path)
	next[len(path)] = n
	return next, info, nil
}

// checkPerm checks an open mode against the owner bits of a file's mode.
func checkPerm(m fs.FileMode, mode OpenMode) error {
	need := fs.FileMode(0)
	switch mode & 3 {
	case OREAD:
		need = 4
	case OWRITE:
		need = 2
	case ORDWR:
		need = 6
	case OEXEC:
		need = 1
	}
	if mode&OTRUNC != 0 {
		need |= 2
	}
	if m.Perm()>>6&need != need {
		return gig.ErrPermission
	}
	return nil
}

// truncate truncates node to length 0 (see Truncater).
func truncate(ctx context.Context, node Node, info Info) error {
	if t, ok := node.(Truncater); ok {
		return t.Truncate(ctx)
	}
	if info.Mode&fs.ModeAppend != 0 {
		return nil
	}
	return gig.Errorf(gig.ErrPermission, "file cannot be truncated")
}

func (c *conn) iounit() uint32 {
	if c.maxWrite <= 0 {
		return 0
	}
	return uint32(min(int64(c.maxWrite), int64(c.msize.Load())-plan9.IOHDRSZ))
}

var errRclose = gig.Errorf(gig.ErrInvalid, "remove on close not supported")

func (c *conn) open(rctx context.Context, fid *lib.Fid, mode uint8) error {
	return c.do(rctx, func(ctx context.Context) error {
		f, err := stateOf(fid)
		if err != nil {
			return err
		}
		if mode&plan9.ORCLOSE != 0 {
			return errRclose
		}
		om := OpenMode(mode) & (3 | OTRUNC)
		node := f.node()
		info, err := node.Stat(ctx)
		if err != nil {
			return err
		}
		if err := checkPerm(info.Mode, om); err != nil {
			return err
		}
		if info.Mode.IsDir() {
			fid.SetQid(qidOf(info))
			return f.install(nil, new(dirReader))
		}
		file, ok := node.(File)
		if !ok {
			return gig.ErrPermission
		}
		if om&OTRUNC != 0 {
			if err := truncate(ctx, node, info); err != nil {
				return err
			}
		}
		h, err := file.Open(ctx, om)
		if err == nil && h == nil {
			err = errors.New("open returned no handle")
		}
		if err != nil {
			return err
		}
		if info, err = node.Stat(ctx); err != nil { // the version after truncation or open
			h.Close()
			return err
		}
		fid.SetQid(qidOf(info))
		fid.SetIounit(c.iounit())
		return f.install(h, nil)
	})
}

func (c *conn) create(rctx context.Context, fid *lib.Fid, name string, perm plan9.Perm, mode uint8) (qid plan9.Qid, err error) {
	err = c.do(rctx, func(ctx context.Context) error {
		f, err := stateOf(fid)
		if err != nil {
			return err
		}
		cr, ok := f.node().(Creator)
		switch {
		case !ok:
			return gig.ErrPermission
		case badName(name):
			return gig.Errorf(gig.ErrInvalid, "bad file name %q", name)
		case mode&plan9.ORCLOSE != 0:
			return errRclose
		}
		om := OpenMode(mode) & (3 | OTRUNC)
		n, err := cr.Create(ctx, name, fileMode(perm))
		if err == nil && n == nil {
			err = errors.New("create returned no node")
		}
		if err != nil {
			return err
		}
		info, err := n.Stat(ctx)
		if err != nil {
			return err
		}
		var h Handle
		var d *dirReader
		if info.Mode.IsDir() {
			// A new directory is opened for reading whatever mode was
			// asked: clients (go9p's, and mount9p's mkdir) create with
			// ORDWR, and refusing after the directory was made would
			// report a failure for a create that happened. Writes on
			// the fid still fail with "is a directory".
			d = new(dirReader)
		} else {
			file, ok := n.(File)
			if !ok {
				return gig.ErrPermission
			}
			if h, err = file.Open(ctx, om); err != nil {
				return err
			}
			if h == nil {
				return errors.New("open returned no handle")
			}
		}
		old := *f.path.Load()
		path := make([]Node, len(old)+1)
		copy(path, old)
		path[len(old)] = n
		f.path.Store(&path)
		if err := f.install(h, d); err != nil {
			return err
		}
		qid = qidOf(info)
		fid.SetIounit(c.iounit())
		return nil
	})
	return qid, err
}

func (c *conn) read(rctx context.Context, fid *lib.Fid, data []byte, off int64) (n int, err error) {
	err = c.do(rctx, func(ctx context.Context) error {
		f, err := stateOf(fid)
		if err != nil {
			return err
		}
		h, d, err := f.use()
		if err != nil {
			return err
		}
		defer f.unuse()
		if d != nil {
			n, err = d.read(ctx, f, data, off)
			return err
		}
		n, err = h.Read(context.WithValue(ctx, blockKey{}, &blocker{c, int64(len(data)) + plan9.IOHDRSZ}), data, off)
		if n < 0 || n > len(data) {
			bad := n
			n = 0
			return fmt.Errorf("read returned count %d for %d bytes", bad, len(data))
		}
		if n > 0 || errors.Is(err, io.EOF) {
			return nil // data first; an error comes back with the next read
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (c *conn) write(rctx context.Context, fid *lib.Fid, data []byte, off int64) (n int, err error) {
	err = c.do(rctx, func(ctx context.Context) error {
		if c.maxWrite > 0 && len(data) > c.maxWrite {
			return gig.Errorf(gig.ErrLimit, "write of %d bytes over the limit of %d", len(data), c.maxWrite)
		}
		f, err := stateOf(fid)
		if err != nil {
			return err
		}
		h, d, err := f.use()
		if err != nil {
			return err
		}
		defer f.unuse()
		if d != nil {
			return nineErr("is a directory")
		}
		n, err = h.Write(ctx, data, off)
		if err != nil {
			if ctx.Err() == nil {
				// Some clients (FUSE) show any error as EIO: the reason
				// is here.
				c.logf("user %s: write %s refused: %s", f.uname, f.pathName(ctx), ErrorString(err))
			}
			return err
		}
		if n < 0 || n > len(data) {
			return fmt.Errorf("write returned count %d for %d bytes", n, len(data))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (c *conn) stat(rctx context.Context, fid *lib.Fid) (d *plan9.Dir, err error) {
	err = c.do(rctx, func(ctx context.Context) error {
		f, err := stateOf(fid)
		if err != nil {
			return err
		}
		info, err := f.node().Stat(ctx)
		if err != nil {
			return err
		}
		dir := dirOf(info, f.uname)
		b, err := dir.Bytes()
		if err != nil {
			return err
		}
		if m := int(c.msize.Load()); 9+len(b) > m {
			// The library would drop a reply over msize.
			return fmt.Errorf("%w: stat of %d bytes over the message size %d", gig.ErrLimit, len(b), m)
		}
		d = &dir
		return nil
	})
	return d, err
}

var errWstat = gig.Errorf(gig.ErrPermission, "wstat can only set length 0")

// wstat accepts what does not change the file, ignores times, and turns
// length 0 into a truncation. (The library has handled the all-"don't
// touch" wstat, a sync, and refused changes of type, dev, qid and muid.)
func (c *conn) wstat(rctx context.Context, fid *lib.Fid, d *plan9.Dir) error {
	return c.do(rctx, func(ctx context.Context) error {
		f, err := stateOf(fid)
		if err != nil {
			return err
		}
		node := f.node()
		info, err := node.Stat(ctx)
		if err != nil {
			return err
		}
		cur := dirOf(info, f.uname)
		switch {
		case d.Name != "" && d.Name != cur.Name,
			d.Uid != "" && d.Uid != cur.Uid,
			d.Gid != "" && d.Gid != cur.Gid,
			d.Mode != ^plan9.Perm(0) && d.Mode != cur.Mode:
			return errWstat
		}
		switch {
		case d.Length == ^uint64(0):
			return nil
		case info.Mode.IsDir():
			return errWstat
		case d.Length == 0:
			return truncate(ctx, node, info)
		case d.Length == cur.Length:
			return nil
		}
		return errWstat
	})
}

// remove serves a Tremove, or a Tclunk the reader handed over as one
// (clunk.go).
func (c *conn) remove(rctx context.Context, fid *lib.Fid) error {
	if c.clunking() {
		return c.clunk(rctx, fid)
	}
	return c.do(rctx, func(ctx context.Context) error {
		f, err := stateOf(fid)
		if err != nil {
			return err
		}
		r, ok := f.node().(Remover)
		if !ok || len(*f.path.Load()) == 1 {
			return gig.ErrPermission
		}
		return r.Remove(ctx)
	})
}

// blockKey is the context key under which a read finds its blocker,
// to count blocked reads (see beginBlock).
type blockKey struct{}

// A blocker is the connection of a read and the bytes it reserved.
type blocker struct {
	c *conn
	n int64
}

// beginBlock counts a read that is about to block against the
// MaxBlockedReads of the connection serving ctx, if any. The caller calls
// end when the read no longer blocks.
func beginBlock(ctx context.Context) (end func(), err error) {
	b, ok := ctx.Value(blockKey{}).(*blocker)
	if !ok {
		return func() {}, nil
	}
	c := b.c
	if c.blocked.Add(1) > c.maxBlocked {
		c.blocked.Add(-1)
		c.logf("too many blocked reads (limit %d)", c.maxBlocked)
		return nil, nineErr(fmt.Sprintf("too many blocked reads: limit %d", c.maxBlocked))
	}
	c.park(b.n)
	return func() {
		c.unpark(b.n)
		c.blocked.Add(-1)
	}, nil
}

// A dirReader reads a directory: a snapshot of List taken at offset 0,
// handed out in whole entries.
type dirReader struct {
	mu   sync.Mutex
	list []Info
	next int
}

func (d *dirReader) read(ctx context.Context, f *fidState, p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off == 0 {
		var list []Info
		if dir, ok := f.node().(Dir); ok {
			var err error
			if list, err = dir.List(ctx); err != nil {
				return 0, err
			}
		}
		d.list, d.next = list, 0
	}
	n := 0
	for d.next < len(d.list) {
		dir := dirOf(d.list[d.next], f.uname)
		b, err := dir.Bytes()
		if err != nil {
			return 0, err
		}
		if len(b) > len(p)-n {
			if n == 0 {
				return 0, gig.Errorf(gig.ErrInvalid, "read of %d bytes too small for a directory entry", len(p))
			}
			break
		}
		n += copy(p[n:], b)
		d.next++
	}
	return n, nil
}
