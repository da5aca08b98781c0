package gigfs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

// remoteStore is a store reached over 9P. A goroutine keeps it connected:
// it dials with a store token from the table, follows the store's stream,
// and when the connection comes (back) up asks the client to sync the
// channels the store serves. Calls made while it is down fail at once with
// errOffline; a call that fails hangs up, and the goroutine reconnects.
type remoteStore struct {
	c     *Client
	id    string
	addr  string
	trust srv9p.Trust // the fingerprint the table pinned, or the CA file

	mu    sync.Mutex
	r     *remote.Remote // nil while down
	sr    *remote.StreamReader
	token string
	epoch string // stream cursor, to resume without missing events
	seq   uint64
	// doneEpoch and doneSeq are the position of the last event handed
	// to the client in full (cursorOf).
	doneEpoch string
	doneSeq   uint64
	closed    bool
	lost      bool               // the last connect could not resume the stream
	downSaid  bool               // Config.OnStore was told the store is down
	stop      context.CancelFunc // ends run
	tried     chan struct{}      // closed when the first connection attempt has ended

	// wmu orders what the client asks of the stream (want) with the
	// connect that opens it, so that a want is either in the filter the
	// stream opens with or sent on it.
	wmu sync.Mutex
	// wants are the oplogs ("/<channel>/<path>") and channels
	// ("/<channel>/") asked of the store's stream; guarded by wmu.
	wants map[string]bool
}

func newRemoteStore(c *Client, id, addr, fingerprint string) *remoteStore {
	trust := srv9p.Trust{Fingerprint: fingerprint}
	if rt := c.cfg.RemoteTable; rt != nil && fingerprint == "" {
		trust.CAFile = rt.CAFile
	}
	rs := &remoteStore{c: c, id: id, addr: addr, trust: trust, tried: make(chan struct{}), wants: make(map[string]bool)}
	if pos, ok := c.cfg.Resume[id]; ok {
		rs.epoch, rs.seq = pos.Epoch, pos.Seq
		rs.doneEpoch, rs.doneSeq = pos.Epoch, pos.Seq
	}
	return rs
}

func (rs *remoteStore) Name() string { return "store " + rs.id + " at " + rs.addr }

func (rs *remoteStore) conn() *remote.Remote {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.r
}

// firstConn returns the connection, waiting for the first connection
// attempt (within ctx), so that a first read or listing right after start
// is not answered by the other stores alone; once the store has been down,
// it answers nil at once until the store is back.
func (rs *remoteStore) firstConn(ctx context.Context) *remote.Remote {
	select {
	case <-rs.tried:
	case <-ctx.Done():
	}
	return rs.conn()
}

func (rs *remoteStore) Read(ctx context.Context, typ, spath string) (*oplog.Log, error) {
	r := rs.firstConn(ctx)
	if r == nil {
		return nil, errOffline
	}
	rs.want(ctx, spath) // before the read: no event after it is missed
	l, err := r.Read(ctx, typ, spath)
	if err != nil {
		rs.fail(r, err)
	}
	return l, err
}

func (rs *remoteStore) Push(ctx context.Context, recs []netstore.Record) ([]oplog.Result, error) {
	r := rs.conn()
	if r == nil {
		return nil, errOffline
	}
	res, err := r.Push(ctx, recs)
	if err != nil {
		rs.fail(r, err)
	}
	return res, err
}

func (rs *remoteStore) List(ctx context.Context, channel, dir string) ([]TypePath, error) {
	r := rs.firstConn(ctx)
	if r == nil {
		return nil, errOffline
	}
	out, err := listRemote(ctx, r, channel, dir)
	if err != nil {
		rs.fail(r, err)
	}
	return out, err
}

// fail hangs up a connection whose call failed for want of a working
// connection (see connLost); the run loop reconnects. An answer of the
// store, a refusal or a bad name, leaves the connection up: hanging up on
// it would only drop the streams of every channel the store serves.
func (rs *remoteStore) fail(r *remote.Remote, err error) {
	if connLost(err) {
		rs.hangup(r, err)
	}
}

// hangup closes the connection r and its stream, if still current; the run
// loop reconnects.
func (rs *remoteStore) hangup(r *remote.Remote, err error) {
	rs.mu.Lock()
	if rs.r != r {
		rs.mu.Unlock()
		return
	}
	rs.r = nil
	sr := rs.sr
	rs.mu.Unlock()
	rs.c.cfg.Logf("gigfs: %s: %v", rs.Name(), err)
	r.Close()
	if sr != nil {
		sr.Close()
	}
}

// connLost reports whether a call's error means its connection is gone: a
// transport failure. A call whose context ended flushed its own request
// and left the connection up for the others (srv9p.Mux); a store that
// answers nothing, not even the flush, is hung up by the Mux itself.
func connLost(err error) bool {
	return errors.Is(err, gig.ErrTransport)
}

// Close hangs up for good: the client closes, or the store left the
// mount table. The run loop ends.
func (rs *remoteStore) Close() error {
	rs.mu.Lock()
	rs.closed = true
	if rs.stop != nil {
		rs.stop()
	}
	r, sr := rs.r, rs.sr
	rs.r, rs.sr = nil, nil
	rs.mu.Unlock()
	if r != nil {
		r.Close()
	}
	if sr != nil {
		sr.Close()
	}
	return nil
}

// Redial backoff: from minBackoff, doubling to maxBackoff; it goes back to
// minBackoff only after a connection stayed up for stableUp, so a store
// that accepts connections and then drops them is not redialled in a loop.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
	stableUp   = 10 * time.Second
)

