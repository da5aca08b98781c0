package storefs

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// namesDir is /user/<id>/names and the folders below it: the same names
// as /user/<id>/oplog, from the store's folders alone. A listing of oplog/
// stats every oplog it lists (its length is that of its JSON lines, so it
// opens and decodes each); a listing of names/ opens none, so a client
// lists a channel of any size for the cost of its names (gig-ls). Its
// files are empty and cannot be opened: read the oplog of the same name.
type namesDir struct {
	t    *Tree
	user string
	segs []string
	auth func(context.Context) error
}

func (d *namesDir) qpath(segs []string) uint64 {
	return qpath(d.user, "/names/"+strings.Join(segs, "/"))
}

func (d *namesDir) Stat(ctx context.Context) (srv9p.Info, error) {
	if err := d.auth(ctx); err != nil {
		return srv9p.Info{}, err
	}
	name := "names"
	if len(d.segs) > 0 {
		name = d.segs[len(d.segs)-1]
	}
	return srv9p.Info{Name: name, Mode: fs.ModeDir | 0o500, Path: d.qpath(d.segs)}, nil
}

func (d *namesDir) child(name string, dir bool) srv9p.Node {
	segs := append(append([]string(nil), d.segs...), name)
	if dir {
		return &namesDir{t: d.t, user: d.user, segs: segs, auth: d.auth}
	}
	return &nameFile{info: srv9p.Info{Name: name, Mode: 0o400, Path: d.qpath(segs)}, auth: d.auth}
}

func (d *namesDir) Walk(ctx context.Context, name string) (srv9p.Node, error) {
	if err := d.auth(ctx); err != nil {
		return nil, err
	}
	segs := append(append([]string(nil), d.segs...), name)
	dir, err := d.t.S.Kind(d.user, segs)
	if err != nil || !dir && len(d.segs) == 0 {
		return nil, fmt.Errorf("%s: %w", name, gig.ErrNotExist)
	}
	return d.child(name, dir), nil
}

func (d *namesDir) List(ctx context.Context) ([]srv9p.Info, error) {
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
		mode := fs.FileMode(0o400)
		if e.Dir {
			mode = fs.ModeDir | 0o500
		}
		segs := append(append([]string(nil), d.segs...), e.Name)
		out = append(out, srv9p.Info{Name: e.Name, Mode: mode, Path: d.qpath(segs)})
	}
	return out, nil
}

// nameFile is the name of one oplog in names/.
type nameFile struct {
	info srv9p.Info
	auth func(context.Context) error
}

func (f *nameFile) Stat(ctx context.Context) (srv9p.Info, error) {
	if err := f.auth(ctx); err != nil {
		return srv9p.Info{}, err
	}
	return f.info, nil
}

func (f *nameFile) Open(context.Context, srv9p.OpenMode) (srv9p.Handle, error) {
	return nil, gig.Errorf(gig.ErrInvalid, "%s is a name: read the oplog of the same path under oplog/", f.info.Name)
}
