package netstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/atomicfile"
	"gigfs.io/gigfs/oplog"
)

// A Record is one op or checkpoint pushed to one oplog.
type Record struct {
	Type string
	Path string
	Op   oplog.Op
}

// file returns where the oplog (typ, path) of u lives on disk.
func (u *user) file(typ, path string) string {
	return filepath.Join(u.dir, "root", typ, filepath.FromSlash(strings.TrimPrefix(path, "/")))
}

// checkKey validates a type and a path and returns the path's clean form.
func checkKey(typ, path string) (string, error) {
	_, p, err := gig.ParseTypePath(typ, path)
	return string(p), err
}

// log returns the oplog (typ, path) of u, pinned: the caller unpins it
// (u.cache.unpin). See user.open for create and the errors.
func (u *user) log(typ, path string, create bool) (*logEntry, error) {
	return u.cache.get(u, typ, path, create)
}

// mkdirs makes the folders of an oplog's parent, refusing to go through an
// oplog file.
func (u *user) mkdirs(dir string) error {
	root := filepath.Join(u.dir, "root")
	rel, err := filepath.Rel(root, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("bad folder %s", dir)
	}
	p := root
	for _, seg := range strings.Split(rel, string(filepath.Separator)) {
		p = filepath.Join(p, seg)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return fmt.Errorf("%s is an oplog, not a folder", "/"+filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator))))
		}
	}
	return atomicfile.MkdirAll(dir, 0o700)
}

// Read returns the oplog (typ, path) of a user as JSON lines, checkpoint
// first, and its version, which moves on every change and differs across
// runs of the store (a qid version a client may cache by).
func (s *Service) Read(id, typ, path string) ([]byte, uint64, error) {
	u, err := s.user(id)
	if err != nil {
		return nil, 0, err
	}
	if path, err = checkKey(typ, path); err != nil {
		return nil, 0, err
	}
	e, err := u.log(typ, path, false)
	if err != nil {
		return nil, 0, err
	}
	defer u.cache.unpin(e)
	data, ver := e.encoded(u.cache)
	return data, uint64(s.verBase) + ver, nil
}

// Log returns a copy of the oplog (typ, path) of a user; an oplog the store
// does not hold is an empty log.
func (s *Service) Log(id, typ, path string) (*oplog.Log, error) {
	u, err := s.user(id)
	if err != nil {
		return nil, err
	}
	if path, err = checkKey(typ, path); err != nil {
		return nil, err
	}
	e, err := u.log(typ, path, false)
	if errors.Is(err, fs.ErrNotExist) {
		return oplog.NewLog(), nil
	}
	if err != nil {
		return nil, err
	}
	defer u.cache.unpin(e)
	return e.d.Snapshot(), nil
}