// redial is the backoff of a store's run loop.
type redial struct{ next time.Duration }

// failed returns how long to wait after a failed dial, and doubles the
// next wait.
func (r *redial) failed() time.Duration {
	d := max(r.next, minBackoff)
	r.next = min(2*d, maxBackoff)
	return d
}

// dropped returns how long to wait after a connection that was up for
// upFor dropped: nothing after a stable one (and the backoff starts over),
// else as after a failed dial.
func (r *redial) dropped(upFor time.Duration) time.Duration {
	if upFor >= stableUp {
		r.next = minBackoff
		return 0
	}
	return r.failed()
}

// run keeps the store connected until the client closes.
func (rs *remoteStore) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs.mu.Lock()
	if rs.closed {
		rs.mu.Unlock()
		return
	}
	rs.stop = cancel
	rs.mu.Unlock()
	var backoff redial
	wait := func(d time.Duration) {
		if d == 0 {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	again := false // connected before
	for ctx.Err() == nil {
		err := rs.connect(ctx)
		rs.mu.Lock()
		select {
		case <-rs.tried:
		default:
			close(rs.tried)
		}
		rs.mu.Unlock()
		if err != nil {
			rs.c.cfg.Logf("gigfs: %s: %v", rs.Name(), err)
			if ctx.Err() == nil {
				rs.said(err)
			}
			wait(backoff.failed())
			continue
		}
		rs.said(nil)
		up := time.Now()
		rs.mu.Lock()
		lost := rs.lost
		rs.mu.Unlock()
		if lost {
			rs.c.streamLost(rs)
		}
		rs.c.storeUp(rs)
		if again {
			// Back after being down: repair it for the channel-wide
			// watchers too (a first connection is no news).
			rs.c.syncWatched(rs)
		}
		again = true
		rs.follow(ctx)
		wait(backoff.dropped(time.Since(up)))
	}
}

// connect dials the store and its stream.
func (rs *remoteStore) connect(ctx context.Context) error {
	rs.mu.Lock()
	token, epoch, seq := rs.token, rs.epoch, rs.seq
	rs.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, rs.c.cfg.CallTimeout)
	defer cancel()
	if token == "" {
		t, err := rs.c.storeToken(cctx, rs.id)
		if err != nil {
			return fmt.Errorf("store token: %w", err)
		}
		token = t
	}
	r, err := remote.DialConfig(cctx, rs.addr, rs.trust, rs.c.user, token,
		remote.Config{MaxPushes: rs.c.cfg.MaxPushes, MaxTags: rs.c.cfg.MaxTags, Logf: rs.c.cfg.Logf})
	if err != nil {
		if errors.Is(err, gig.ErrPermission) {
			token = "" // refused: ask the table for a new one next time
		}
		rs.mu.Lock()
		rs.token = token
		rs.mu.Unlock()
		return err
	}
	rs.wmu.Lock() // until rs.sr is set: a want meanwhile is in filter
	defer rs.wmu.Unlock()
	filter := rs.filter()
	lost := false
	var sr *remote.StreamReader
	if epoch != "" {
		sr, err = remote.OpenStreamFiltered(cctx, rs.addr, rs.trust, rs.c.user, token, epoch, seq, filter)
		// The store cannot resume our cursor (restarted, or we fell too
		// far behind): follow from now on; the sync on connect re-reads,
		// and channel-wide watchers get a replay (streamLost).
		lost = err != nil
	}
	if sr == nil {
		// From the store's head, named: the cursor is exact from the
		// first event on.
		epoch, seq, err = r.Cursor(cctx)
		if err == nil {
			sr, err = remote.OpenStreamFiltered(cctx, rs.addr, rs.trust, rs.c.user, token, epoch, seq, filter)
		}
	}
	if err != nil {
		r.Close()
		return err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		r.Close()
		sr.Close()
		return context.Canceled
	}
	rs.r, rs.sr, rs.token = r, sr, token
	rs.epoch, rs.seq = epoch, seq
	if rs.doneEpoch != epoch || lost {
		rs.doneEpoch, rs.doneSeq = epoch, seq
	}
	rs.lost = lost
	return nil
}

// follow reads the stream until it fails, handing events to the client.
func (rs *remoteStore) follow(ctx context.Context) {
	rs.mu.Lock()
	r, sr := rs.r, rs.sr
	rs.mu.Unlock()
	if sr == nil {
		return
	}
	for {
		ev, err := sr.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				rs.hangup(r, fmt.Errorf("stream: %w", err)) // the stream is over, whatever ended it
			}
			return
		}
		rs.mu.Lock()
		rs.epoch, rs.seq = ev.Epoch, ev.Seq
		rs.mu.Unlock()
		if !ev.Mark() {
			rs.c.storeEvent(rs, ev)
		}
		rs.mu.Lock()
		rs.doneEpoch, rs.doneSeq = ev.Epoch, ev.Seq
		rs.mu.Unlock()
		if ev.Mark() {
			rs.c.storeMoved(rs)
		}
	}
}

// said tells Config.OnStore that the store is down (err) or back (nil),
// when that is news.
func (rs *remoteStore) said(err error) {
	rs.mu.Lock()
	news := (err != nil) != rs.downSaid
	rs.downSaid = err != nil
	rs.mu.Unlock()
	if news && rs.c.cfg.OnStore != nil {
		rs.c.cfg.OnStore(rs.Name(), err)
	}
}
