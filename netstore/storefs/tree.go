package storefs

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/stack"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

// The 9P tree of a store. A connection authenticates at attach: uname is
// the user id and aname "<kind> <credential>" (PROTOCOL.md):
//
//	token <store_token>   /user/<id>/{oplog/,push,stream,ctl}
//	table <secret>        /user/<id>/ctl  (revoke <store_token>)
//	confirm <code>        /user/<id>/ctl  (confirm <table_addr> <store_id> <secret>)
//	admin <key>           /admin/ctl      (uname "admin")
//
// A connection sees only its own user.

// Tree serves a netstore.Service over 9P.
type Tree struct {
	S        *netstore.Service
	AdminKey string // the key of "admin <key>" attaches; empty refuses them
	// Server, if set, is the 9P server of the tree: its connections and
	// the limits that bit go in the status file.
	Server *srv9p.Server
	// Started is when the store started (the status file's uptime).
	Started time.Time

	stats treeStats
}

// Attach authenticates an attach and returns the root the connection sees.
// It is srv9p.Server's Attach.
func (t *Tree) Attach(ctx context.Context, uname, aname, _ string) (srv9p.Node, error) {
	kind, cred, _ := strings.Cut(aname, " ")
	if kind == "admin" {
		if uname != "admin" || t.AdminKey == "" || subtle.ConstantTimeCompare([]byte(cred), []byte(t.AdminKey)) != 1 {
			return nil, gig.ErrPermission
		}
		return srv9p.NewDir(srv9p.Info{Mode: 0o500, Path: qpath("", "/")}, t.statusFile(""),
			srv9p.NewDir(srv9p.Info{Name: "admin", Mode: 0o500, Path: qpath("", "/admin")},
				srv9p.NewFile(srv9p.Info{Name: "ctl", Mode: 0o600, Path: qpath("", "/admin/ctl")}, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
					return srv9p.NewCtl(t.adminCtl), nil
				}))), nil
	}
	if _, err := gig.ParseUser(uname); err != nil {
		return nil, err
	}
	var children []srv9p.Node
	var auth func(context.Context) error // the token's check, for token attaches
	switch kind {
	case "token":
		// The token is checked at attach and again at every open and
		// stream event (from the cache, which a revocation clears), so a
		// revoked or expired token stops working on live connections too.
		auth = func(ctx context.Context) error { return t.S.Authenticate(ctx, uname, cred) }
		sess := netstore.SessionOf(cred)
		if err := auth(ctx); err != nil {
			t.logRefused(uname, sess, "attach", err)
			return nil, err
		}
		t.S.LogCall(uname, netstore.Call{Session: sess, Call: "attach", Result: "ok"})
		children = []srv9p.Node{
			srv9p.NewFile(srv9p.Info{Name: "ctl", Mode: 0o600, Path: qpath(uname, "/ctl")}, func(ctx context.Context, _ srv9p.OpenMode) (srv9p.Handle, error) {
				if err := auth(ctx); err != nil {
					return nil, err
				}
				return srv9p.NewCtl(t.userCtl(uname)), nil
			}),
			&oplogDir{t: t, user: uname, sess: sess, auth: auth},
			&namesDir{t: t, user: uname, auth: auth},
			t.callsFile(uname, auth),
			srv9p.NewFile(srv9p.Info{Name: "push", Mode: 0o600, Path: qpath(uname, "/push")}, func(ctx context.Context, _ srv9p.OpenMode) (srv9p.Handle, error) {
				if err := auth(ctx); err != nil {
					t.logRefused(uname, sess, "push", err)
					return nil, err
				}
				return &pushHandle{t: t, s: t.S, user: uname, sess: sess, auth: auth}, nil
			}),
			srv9p.NewFile(srv9p.Info{Name: "stream", Mode: 0o600, Path: qpath(uname, "/stream")}, func(ctx context.Context, _ srv9p.OpenMode) (srv9p.Handle, error) {
				if err := auth(ctx); err != nil {
					t.logRefused(uname, sess, "stream", err)
					return nil, err
				}
				c, err := t.S.Stream(uname, auth)
				if err != nil {
					return nil, err
				}
				t.S.LogCall(uname, netstore.Call{Session: sess, Call: "stream", Result: "ok"})
				t.stats.streams.Add(1)
				return &streamHandle{srv9p.NewStream(c), &t.stats.streams}, nil
			}),
		}
	case "table":
		if err := t.S.CheckSecret(uname, cred); err != nil {
			return nil, err
		}
		children = []srv9p.Node{t.ctlFile(uname, func(_ context.Context, cmd string) (string, error) {
			f := strings.Fields(cmd)
			if len(f) != 2 || f[0] != "revoke" {
				return "", gig.Errorf(gig.ErrInvalid, "usage: revoke <store_token>")
			}
			if err := t.S.Revoke(uname, f[1]); err != nil {
				return "", err
			}
			t.S.LogCall(uname, netstore.Call{Session: netstore.SessionOf(f[1]), Call: "revoke", Result: "ok (by the table)"})
			return "ok", nil
		})}
	case "confirm":
		if err := t.S.CheckCode(uname, cred); err != nil {
			return nil, err
		}
		children = []srv9p.Node{t.ctlFile(uname, func(_ context.Context, cmd string) (string, error) {
			f := strings.Fields(cmd)
			if len(f) != 4 && len(f) != 5 || f[0] != "confirm" {
				return "", gig.Errorf(gig.ErrInvalid, "usage: confirm <table_addr> <store_id> <secret> [<table_fingerprint>]")
			}
			fp := ""
			if len(f) == 5 {
				fp = f[4]
			}
			return "ok", t.S.ConfirmPinned(uname, cred, f[1], fp, f[2], f[3])
		})}
	default:
		return nil, gig.Errorf(gig.ErrPermission, "aname must be \"token <store_token>\", \"table <secret>\", \"confirm <code>\" or \"admin <key>\"")
	}
	home := guard(srv9p.NewDir(srv9p.Info{Name: uname, Mode: 0o700, Path: qpath(uname, "/home")}, children...), auth)
	users := guard(srv9p.NewDir(srv9p.Info{Name: "user", Mode: 0o500, Path: qpath(uname, "/user")}, home), auth)
	return guard(srv9p.NewDir(srv9p.Info{Mode: 0o500, Path: qpath(uname, "/")}, t.statusFile(uname), users), auth), nil
}

