package table

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io/fs"
	"strconv"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// NewServer returns a 9P server of svc's trees. An attach (PROTOCOL.md)
// sees, by credential:
//
//	master   /user/<id>/{ctl, table, tablewait, channel/<channel>}
//	session  the same; ctl refuses the session commands
//	store    /user/<id>/check/<store_token>
//	admin    /admin/ctl
//
// Set the server's limits, then call its Serve.
func NewServer(svc *Service) *srv9p.Server {
	srv := &srv9p.Server{
		Attach: func(ctx context.Context, uname, aname, remoteAddr string) (srv9p.Node, error) {
			p, err := svc.Authenticate(ctx, uname, aname, remoteAddr)
			if err != nil {
				return nil, err
			}
			return svc.root(p), nil
		},
		Logf: func(format string, args ...any) { svc.logf("table: "+format, args...) },
	}
	svc.stats.srv.Store(srv)
	return srv
}

// qpath makes the qid path of a file from the names that identify it.
func qpath(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

const (
	dirMode  = fs.ModeDir | 0o500
	ctlMode  = 0o600
	readMode = 0o400
)

// root returns the tree an attach of p sees.
func (s *Service) root(p *Principal) srv9p.Dir {
	if p.Kind() == KindAdmin {
		return srv9p.NewDir(srv9p.Info{Mode: dirMode, Path: qpath("admin", "/")}, s.statusFile("admin"),
			srv9p.NewDir(srv9p.Info{Name: "admin", Mode: dirMode, Path: qpath("admin", "/admin")},
				s.ctlFile(qpath("admin", "/admin/ctl"), func(ctx context.Context, cmd string) (string, error) {
					return s.adminCtl(ctx, cmd)
				})))
	}
	id := p.User()
	var files []srv9p.Node
	if p.Kind() == KindStore {
		files = []srv9p.Node{&checkDir{s, p}}
	} else {
		files = []srv9p.Node{
			s.ctlFile(qpath(id, "ctl"), func(ctx context.Context, cmd string) (string, error) {
				return s.userCtl(ctx, p, cmd)
			}),
			&tableFile{s, p},
			s.tableWaitFile(p),
			&channelDir{s, p},
		}
	}
	return srv9p.NewDir(srv9p.Info{Mode: dirMode, Path: qpath(id, "/")}, s.statusFile(id),
		srv9p.NewDir(srv9p.Info{Name: "user", Mode: dirMode, Path: qpath(id, "/user")},
			srv9p.NewDir(srv9p.Info{Name: id, Mode: dirMode, Path: qpath(id, "/user/id")}, files...)))
}

func (s *Service) ctlFile(path uint64, fn srv9p.CtlFunc) srv9p.File {
	return srv9p.NewFile(srv9p.Info{Name: "ctl", Mode: ctlMode, Path: path},
		func(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
			return srv9p.NewCtl(fn), nil
		})
}

// tableFile is /user/<id>/table: the whole mount table, JSON.
type tableFile struct {
	s *Service
	p *Principal
}

func (f *tableFile) Stat(context.Context) (srv9p.Info, error) {
	mt, ti, err := f.s.table(f.p, false)
	if err != nil {
		return lapsed("table", readMode, qpath(f.p.User(), "table"), err)
	}
	return f.info(mt, ti), nil
}

// lapsed is the stat of a file whose principal may no longer read it:
// the stat succeeds, so that a walk to the file does too and the open
// that follows gives the client the reason. (A walk of several names that
// fails past the first only says "not found".) A missing file stays
// missing.
func lapsed(name string, mode fs.FileMode, path uint64, err error) (srv9p.Info, error) {
	if errors.Is(err, gig.ErrNotExist) {
		return srv9p.Info{}, err
	}
	return srv9p.Info{Name: name, Mode: mode, Path: path}, nil
}

func (f *tableFile) info(mt MountTable, ti TableInfo) srv9p.Info {
	return srv9p.Info{Name: "table", Mode: readMode, Length: int64(len(mountJSON(mt))),
		Path: qpath(f.p.User(), "table"), Version: uint32(ti.Version), Mtime: ti.Mtime}
}

func (f *tableFile) Open(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
	mt, _, err := f.s.Table(f.p)
	if err != nil {
		return nil, err
	}
	return srv9p.NewStatic(mountJSON(mt)), nil
}

// mountJSON encodes a mount table: {"<channel>":[{"store_id":..,"store_addr":..}],...}.
func mountJSON(mt MountTable) []byte {
	if mt == nil {
		mt = MountTable{}
	}
	b, _ := json.Marshal(mt) // cannot fail: strings only
	return append(b, '\n')
}

// channelDir is /user/<id>/channel/: a file per channel.
type channelDir struct {
	s *Service
	p *Principal
}

func (d *channelDir) Stat(context.Context) (srv9p.Info, error) {
	_, ti, err := d.s.table(d.p, false)
	if err != nil {
		return lapsed("channel", dirMode, qpath(d.p.User(), "channel"), err)
	}
	return srv9p.Info{Name: "channel", Mode: dirMode, Path: qpath(d.p.User(), "channel"),
		Version: uint32(ti.Version), Mtime: ti.Mtime}, nil
}

func (d *channelDir) Walk(_ context.Context, name string) (srv9p.Node, error) {
	if _, err := gig.ParseChannel(name); err != nil {
		return nil, gig.ErrNotExist
	}
	_, born, _, err := d.s.channel(d.p, name, false)
	if err != nil && errors.Is(err, gig.ErrNotExist) {
		return nil, err
	}
	return &channelFile{d.s, d.p, name, born}, nil // if err, the open tells why
}

func (d *channelDir) List(context.Context) ([]srv9p.Info, error) {
	chans, ti, err := d.s.channels(d.p)
	if err != nil {
		return nil, err
	}
	list := make([]srv9p.Info, len(chans))
	for i, c := range chans {
		list[i] = channelInfo(d.p.User(), c.name, c.born, c.stores, ti)
	}
	return list, nil
}

func channelInfo(user, name string, born uint64, refs []StoreRef, ti TableInfo) srv9p.Info {
	return srv9p.Info{Name: name, Mode: readMode, Length: int64(len(storesJSON(refs))),
		Path:    qpath(user, "channel", name, strconv.FormatUint(born, 10)),
		Version: uint32(ti.Version), Mtime: ti.Mtime}
}

// storesJSON encodes the stores of a channel: [{"store_id":..,"store_addr":..}].
func storesJSON(refs []StoreRef) []byte {
	if refs == nil {
		refs = []StoreRef{}
	}
	b, _ := json.Marshal(refs)
	return append(b, '\n')
}

// channelFile is /user/<id>/channel/<channel>: its stores, JSON.
type channelFile struct {
	s    *Service
	p    *Principal
	name string
	born uint64
}

func (f *channelFile) get(use bool) ([]StoreRef, TableInfo, error) {
	refs, born, ti, err := f.s.channel(f.p, f.name, use)
	if err == nil && born != f.born {
		err = gig.ErrNotExist // removed and made again: another file
	}
	return refs, ti, err
}

func (f *channelFile) Stat(context.Context) (srv9p.Info, error) {
	refs, ti, err := f.get(false)
	if err != nil {
		return lapsed(f.name, readMode, qpath(f.p.User(), "channel", f.name, strconv.FormatUint(f.born, 10)), err)
	}
	return channelInfo(f.p.User(), f.name, f.born, refs, ti), nil
}

func (f *channelFile) Open(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
	refs, _, err := f.get(true)
	if err != nil {
		return nil, err
	}
	return srv9p.NewStatic(storesJSON(refs)), nil
}

// checkDir is /user/<id>/check/: any name walks, and opening
// check/<store_token> checks the token (PROTOCOL.md). It lists nothing.
type checkDir struct {
	s *Service
	p *Principal
}

func (d *checkDir) Stat(context.Context) (srv9p.Info, error) {
	return srv9p.Info{Name: "check", Mode: dirMode, Path: qpath(d.p.User(), "check")}, nil
}

func (d *checkDir) Walk(_ context.Context, name string) (srv9p.Node, error) {
	return &checkFile{d.s, d.p, name}, nil
}

func (d *checkDir) List(context.Context) ([]srv9p.Info, error) { return nil, nil }

// checkFile is /user/<id>/check/<store_token>. A walk to it always
// succeeds, so that the refusal comes back whole from the open: a client
// walking several names at once gets only "not found" from a failed walk.
type checkFile struct {
	s     *Service
	p     *Principal
	token string
}

func (f *checkFile) Stat(context.Context) (srv9p.Info, error) {
	info := srv9p.Info{Name: f.token, Mode: readMode, Path: qpath(f.p.User(), "check", f.token)}
	until, err := f.s.check(f.p, f.token, false)
	switch {
	case err == nil:
		info.Length = int64(len(checkJSON(f.p.id, until)))
	case !errors.Is(err, gig.ErrPermission):
		return lapsed(f.token, readMode, info.Path, err)
	}
	return info, nil
}

func (f *checkFile) Open(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
	until, err := f.s.Check(f.p, f.token)
	if err != nil {
		return nil, err
	}
	return srv9p.NewStatic(checkJSON(f.p.id, until)), nil
}

// checkJSON is the answer of a good check: {"store":"<store_id>","until":<unix ms>}.
func checkJSON(storeID string, until time.Time) []byte {
	b, _ := json.Marshal(struct {
		Store string `json:"store"`
		Until int64  `json:"until"`
	}{storeID, until.UnixMilli()})
	return append(b, '\n')
}
