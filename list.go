package gigfs

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/netstore/remote"
)

// Listing answers from names: a store lists the folders of its oplogs
// (a remote store its names/ tree, PROTOCOL.md), and no oplog is read, so
// listing a channel costs its names, whatever its oplogs hold.

// folderSegs is the store folder of the oplogs of type typ of a channel
// below dir ("" or a clean "/a/b"): type, channel, then dir's elements.
func folderSegs(typ, channel, dir string) []string {
	segs := []string{typ, channel}
	if dir != "" {
		segs = append(segs, strings.Split(dir[1:], "/")...)
	}
	return segs
}

// listRemote lists the oplogs of a channel below dir on a remote store,
// every type.
func listRemote(ctx context.Context, r *remote.Remote, channel, dir string) ([]TypePath, error) {
	types, err := r.Types(ctx)
	if err != nil {
		return nil, err
	}
	var out []TypePath
	for _, typ := range types {
		paths, err := r.List(ctx, folderSegs(typ, channel, dir))
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			out = append(out, TypePath{typ, dir + p})
		}
	}
	return out, nil
}

// splitPrefix splits a path prefix into the folder the stores list (all
// its whole elements) and what the names in it must start with: "/a/b"
// is folder "/a" and "b"; "/a/" is folder "/a" and "".
func splitPrefix(prefix string) (dir, rest string, err error) {
	if prefix == "" || prefix == "/" {
		return "", "", nil
	}
	if !strings.HasPrefix(prefix, "/") {
		return "", "", gig.Errorf(gig.ErrInvalid, "path prefix %q does not start with /", prefix)
	}
	i := strings.LastIndexByte(prefix, '/')
	dir, rest = prefix[:i], prefix[i+1:]
	if dir != "" {
		if _, err := gig.ParsePath(dir); err != nil {
			return "", "", fmt.Errorf("path prefix %q: %w", prefix, err)
		}
	}
	return dir, rest, nil
}

// Paths lists the oplogs of a channel: the union of what its stores that
// answer hold and what the client has loaded, sorted.
func (c *Client) Paths(ctx context.Context, channel string) ([]TypePath, error) {
	return c.List(ctx, channel, "")
}

// List lists the oplogs of a channel whose path starts with prefix ("" for
// all; "/notes/" for those below /notes, "/no" for /notes/... and /now):
// the union of what its stores that answer hold and what the client has
// loaded, sorted by type then path. The stores answer from names: no
// oplog is read. It fails only when no store answers and the client has
// loaded none.
func (c *Client) List(ctx context.Context, channel, prefix string) ([]TypePath, error) {
	dir, _, err := splitPrefix(prefix)
	if err != nil {
		return nil, err
	}
	stores, err := c.stores(ctx, channel)
	if err != nil {
		return nil, err
	}
	seen := make(map[TypePath]bool)
	c.mu.Lock()
	for k := range c.paths {
		if k.channel == channel && strings.HasPrefix(k.path, prefix) {
			seen[TypePath{k.typ, k.path}] = true
		}
	}
	c.mu.Unlock()
	type answer struct {
		list []TypePath
		err  error
	}
	answers := make(chan answer, len(stores))
	for _, s := range stores {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
			defer cancel()
			l, err := s.List(cctx, channel, dir)
			answers <- answer{l, err}
		}()
	}
	answered := 0
	for range stores {
		a := <-answers
		if a.err != nil {
			continue
		}
		answered++
		for _, tp := range a.list {
			if strings.HasPrefix(tp.Path, prefix) {
				seen[tp] = true
			}
		}
	}
	if answered == 0 && len(seen) == 0 {
		return nil, fmt.Errorf("%w for channel %s", ErrNoAnswer, channel)
	}
	out := make([]TypePath, 0, len(seen))
	for tp := range seen {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}