// guard makes d check auth (if not nil) before each walk, stat and
// listing, so that a connection whose token is revoked gets the refusal
// from its first step (a walk from the root fails whole, with the reason,
// instead of stopping short as "not found").
func guard(d srv9p.Dir, auth func(context.Context) error) srv9p.Dir {
	if auth == nil {
		return d
	}
	return &guardedDir{d, auth}
}

type guardedDir struct {
	srv9p.Dir
	auth func(context.Context) error
}

func (g *guardedDir) Stat(ctx context.Context) (srv9p.Info, error) {
	if err := g.auth(ctx); err != nil {
		return srv9p.Info{}, err
	}
	return g.Dir.Stat(ctx)
}

func (g *guardedDir) Walk(ctx context.Context, name string) (srv9p.Node, error) {
	if err := g.auth(ctx); err != nil {
		return nil, err
	}
	return g.Dir.Walk(ctx, name)
}

func (g *guardedDir) List(ctx context.Context) ([]srv9p.Info, error) {
	if err := g.auth(ctx); err != nil {
		return nil, err
	}
	return g.Dir.List(ctx)
}

func (t *Tree) ctlFile(user string, fn srv9p.CtlFunc) srv9p.Node {
	return srv9p.NewFile(srv9p.Info{Name: "ctl", Mode: 0o600, Path: qpath(user, "/ctl")}, func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
		return srv9p.NewCtl(fn), nil
	})
}

