// Package valuefs serves a client's channels over 9P as plain files that
// stay current: /<channel>/<type>/<path...> reads as the reduced value (a
// JSON line) and a write pushes each JSON line written as a payload;
// /<channel>/events blocks and yields a line {"type","path","value"} per
// change of any path of the channel. Mounted with FUSE, GiG.fs looks like
// files: echo '{"add":1}' >> mnt/chan/set/x; cat mnt/chan/set/x.
package valuefs

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"hash/crc32"
	"hash/fnv"
	"io/fs"
	"strings"
	"sync"
	"time"

	"gigfs.io/gigfs"
	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// listTTL is how long a channel's listing of oplogs is reused by walks.
const listTTL = time.Second

// FS serves the values of a Client's channels.
type FS struct {
	C *gigfs.Client
	// Key, if set, is required as the aname "key <Key>" of every attach.
	Key string

	mu      sync.Mutex
	lists   map[string]listing                 // channel -> its oplogs, recently read
	created map[string]map[gigfs.TypePath]bool // channel -> files and folders made here
}

type listing struct {
	at    time.Time
	paths []gigfs.TypePath
}

// NewServer returns a 9P server of fsys.
func NewServer(fsys *FS) *srv9p.Server {
	return &srv9p.Server{Attach: fsys.attach}
}

func (f *FS) attach(_ context.Context, _, aname, _ string) (srv9p.Node, error) {
	if f.Key != "" && subtle.ConstantTimeCompare([]byte(aname), []byte("key "+f.Key)) != 1 {
		return nil, gig.ErrPermission
	}
	return &rootDir{f: f}, nil
}

func qpath(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// paths returns the oplogs of a channel: what its stores list (cached for a
// moment) and the files and folders made here (a folder is recorded as its
// path with a trailing "/").
func (f *FS) paths(ctx context.Context, channel string, fresh bool) []gigfs.TypePath {
	f.mu.Lock()
	l, ok := f.lists[channel]
	f.mu.Unlock()
	if !ok || fresh || time.Since(l.at) > listTTL {
		ps, err := f.C.Paths(ctx, channel)
		if err == nil {
			l = listing{at: time.Now(), paths: ps}
			f.mu.Lock()
			if f.lists == nil {
				f.lists = make(map[string]listing)
			}
			f.lists[channel] = l
			f.forgetListed(channel, ps)
			f.mu.Unlock()
		}
	}
	out := append([]gigfs.TypePath(nil), l.paths...)
	f.mu.Lock()
	for tp := range f.created[channel] {
		out = append(out, tp)
	}
	f.mu.Unlock()
	return out
}

// forgetListed drops what was made here and the stores now list (a
// folder, once they list a path in it), so that what gig-fs remembers of
// its own creations is only what no store holds yet. Called with f.mu
// held.
func (f *FS) forgetListed(channel string, listed []gigfs.TypePath) {
	made := f.created[channel]
	if len(made) == 0 {
		return
	}
	for _, tp := range listed {
		delete(made, tp)
		for m := range made {
			if m.Type == tp.Type && strings.HasSuffix(m.Path, "/") && strings.HasPrefix(tp.Path, m.Path) {
				delete(made, m)
			}
		}
		if len(made) == 0 {
			break
		}
	}
	if len(made) == 0 {
		delete(f.created, channel)
	}
}

func (f *FS) create(channel string, tp gigfs.TypePath) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.created == nil {
		f.created = make(map[string]map[gigfs.TypePath]bool)
	}
	if f.created[channel] == nil {
		f.created[channel] = make(map[gigfs.TypePath]bool)
	}
	f.created[channel][tp] = true
}

// rootDir lists the channels.
type rootDir struct{ f *FS }

func (d *rootDir) Stat(context.Context) (srv9p.Info, error) {
	return srv9p.Info{Mode: fs.ModeDir | 0o500, Path: qpath("/")}, nil
}

func (d *rootDir) Walk(ctx context.Context, name string) (srv9p.Node, error) {
	d.f.C.WaitTable(ctx) // right after start, the channels are the table's
	for _, ch := range d.f.C.Channels() {
		if ch == name {
			return &dir{f: d.f, channel: ch}, nil
		}
	}
	return nil, gig.ErrNotExist
}

