package srv9p

import (
	"context"
	"io/fs"
	"time"

	"gigfs.io/gigfs/gig"
)

// Info describes a file or a directory: what a 9P stat and qid carry.
type Info struct {
	// Name is the last element of the file's path ("" for the root, shown as "/").
	Name string
	// Mode holds fs.ModeDir for a directory, fs.ModeAppend for an
	// append-only file, and the permission bits. The owner bits (0700) are
	// checked on open: every file belongs to the attached user.
	Mode fs.FileMode
	// Length is the file's length in bytes (0 for directories).
	// Keep it current: FUSE clients read only up to it.
	Length int64
	// Path is the qid path: unique per file, and not reused when a file is
	// removed and made again.
	Path uint64
	// Version is the qid version: it must change on every change of the
	// file (the low 32 bits of an oplog sequence number serve well).
	Version uint32
	// Mtime is the last modification time; zero means the server's start.
	Mtime time.Time
}

// A Node is a file or directory of a served tree. The tree builds Nodes as
// clients walk; a Node is held by the fids that point at it, and may be
// used from several goroutines at once.
//
// A Node whose Info has fs.ModeDir should implement Dir, any other File.
type Node interface {
	// Stat describes the node now. An error (gig.ErrNotExist when the file
	// has gone) fails the request that needed it.
	Stat(ctx context.Context) (Info, error)
}

// A Dir is a directory Node.
type Dir interface {
	Node
	// Walk returns the child called name, or gig.ErrNotExist. The server
	// handles ".." itself; name is never "", "." or "..", nor contains "/".
	Walk(ctx context.Context, name string) (Node, error)
	// List returns the entries of the directory, in a stable order. It is
	// called when a client reads the directory from offset 0; later reads
	// continue from that snapshot.
	List(ctx context.Context) ([]Info, error)
}

// A File is a file Node.
type File interface {
	Node
	// Open returns the handle of a fid opening the file. The server has
	// checked mode against Info.Mode, and has already truncated the file
	// if mode has OTRUNC (see Truncater).
	Open(ctx context.Context, mode OpenMode) (Handle, error)
}

// A Handle is the state of one open fid. Its methods may be called
// concurrently. ctx is cancelled when the request is flushed or the
// connection hangs up: a method that blocks must return soon after.
type Handle interface {
	// Read reads up to len(p) bytes at offset off, as io.ReaderAt but
	// with a short count allowed; (0, nil) or io.EOF means end of file.
	Read(ctx context.Context, p []byte, off int64) (int, error)
	// Write writes p at offset off and returns how much was written.
	Write(ctx context.Context, p []byte, off int64) (int, error)
	// Close is called once, when the fid is clunked or removed, or when the
	// connection goes away, after any Read or Write on it has returned.
	// An error is logged, and is the reply to the Tclunk that closed the
	// fid (the fid is clunked all the same): a file that drops what its
	// last writes left unfinished says so there. It must not block for
	// long.
	Close() error
}

// A Creator is a Dir in which clients may create files and directories
// (Tcreate). mode holds fs.ModeDir for a directory, fs.ModeAppend for an
// append-only file, and the permissions asked for. The server then opens the
// new node with the client's open mode.
type Creator interface {
	Create(ctx context.Context, name string, mode fs.FileMode) (Node, error)
}

// A Remover is a Node that clients may remove (Tremove).
type Remover interface {
	Remove(ctx context.Context) error
}

// A Truncater is a File that can be truncated to length 0, by a wstat that
// sets the length to 0 (what FUSE sends for ">") or by an open with OTRUNC.
// An append-only file (fs.ModeAppend) that is not a Truncater accepts
// both and stays as it is; any other file refuses them.
type Truncater interface {
	Truncate(ctx context.Context) error
}

// OpenMode is a 9P open mode: OREAD, OWRITE, ORDWR or OEXEC, possibly with OTRUNC.
type OpenMode uint8

// Open modes, as in 9P.
const (
	OREAD  OpenMode = 0    // read only
	OWRITE OpenMode = 1    // write only
	ORDWR  OpenMode = 2    // read and write
	OEXEC  OpenMode = 3    // execute (read)
	OTRUNC OpenMode = 0x10 // truncate first
)

// CanRead reports whether the mode allows reading.
func (m OpenMode) CanRead() bool { return m&3 != OWRITE }

// CanWrite reports whether the mode allows writing.
func (m OpenMode) CanWrite() bool { return m&3 == OWRITE || m&3 == ORDWR }

// NewDir returns a directory with a fixed set of children, found by the
// names their Stat reports. Handy for the top of a tree; dynamic
// directories implement Dir themselves.
func NewDir(info Info, children ...Node) Dir {
	info.Mode |= fs.ModeDir
	return &staticDir{info: info, children: children}
}

type staticDir struct {
	info     Info
	children []Node
}

func (d *staticDir) Stat(context.Context) (Info, error) { return d.info, nil }

// fixedNamed is a node whose name is known without a Stat (which may cost:
// a snapshot file's makes its content).
type fixedNamed interface{ fixedName() string }

func (d *staticDir) fixedName() string    { return d.info.Name }
func (f *funcFile) fixedName() string     { return f.info.Name }
func (f *snapshotFile) fixedName() string { return f.info.Name }

func (d *staticDir) Walk(ctx context.Context, name string) (Node, error) {
	for _, c := range d.children {
		if n, ok := c.(fixedNamed); ok {
			if n.fixedName() == name {
				return c, nil
			}
			continue
		}
		info, err := c.Stat(ctx)
		if err != nil {
			continue
		}
		if info.Name == name {
			return c, nil
		}
	}
	return nil, gig.ErrNotExist
}

func (d *staticDir) List(ctx context.Context) ([]Info, error) {
	list := make([]Info, 0, len(d.children))
	for _, c := range d.children {
		info, err := c.Stat(ctx)
		if err != nil {
			continue
		}
		list = append(list, info)
	}
	return list, nil
}

// NewFile returns a file with a fixed Info whose Open calls open, for
// files such as ctl whose stat does not change. Its writes are commands or
// records, not contents, so a truncation (a wstat of length 0, an open
// with OTRUNC: what a shell's "echo cmd > ctl" sends) is accepted and
// changes nothing; a read-only one refuses it.
func NewFile(info Info, open func(ctx context.Context, mode OpenMode) (Handle, error)) File {
	info.Mode &^= fs.ModeDir
	return &funcFile{info: info, open: open}
}

type funcFile struct {
	info Info
	open func(ctx context.Context, mode OpenMode) (Handle, error)
}

func (f *funcFile) Stat(context.Context) (Info, error) { return f.info, nil }

func (f *funcFile) Open(ctx context.Context, mode OpenMode) (Handle, error) {
	return f.open(ctx, mode)
}

// Truncate accepts a truncation of a writable file and ignores it (see
// NewFile); a read-only file refuses it.
func (f *funcFile) Truncate(context.Context) error {
	if f.info.Mode&0o200 == 0 {
		return gig.Errorf(gig.ErrPermission, "file cannot be truncated")
	}
	return nil
}