// userCtl is the ctl of a client: "cursor" answers "<epoch> <seq>", the
// stream position to resume from after reading the oplogs.
func (t *Tree) userCtl(user string) srv9p.CtlFunc {
	return func(_ context.Context, cmd string) (string, error) {
		switch strings.TrimSpace(cmd) {
		case "cursor":
			epoch, seq, err := t.S.Cursor(user)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%s %d\n", epoch, seq), nil
		}
		if firstField(cmd) == "cursor" {
			return "", gig.Errorf(gig.ErrInvalid, "usage: cursor (it takes no argument)")
		}
		return "", gig.Errorf(gig.ErrInvalid, "unknown command %q; try cursor", firstField(cmd))
	}
}

func (t *Tree) adminCtl(_ context.Context, cmd string) (string, error) {
	f := strings.Fields(cmd)
	switch {
	case len(f) == 3 && f[0] == "user" && f[1] == "add":
		code, err := t.S.AddUser(f[2])
		return "code " + code + "\n", err
	case len(f) == 3 && f[0] == "user" && f[1] == "code":
		code, err := t.S.NewCode(f[2])
		return "code " + code + "\n", err
	case len(f) == 2 && f[0] == "user" && f[1] == "list":
		var b strings.Builder
		for _, u := range t.S.Users() {
			b.WriteString(u + "\n")
		}
		return b.String(), nil
	}
	return "", gig.Errorf(gig.ErrInvalid, "usage: user add <id> | user code <id> | user list")
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// qpath makes the qid path of a file from its user and its path in the
// tree. Oplogs are never removed, so a path is never reused for another file.
func qpath(user, path string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(path))
	return h.Sum64()
}

// oplogDir is /user/<id>/oplog and the folders below it: segs[0] is the
// type, the rest the path so far.
type oplogDir struct {
	t    *Tree
	user string
	sess string // the session of the connection's token (call log)
	segs []string
	auth func(context.Context) error // checks the connection's token
}

func (d *oplogDir) name() string {
	if len(d.segs) == 0 {
		return "oplog"
	}
	return d.segs[len(d.segs)-1]
}

// Stat checks the connection's token, as List does: a revoked token
// loses walks, stats and listings too, not only opens.
func (d *oplogDir) Stat(ctx context.Context) (srv9p.Info, error) {
	if err := d.auth(ctx); err != nil {
		return srv9p.Info{}, err
	}
	return d.info()
}

func (d *oplogDir) info() (srv9p.Info, error) {
	return srv9p.Info{Name: d.name(), Mode: fs.ModeDir | 0o700, Path: qpath(d.user, "/oplog/"+strings.Join(d.segs, "/"))}, nil
}

func (d *oplogDir) child(name string, dir bool) srv9p.Node {
	segs := append(append([]string(nil), d.segs...), name)
	if dir {
		return &oplogDir{t: d.t, user: d.user, sess: d.sess, segs: segs, auth: d.auth}
	}
	return &oplogFile{t: d.t, user: d.user, sess: d.sess, typ: segs[0], path: "/" + strings.Join(segs[1:], "/"), auth: d.auth}
}

func (d *oplogDir) Walk(_ context.Context, name string) (srv9p.Node, error) {
	segs := append(append([]string(nil), d.segs...), name)
	dir, err := d.t.S.Kind(d.user, segs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, gig.ErrNotExist)
	}
	if !dir && len(d.segs) == 0 {
		return nil, fmt.Errorf("%s: %w", name, gig.ErrNotExist)
	}
	return d.child(name, dir), nil
}

func (d *oplogDir) List(ctx context.Context) ([]srv9p.Info, error) {
	if err := d.auth(ctx); err != nil {
		return nil, err
	}
	ents, err := d.t.S.List(d.user, d.segs)
	if err != nil {
		return nil, err
	}
	out := make([]srv9p.Info, 0, len(ents))
	for _, e := range ents {
		if !e.Dir && len(d.segs) == 0 {
			continue
		}
		var info srv9p.Info
		switch c := d.child(e.Name, e.Dir).(type) {
		case *oplogFile:
			if info, err = c.listInfo(); err != nil {
				return nil, err
			}
		case *oplogDir:
			info, _ = c.info()
		}
		out = append(out, info)
	}
	return out, nil
}