func (d *rootDir) List(ctx context.Context) ([]srv9p.Info, error) {
	var out []srv9p.Info
	d.f.C.WaitTable(ctx)
	for _, ch := range d.f.C.Channels() {
		info, _ := (&dir{f: d.f, channel: ch}).Stat(ctx)
		out = append(out, info)
	}
	return out, nil
}

// dir is a channel (no type), a type folder, or a folder of paths.
type dir struct {
	f       *FS
	channel string
	typ     string   // "" for the channel itself
	segs    []string // path elements so far
}

func (d *dir) prefix() string {
	if len(d.segs) == 0 {
		return "/"
	}
	return "/" + strings.Join(d.segs, "/") + "/"
}

func (d *dir) Stat(context.Context) (srv9p.Info, error) {
	name := d.channel
	switch {
	case len(d.segs) > 0:
		name = d.segs[len(d.segs)-1]
	case d.typ != "":
		name = d.typ
	}
	return srv9p.Info{Name: name, Mode: fs.ModeDir | 0o700, Path: qpath(d.channel, d.typ, strings.Join(d.segs, "/"))}, nil
}

// children returns the names under d: folders and value files.
func (d *dir) children(ctx context.Context, fresh bool) (dirs, files map[string]bool) {
	dirs, files = make(map[string]bool), make(map[string]bool)
	for _, tp := range d.f.paths(ctx, d.channel, fresh) {
		if d.typ == "" {
			dirs[tp.Type] = true
			continue
		}
		rest, ok := strings.CutPrefix(tp.Path, d.prefix())
		if tp.Type != d.typ || !ok || rest == "" {
			continue
		}
		if first, _, more := strings.Cut(rest, "/"); more {
			dirs[first] = true
		} else {
			files[rest] = true
		}
	}
	return dirs, files
}

func (d *dir) child(name string, isDir bool) srv9p.Node {
	if d.typ == "" {
		return &dir{f: d.f, channel: d.channel, typ: name}
	}
	segs := append(append([]string(nil), d.segs...), name)
	if isDir {
		return &dir{f: d.f, channel: d.channel, typ: d.typ, segs: segs}
	}
	return &valueFile{f: d.f, channel: d.channel, typ: d.typ, path: "/" + strings.Join(segs, "/")}
}

func (d *dir) Walk(ctx context.Context, name string) (srv9p.Node, error) {
	if d.typ == "" && len(d.segs) == 0 && name == "events" {
		return &eventsFile{f: d.f, channel: d.channel}, nil
	}
	for _, fresh := range []bool{false, true} {
		dirs, files := d.children(ctx, fresh)
		switch {
		case dirs[name]:
			return d.child(name, true), nil
		case files[name]:
			return d.child(name, false), nil
		}
	}
	return nil, gig.ErrNotExist
}

func (d *dir) List(ctx context.Context) ([]srv9p.Info, error) {
	dirs, files := d.children(ctx, true)
	var out []srv9p.Info
	if d.typ == "" {
		info, _ := (&eventsFile{f: d.f, channel: d.channel}).Stat(ctx)
		out = append(out, info)
	}
	for name := range dirs {
		info, _ := d.child(name, true).Stat(ctx)
		out = append(out, info)
	}
	for name := range files {
		if info, err := d.child(name, false).Stat(ctx); err == nil {
			out = append(out, info)
		}
	}
	return out, nil
}

// Create makes a type folder, a folder of paths, or a value file (a path
// with no op yet: it reads as the reducer's value of an empty oplog).
func (d *dir) Create(_ context.Context, name string, mode fs.FileMode) (srv9p.Node, error) {
	if err := gig.ParseElement(name); err != nil {
		return nil, err
	}
	if d.typ == "" && !mode.IsDir() {
		return nil, gig.Errorf(gig.ErrPermission, "make a folder for the type first: /<channel>/<type>/<path>")
	}
	n := d.child(name, mode.IsDir())
	switch n := n.(type) {
	case *valueFile:
		d.f.create(d.channel, gigfs.TypePath{Type: n.typ, Path: n.path})
	case *dir:
		d.f.create(d.channel, gigfs.TypePath{Type: n.typ, Path: n.prefix()})
	}
	return n, nil
}

// valueFile is one path: read its value, write payloads.
type valueFile struct {
	f                  *FS
	channel, typ, path string
}