// Push merges records into the user's oplogs and returns, once the accepted
// ones are durable, one result per record, in order. A record with a bad
// type or path is refused on its own, and so is an oplog's share past the
// write-ahead log's record bound (Config.WALMaxRecord); the other oplogs
// go on. An error means the write-ahead log failed or ctx ended: what the
// results do not report as accepted was not acknowledged.
func (s *Service) Push(ctx context.Context, id string, recs []Record) ([]oplog.Result, error) {
	u, err := s.user(id)
	if err != nil {
		return nil, err
	}
	res := make([]oplog.Result, len(recs))
	// Group by oplog, keeping each oplog's records in order: one merge, one
	// append and one fsync per oplog.
	groups := make(map[logKey][]int)
	var order []logKey
	for i := range recs {
		path, err := checkKey(recs[i].Type, recs[i].Path)
		if err == nil {
			// Checked before the oplog is opened, so that refused ops do
			// not make empty oplogs (Merge checks again).
			err = recs[i].Op.Check()
		}
		if err == nil {
			err = s.checkDate(id, recs[i].Type, path, &recs[i].Op)
		}
		if err != nil {
			res[i] = oplog.Refusal(err)
			continue
		}
		k := logKey{recs[i].Type, path}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	s.cache.room(ctx)
	return res, s.pushJournaled(ctx, u, order, groups, recs, res)
}

// folder checks segs (a type and path elements below a user's root) and
// returns the user and where they lead on disk.
func (s *Service) folder(id string, segs []string) (*user, string, error) {
	u, err := s.user(id)
	if err != nil {
		return nil, "", err
	}
	for _, seg := range segs {
		if err := gig.ParseElement(seg); err != nil {
			return nil, "", err
		}
	}
	return u, filepath.Join(append([]string{u.dir, "root"}, segs...)...), nil
}

// An Entry is one name in a folder of oplogs.
type Entry struct {
	Name string
	Dir  bool // a folder (a type, or a path prefix), else an oplog
}

// List lists the folder of oplogs at segs below a user's root: no segments
// lists the types, one the top of a type, and so on.
func (s *Service) List(id string, segs []string) ([]Entry, error) {
	_, dir, err := s.folder(id, segs)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) && len(segs) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", strings.Join(segs, "/"), err)
	}
	out := make([]Entry, 0, len(ents))
	for _, e := range ents {
		if gig.ParseElement(e.Name()) != nil {
			continue // temporary files
		}
		out = append(out, Entry{Name: e.Name(), Dir: e.IsDir()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Kind tells whether segs below a user's root name a folder, an oplog, or
// nothing (an error wrapping fs.ErrNotExist).
func (s *Service) Kind(id string, segs []string) (dir bool, err error) {
	_, name, err := s.folder(id, segs)
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(name)
	if err != nil {
		return false, fmt.Errorf("%s: %w", strings.Join(segs, "/"), fs.ErrNotExist)
	}
	return fi.IsDir(), nil
}

// Mkdir makes a folder of oplogs (a type, or a folder of paths) for a user.
func (s *Service) Mkdir(id string, segs []string) error {
	u, dir, err := s.folder(id, segs)
	if err != nil {
		return err
	}
	return u.mkdirs(dir)
}

// Create makes an empty oplog (only the initial checkpoint) if there is none.
func (s *Service) Create(id, typ, path string) error {
	u, err := s.user(id)
	if err != nil {
		return err
	}
	if path, err = checkKey(typ, path); err != nil {
		return err
	}
	e, err := u.log(typ, path, true)
	if err != nil {
		return err
	}
	u.cache.unpin(e)
	return nil
}

// DecodeRecord parses one line of /user/<id>/push: a JSON object with the
// type, the path and the op, as the stream yields them (seq and epoch, if
// present, are ignored).
//
// Names are taken as they are written, never mended: a line that is not
// valid UTF-8, or whose type or path has an escape that decodes to no
// character (a lone surrogate, which JSON decoders replace with U+FFFD),
// is refused.
func DecodeRecord(line []byte) (Record, error) {
	if !utf8.Valid(line) {
		return Record{}, fmt.Errorf("%w: the line is not valid UTF-8", oplog.ErrMalformed)
	}
	// The shape AppendRecord writes (and the stream's), with no escape in
	// the type and path: no decoder needed for the envelope. The op is
	// decoded, and checked, as any other.
	if ev, ok := parseLineFast(line); ok {
		o, err := oplog.Decode(ev.Op)
		if err != nil {
			return Record{}, err
		}
		return Record{Type: ev.Type, Path: ev.Path, Op: o}, nil
	}
	return decodeRecordSlow(line)
}

// decodeRecordSlow is DecodeRecord for any JSON form of a push line.
func decodeRecordSlow(line []byte) (Record, error) {
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return Record{}, fmt.Errorf("%w: %v", oplog.ErrMalformed, err)
	}
	if rest := bytes.TrimSpace(line[dec.InputOffset():]); len(rest) > 0 {
		return Record{}, fmt.Errorf("%w: trailing data after the record", oplog.ErrMalformed)
	}
	if ev.Op == nil {
		return Record{}, fmt.Errorf("%w: a push line needs type, path and op", oplog.ErrMalformed)
	}
	if replaced(line, ev.Type) || replaced(line, ev.Path) {
		return Record{}, fmt.Errorf("%w: the type or path has an escape of no character (a lone surrogate)", oplog.ErrMalformed)
	}
	o, err := oplog.Decode(ev.Op)
	if err != nil {
		return Record{}, err
	}
	return Record{Type: ev.Type, Path: ev.Path, Op: o}, nil
}

// AppendRecord appends the push line of r, without the newline.
func AppendRecord(b []byte, r *Record) []byte {
	return appendEvent(b, 0, "", r.Type, r.Path, r.Op.AppendJSON(nil))
}

// checkDate refuses an op dated past the store's horizon, and logs it (at
// most once a minute: a client far ahead would push many).
func (s *Service) checkDate(id, typ, path string, o *oplog.Op) error {
	now := s.cfg.Now().UnixMilli()
	err := oplog.CheckHorizon(o, now, s.cfg.DateHorizon)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%w (gig-store -date-horizon)", err)
	if last := s.futureLogged.Load(); now-last >= time.Minute.Milliseconds() && s.futureLogged.CompareAndSwap(last, now) {
		s.cfg.Logf("store: user %s: %s %s: refused op %.12s: %v", id, typ, path, o.Sha, err)
	}
	return err
}

// replaced reports whether the decoded name s holds U+FFFD that line does
// not spell, as the character or as its escape: a JSON decoder put it in
// place of an escape of no character.
func replaced(line []byte, s string) bool {
	if !strings.ContainsRune(s, utf8.RuneError) {
		return false
	}
	return !bytes.Contains(line, []byte(string(utf8.RuneError))) && !bytes.Contains(bytes.ToLower(line), []byte(`\ufffd`))
}