// Create makes a folder (a type, or a folder of paths) or an empty oplog.
func (d *oplogDir) Create(ctx context.Context, name string, mode fs.FileMode) (srv9p.Node, error) {
	if err := d.auth(ctx); err != nil {
		return nil, err
	}
	if err := gig.ParseElement(name); err != nil {
		return nil, err
	}
	segs := append(append([]string(nil), d.segs...), name)
	if _, err := d.t.S.Kind(d.user, segs); err == nil {
		return nil, gig.ErrExist
	}
	if mode.IsDir() {
		if err := d.t.S.Mkdir(d.user, segs); err != nil {
			return nil, err
		}
		return d.child(name, true), nil
	}
	if len(d.segs) == 0 {
		return nil, gig.Errorf(gig.ErrPermission, "make a folder for the type first; oplogs live in /oplog/<type>/")
	}
	f := d.child(name, false).(*oplogFile)
	if err := d.t.S.Create(d.user, f.typ, f.path); err != nil {
		return nil, err
	}
	return f, nil
}

// oplogFile is one oplog: read gives its JSON lines, write merges ops.
type oplogFile struct {
	t    *Tree
	user string
	sess string
	typ  string
	path string
	auth func(context.Context) error
}

// Stat checks the connection's token (see oplogDir.Stat).
func (f *oplogFile) Stat(ctx context.Context) (srv9p.Info, error) {
	if err := f.auth(ctx); err != nil {
		return srv9p.Info{}, err
	}
	return f.info()
}

// listInfo is the oplog's entry in its folder's listing: its true length
// and version, as a stat gives them. FUSE clients (mount9p) take a file's
// size from its folder's listing and read no further, so a listed length
// of 0 would make cat read nothing. An oplog the store does not hold in
// memory is loaded for it, within the store's memory budget (-mem);
// programs that want names alone list names/, which loads nothing.
func (f *oplogFile) listInfo() (srv9p.Info, error) {
	if n, ver, ok := f.t.S.Peek(f.user, f.typ, f.path); ok {
		return srv9p.Info{
			Name:    f.path[strings.LastIndexByte(f.path, '/')+1:],
			Mode:    fs.ModeAppend | 0o600,
			Length:  n,
			Path:    qpath(f.user, "/oplog/"+f.typ+f.path),
			Version: uint32(ver),
		}, nil
	}
	return f.info()
}

func (f *oplogFile) info() (srv9p.Info, error) {
	data, ver, err := f.t.S.Read(f.user, f.typ, f.path)
	if err != nil {
		return srv9p.Info{}, err
	}
	return srv9p.Info{
		Name:    f.path[strings.LastIndexByte(f.path, '/')+1:],
		Mode:    fs.ModeAppend | 0o600,
		Length:  int64(len(data)),
		Path:    qpath(f.user, "/oplog/"+f.typ+f.path),
		Version: uint32(ver),
		Mtime:   lastDate(data),
	}, nil
}

// lastDate is the modification time of an oplog: the date of its last
// record, the latest in (date, sha) order; zero (the server's start) for
// an oplog holding only the initial checkpoint.
func lastDate(data []byte) time.Time {
	data = bytes.TrimRight(data, "\n")
	line := data[bytes.LastIndexByte(data, '\n')+1:]
	var r struct {
		Date int64 `json:"date"`
	}
	if json.Unmarshal(line, &r) != nil || r.Date <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(r.Date)
}

func (f *oplogFile) Open(ctx context.Context, _ srv9p.OpenMode) (srv9p.Handle, error) {
	if err := f.auth(ctx); err != nil {
		return nil, err
	}
	return &oplogHandle{f: f}, nil
}

// oplogHandle is an open oplog. Reads from offset 0 take a fresh snapshot
// that later offsets continue, so one read pass sees one version. Writes
// are JSON lines, appended whatever the offset; a line may span writes.
type oplogHandle struct {
	f *oplogFile

	mu   sync.Mutex
	snap []byte
	lb   lineBuffer
}

