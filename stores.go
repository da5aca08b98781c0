package gigfs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// A Store holds oplogs for the client: a local one in memory or on disk,
// or a remote store over 9P (Client.Stores returns those of a channel).
// Paths here are store paths ("/"+channel+path). Every kind passes the same
// conformance suite (stores_test.go: empty reads, each result code,
// covered echoes, superseded and incomparable checkpoints, bad names,
// listing order, reopening). A store's stream of what it accepts, read
// from a cursor, is a netstore.EventStream: netstore.Cursor for an
// on-disk store, remote.StreamReader for a remote one (the memory store
// has none: the client hears its own pushes); the client follows them for
// Client.Watch.
type Store interface {
	// Name identifies the store in reports and logs.
	Name() string
	LogReader
	Pusher
	Lister
	// Close releases the store.
	Close() error
}

// A LogReader reads oplogs.
type LogReader interface {
	// Read returns a copy of the oplog (an empty log if the store has
	// none).
	Read(ctx context.Context, typ, spath string) (*oplog.Log, error)
}

// A Pusher takes records.
type Pusher interface {
	// Push merges records and returns one result per record, in order,
	// once the accepted ones are durable. A record with a bad type or path
	// is refused on its own (oplog.CodeInvalid); an error means the push
	// as a whole failed, and what the results do not say accepted was not
	// acknowledged.
	Push(ctx context.Context, recs []netstore.Record) ([]oplog.Result, error)
}

// A Lister lists oplogs from their names.
type Lister interface {
	// List returns the oplogs of a channel the store holds below dir (""
	// for all, else a clean folder path "/a/b"): (type, path), paths
	// relative to the channel, by type and then path element by element
	// (sortTypePaths). It answers from names: no oplog is read.
	List(ctx context.Context, channel, dir string) ([]TypePath, error)
}

// A TypePath names an oplog of a channel.
type TypePath struct{ Type, Path string }

// errOffline is a remote store that is not connected now.
var errOffline = errors.New("store offline")

// memStore keeps oplogs in memory.
type memStore struct {
	id   string
	mu   sync.Mutex
	logs map[[2]string]*oplog.Log
}

func newMemStore(id string) *memStore {
	return &memStore{id: id, logs: make(map[[2]string]*oplog.Log)}
}

func (m *memStore) Name() string { return m.id }

func (m *memStore) Read(_ context.Context, typ, spath string) (*oplog.Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.logs[[2]string{typ, spath}]; ok {
		return l.Clone(), nil
	}
	return oplog.NewLog(), nil
}

func (m *memStore) Push(_ context.Context, recs []netstore.Record) ([]oplog.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := make([]oplog.Result, len(recs))
	for i, r := range recs {
		path, err := checkPath(r.Type, r.Path)
		if err == nil {
			// The bound an on-disk local store and gig-store keep too.
			err = oplog.CheckHorizon(&r.Op, time.Now().UnixMilli(), oplog.DefaultHorizon)
		}
		if err != nil {
			res[i] = oplog.Refusal(err)
			continue
		}
		k := [2]string{r.Type, path}
		l, ok := m.logs[k]
		if !ok {
			l = oplog.NewLog()
			m.logs[k] = l
		}
		res[i] = l.Merge(r.Op)
	}
	return res, nil
}

func (m *memStore) Close() error { return nil }

func (m *memStore) List(_ context.Context, channel, dir string) ([]TypePath, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []TypePath
	for k := range m.logs {
		if rest, ok := strings.CutPrefix(k[1], "/"+channel+"/"); ok && strings.HasPrefix("/"+rest, dir+"/") {
			out = append(out, TypePath{k[0], "/" + rest})
		}
	}
	sortTypePaths(out)
	return out, nil
}

// sortTypePaths puts oplog names in the order every store lists them: by
// type, then by path element by element (a folder's oplogs before the
// next name: "/a/b" before "/a-b"), the order of a walk of sorted folders.
func sortTypePaths(tps []TypePath) {
	slices.SortFunc(tps, func(a, b TypePath) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return slices.Compare(strings.Split(a.Path, "/"), strings.Split(b.Path, "/"))
	})
}

// localUser is the one user of an on-disk local store.
const localUser = "local"

// diskStore keeps oplogs on disk, with the store's own code (package
// netstore) used in-process: the same files, fsyncs and checks as a
// gig-store. The process that serves an on-disk local store to the others
// of its user uses it (localshare.go).
type diskStore struct {
	path string
	svc  *netstore.Service
}

func (d *diskStore) name() string { return "local:" + d.path }

func (d *diskStore) read(_ context.Context, typ, spath string) (*oplog.Log, error) {
	return d.svc.Log(localUser, typ, spath)
}

func (d *diskStore) push(ctx context.Context, recs []netstore.Record) ([]oplog.Result, error) {
	return d.svc.Push(ctx, localUser, recs)
}

func (d *diskStore) close() error { return d.svc.Close() }

func (d *diskStore) list(_ context.Context, channel, dir string) ([]TypePath, error) {
	types, err := d.svc.List(localUser, nil)
	if err != nil {
		return nil, err
	}
	var out []TypePath
	var walk func(segs []string) error
	walk = func(segs []string) error {
		ents, err := d.svc.List(localUser, segs)
		if err != nil {
			return err
		}
		for _, e := range ents {
			next := append(append([]string(nil), segs...), e.Name)
			if e.Dir {
				if err := walk(next); err != nil {
					return err
				}
				continue
			}
			out = append(out, TypePath{next[0], "/" + strings.Join(next[2:], "/")})
		}
		return nil
	}
	for _, t := range types {
		if !t.Dir {
			continue
		}
		segs := folderSegs(t.Name, channel, dir)
		if isDir, err := d.svc.Kind(localUser, segs); err != nil || !isDir {
			continue // no oplog of this channel has this type
		}
		if err := walk(segs); err != nil {
			return nil, err
		}
	}
	return out, nil
}