func (v *valueFile) value(ctx context.Context) ([]byte, error) {
	val, err := v.f.C.Get(ctx, v.channel, v.typ, v.path)
	if err != nil {
		return nil, err
	}
	return append(append([]byte(nil), val...), '\n'), nil
}

func (v *valueFile) Stat(ctx context.Context) (srv9p.Info, error) {
	val, err := v.value(ctx)
	if err != nil {
		return srv9p.Info{}, err
	}
	return srv9p.Info{
		Name:    v.path[strings.LastIndexByte(v.path, '/')+1:],
		Mode:    fs.ModeAppend | 0o600,
		Length:  int64(len(val)),
		Path:    qpath(v.channel, v.typ, v.path),
		Version: crc32.ChecksumIEEE(val),
	}, nil
}

func (v *valueFile) Open(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
	return &valueHandle{v: v}, nil
}

// valueHandle reads a snapshot of the value taken at offset 0, and pushes
// each JSON line written.
type valueHandle struct {
	v *valueFile

	mu      sync.Mutex
	snap    []byte
	partial []byte
}

func (h *valueHandle) Read(ctx context.Context, p []byte, off int64) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off == 0 || h.snap == nil {
		val, err := h.v.value(ctx)
		if err != nil {
			return 0, err
		}
		h.snap = val
	}
	if off >= int64(len(h.snap)) {
		return 0, nil
	}
	return copy(p, h.snap[off:]), nil
}

// Write pushes every complete line (or the whole write, if it is one JSON
// value without a newline) as a payload.
func (h *valueHandle) Write(ctx context.Context, p []byte, _ int64) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	data := append(h.partial, p...)
	var lines [][]byte
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if l := bytes.TrimSpace(data[:i]); len(l) > 0 {
			lines = append(lines, l)
		}
		data = data[i+1:]
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && json.Valid(t) {
		lines, data = append(lines, t), nil
	}
	if len(data) > 1<<20 {
		h.partial = nil
		return 0, gig.Errorf(gig.ErrLimit, "line longer than 1 MiB")
	}
	h.partial = append([]byte(nil), data...)
	for _, l := range lines {
		if !json.Valid(l) {
			return 0, gig.Errorf(gig.ErrInvalid, "not JSON: %.60s", l)
		}
		if _, err := h.v.f.C.Push(ctx, h.v.channel, h.v.typ, h.v.path, json.RawMessage(l)); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Close reports a line left unfinished by the last write, dropped: the
// clunk's error (close(2)'s) says so.
func (h *valueHandle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(bytes.TrimSpace(h.partial)); n > 0 {
		return gig.Errorf(gig.ErrInvalid, "partial line of %d bytes dropped: a payload must end with a newline", n)
	}
	return nil
}

// eventsFile is /<channel>/events.
type eventsFile struct {
	f       *FS
	channel string
}

func (e *eventsFile) Stat(context.Context) (srv9p.Info, error) {
	return srv9p.Info{Name: "events", Mode: 0o400, Path: qpath(e.channel, "events")}, nil
}

func (e *eventsFile) Open(ctx context.Context, _ srv9p.OpenMode) (srv9p.Handle, error) {
	wctx, cancel := context.WithCancel(context.Background())
	ops, err := e.f.C.WatchOps(wctx, e.channel)
	if err != nil {
		cancel()
		return nil, err
	}
	return srv9p.NewStream(&events{e: e, ops: ops, cancel: cancel}), nil
}

// events turns the ops of a channel into value lines.
type events struct {
	e      *eventsFile
	ops    <-chan gigfs.OpEvent
	cancel context.CancelFunc
}

// Event is a line of /<channel>/events.
type Event struct {
	Type  string          `json:"type"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

func (ev *events) Next(ctx context.Context) ([]byte, error) {
	select {
	case op, ok := <-ev.ops:
		if !ok {
			return nil, gig.ErrClosed
		}
		val, err := ev.e.f.C.Get(ctx, op.Channel, op.Type, op.Path)
		if err != nil {
			val, _ = json.Marshal(err.Error())
		}
		b, _ := json.Marshal(Event{Type: op.Type, Path: op.Path, Value: val})
		return append(b, '\n'), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (ev *events) Close() error {
	ev.cancel()
	return nil
}