func (h *oplogHandle) Read(ctx context.Context, p []byte, off int64) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off == 0 || h.snap == nil {
		if err := h.f.auth(ctx); err != nil {
			return 0, err
		}
		data, _, err := h.f.t.S.Read(h.f.user, h.f.typ, h.f.path)
		if err != nil {
			return 0, err
		}
		h.snap = data
	}
	if off >= int64(len(h.snap)) {
		return 0, nil
	}
	return copy(p, h.snap[off:]), nil
}

// Write merges the ops of the complete lines written. If any is refused, the
// write fails naming the first refused line; the others are merged.
func (h *oplogHandle) Write(ctx context.Context, p []byte, _ int64) (int, error) {
	if err := h.f.auth(ctx); err != nil {
		h.f.t.logRefused(h.f.user, h.f.sess, "write", err)
		return 0, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	lines, err := h.lb.add(p)
	if err != nil {
		return 0, err
	}
	if len(lines) == 0 {
		return len(p), nil
	}
	var recs []netstore.Record
	var idx []int // line numbers of recs
	var firstBad error
	var results []string // for the call log
	for i, line := range lines {
		o, err := oplog.Decode(line)
		if err != nil {
			if firstBad == nil {
				firstBad = fmt.Errorf("line %d refused: %w", i+1, oplog.Refusal(err).Err())
			}
			results = append(results, oplog.Refusal(err).String())
			continue
		}
		recs = append(recs, netstore.Record{Type: h.f.typ, Path: h.f.path, Op: o})
		idx = append(idx, i+1)
	}
	start := time.Now()
	res, err := h.f.t.S.Push(ctx, h.f.user, recs)
	h.f.t.stats.push.Since(start)
	if err != nil {
		h.f.t.logRefused(h.f.user, h.f.sess, "write", err)
		return 0, err
	}
	for i, r := range res {
		results = append(results, r.String())
		if err := r.Err(); err != nil && firstBad == nil {
			firstBad = fmt.Errorf("line %d refused: %w", idx[i], err)
		}
	}
	h.f.t.logWrite(h.f.user, h.f.sess, "write", recs, results)
	if firstBad != nil {
		return 0, firstBad
	}
	return len(p), nil
}

// Close reports an unterminated line, never a whole op, dropped: the
// clunk's Rerror (close(2)'s error) and the server's log say so. The
// complete lines before it were merged by their writes.
func (h *oplogHandle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := h.lb.pending(); n > 0 {
		return gig.Errorf(gig.ErrInvalid, "partial line of %d bytes dropped: an op must end with a newline", n)
	}
	return nil
}

// pushHandle is /user/<id>/push: write JSON lines {"type":T,"path":P,"op":{...}}
// (stream events are accepted as they are), read one result line per input
// line: a result code's word, then ": <why>" (oplog.Result.String).
type pushHandle struct {
	t    *Tree
	s    *netstore.Service
	user string
	sess string                      // the session of the connection's token (call log)
	auth func(context.Context) error // the connection's token, checked per write

	mu      sync.Mutex
	lb      lineBuffer
	reply   []byte
	named   srv9p.NamedWrites // the numbered writes done, for named reads
	replyOf int64             // the number of the write whose results reply holds (0: not numbered)
}

// Write takes the records of p; a write at offset k > 0 is numbered k, and
// a read that names it (srv9p.NamedOffset) waits for it to be done.
func (h *pushHandle) Write(ctx context.Context, p []byte, off int64) (int, error) {
	stack.Reserve() // the 9P server's goroutine of this request, about to go deep: one growth, now
	if err := h.auth(ctx); err != nil {
		h.t.logRefused(h.user, h.sess, "push", err)
		h.mu.Lock()
		h.done(off, true)
		h.mu.Unlock()
		return 0, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.write(ctx, p)
	h.done(off, err != nil)
	return n, err
}

// done records, with h.mu held, that the write numbered off (0: not
// numbered) is done and h.reply holds its results (none if it failed).
func (h *pushHandle) done(off int64, failed bool) {
	if failed {
		h.reply = h.reply[:0]
	}
	h.replyOf = off
	h.named.Done(off)
}

// write takes the records of p, with h.mu held, and leaves their results
// in h.reply.
func (h *pushHandle) write(ctx context.Context, p []byte) (int, error) {
	h.reply = h.reply[:0]
	lines, err := h.lb.add(p)
	if err != nil {
		return 0, err
	}
	replies := make([]string, len(lines))
	var recs []netstore.Record
	var idx []int
	for i, line := range lines {
		r, err := netstore.DecodeRecord(line)
		if err != nil {
			replies[i] = oplog.Refusal(err).String()
			continue
		}
		recs = append(recs, r)
		idx = append(idx, i)
	}
	start := time.Now()
	res, err := h.s.Push(ctx, h.user, recs)
	h.t.stats.push.Since(start)
	if err != nil {
		h.t.logRefused(h.user, h.sess, "push", err)
		return 0, err
	}
	for j, r := range res {
		replies[idx[j]] = r.String()
	}
	h.t.logWrite(h.user, h.sess, "push", recs, replies)
	for _, r := range replies {
		h.reply = append(h.reply, oneLine(r)...)
		h.reply = append(h.reply, '\n')
	}
	return len(p), nil
}

// Read reads the results of the last write; while an unterminated line
// waits for the rest of it, they end with a line that says so. A read at
// an offset that names a write (srv9p.NamedOffset) first waits for that
// write to be done.
func (h *pushHandle) Read(ctx context.Context, p []byte, off int64) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if k, o, named := srv9p.ParseNamedOffset(off); named {
		if _, err := h.named.Wait(ctx, &h.mu, k); err != nil {
			return 0, err
		}
		if h.replyOf != k {
			return 0, gig.Errorf(gig.ErrConflict, "the results of write %d are gone: another write came after it", k)
		}
		off = o
	}
	reply := h.reply
	if n := h.lb.pending(); n > 0 {
		reply = append(slices.Clip(reply), fmt.Sprintf("%s: an unterminated line of %d bytes, not a whole op yet: end it with a newline\n", gig.ErrInvalid.Word(), n)...)
	}
	if off >= int64(len(reply)) {
		return 0, nil
	}
	return copy(p, reply[off:]), nil
}

// Close reports an unterminated line dropped, as oplogHandle.Close does.
func (h *pushHandle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := h.lb.pending(); n > 0 {
		return gig.Errorf(gig.ErrInvalid, "partial line of %d bytes dropped: a record must end with a newline", n)
	}
	return nil
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// lineBuffer joins writes into lines: a line may span writes, up to the
// largest op. A write whose last line lacks its newline but is a whole JSON
// value (echo -n, or a client that writes one op per write) ends that line.
type lineBuffer struct{ partial []byte }

// maxLine bounds a line: the largest record (a checkpoint) plus room for
// a push record's type and path.
const maxLine = oplog.MaxLineSize + 2*gig.MaxPathLen

// pending returns the length of the unterminated line held, if any.
func (b *lineBuffer) pending() int { return len(bytes.TrimSpace(b.partial)) }

func (b *lineBuffer) add(p []byte) ([][]byte, error) {
	data := append(b.partial, p...)
	var lines [][]byte
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if line := bytes.TrimSpace(data[:i]); len(line) > 0 {
			lines = append(lines, line)
		}
		data = data[i+1:]
	}
	// Only a line ending as an op does is worth validating: a long line
	// arriving in many writes is not validated at each.
	if t := bytes.TrimSpace(data); len(t) > 0 && t[len(t)-1] == '}' && json.Valid(t) {
		lines = append(lines, t)
		data = nil
	}
	if len(data) > maxLine {
		b.partial = nil
		return nil, gig.Errorf(gig.ErrLimit, "line longer than %d bytes", maxLine)
	}
	if len(lines) == 0 {
		b.partial = data // nothing refers to it: keep growing it in place
	} else {
		b.partial = append([]byte(nil), data...)
	}
	return lines, nil
}
