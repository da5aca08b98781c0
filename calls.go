package gigfs

import (
	"context"

	"gigfs.io/gigfs/netstore/remote"
)

// StoreCalls is the call log of the user on one store (netstore.Call
// lines, oldest first), or why it could not be read.
type StoreCalls struct {
	Store string
	Calls []byte
	Err   error
}

// callsReader is a store that keeps a call log: remote stores and on-disk
// local ones (in-memory stores keep none).
type callsReader interface {
	calls(ctx context.Context) ([]byte, error)
}

func (rs *remoteStore) calls(ctx context.Context) ([]byte, error) {
	r := rs.firstConn(ctx)
	if r == nil {
		return nil, errOffline
	}
	b, err := r.Calls(ctx)
	if err != nil {
		rs.fail(r, err)
	}
	return b, err
}

func (d *diskStore) calls(context.Context) ([]byte, error) { return d.svc.Calls(localUser) }

func (s *sharedStore) calls(ctx context.Context) ([]byte, error) {
	var out []byte
	err := s.call(ctx, func(d *diskStore) (err error) {
		out, err = d.calls(ctx)
		return err
	}, func(r *remote.Remote) (err error) {
		out, err = r.Calls(ctx)
		return err
	})
	return out, err
}

// Calls reads the user's call log on each store of a channel that keeps
// one: which session did what, and what was refused (netstore.Call).
func (c *Client) Calls(ctx context.Context, channel string) ([]StoreCalls, error) {
	stores, err := c.stores(ctx, channel)
	if err != nil {
		return nil, err
	}
	var out []StoreCalls
	for _, s := range stores {
		cr, ok := s.(callsReader)
		if !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		b, err := cr.calls(cctx)
		cancel()
		out = append(out, StoreCalls{Store: s.Name(), Calls: b, Err: err})
	}
	return out, nil
}
