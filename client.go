package gigfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
	"gigfs.io/gigfs/table"
)

// Errors of the client.
var (
	ErrUnknownChannel = errors.New("unknown channel")
	ErrNoAnswer       = errors.New("no store answered")
	ErrClosed         = errors.New("client closed")
	// ErrTableRefused: the table refused the session (revoked, expired,
	// unknown user): the client will not retry it.
	ErrTableRefused = errors.New("table refused the session")
	// ErrTableUnreachable: the table could not be reached; the client
	// keeps trying.
	ErrTableUnreachable = errors.New("table out of reach")
	// ErrTableLost: the table stopped answering after the client read the
	// mount table; the client goes on with the mount table it has and
	// keeps trying.
	ErrTableLost = errors.New("table no longer answers")
)

// isRefusal reports whether an error from the table or a store is a refusal
// of the credential, as opposed to a network failure.
func isRefusal(err error) bool {
	return errors.Is(err, gig.ErrPermission) || errors.Is(err, srv9p.ErrUntrusted)
}

// A Client reads and writes the oplogs of channels. It is safe for
// concurrent use. Close it to stop its background work.
type Client struct {
	cfg    Config
	user   string
	origin string
	clock  oplog.Clock
	reg    oplog.Registry

	futureSeen atomic.Bool // a date past the horizon was ignored (and logged)
	lease      *lease      // the origin's lease (Config.OriginDir), or nil
	runOrigin  string      // with a lease: the origin of ops on channels only in memory

	ctx      context.Context // cancelled by Close
	cancel   context.CancelFunc
	wg       sync.WaitGroup // every background goroutine
	inflight sync.WaitGroup // pushes on their way to stores

	tableMu   sync.Mutex
	table     *table.Client // nil until dialled
	tableSet  chan struct{} // closed once the remote table was read (or there is none, or it refused us)
	tableLate atomic.Bool   // a wait for the table timed out: do not wait again
	tableErr  error         // set (under tableMu) when the table refused the session
	tableOnce sync.Once     // closes tableSet
	refreshMu sync.Mutex    // one refresh of the mount table at a time

	mu        sync.Mutex
	local     map[string][]Store  // channel -> local stores
	remote    map[string][]string // channel -> remote store ids
	remotes   map[string]*remoteStore
	disk      map[string]*sharedStore // by storage path, shared by channels
	paths     map[pathKey]*pathState
	forgetDue int // paths made and background syncs ended since the last forgetSome scan
	syncsDone int // background syncs ended, ever
	// repairSlots holds a token per repair sync running (see repair);
	// nil: no bound (Config.RepairSyncs negative).
	repairSlots chan struct{}
	repairing   int // repair syncs running
	repairPeak  int // the most repair syncs that ran at once, ever
	// keepUsed is how long a path just used is kept from forgetSome: a
	// push between its load and its merge takes at most this.
	keepUsed  time.Duration
	forgotLog time.Time // when forgetSome last logged
	chanSubs  map[string]map[*subscriber]struct{}
	closed    bool
	closing   bool // Close has begun: no new delivery starts
}

// New makes a client from cfg. Local stores open at once; the remote table
// is read, and remote stores connected, in the background, so New works
// offline.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	c := &Client{
		cfg:      cfg,
		keepUsed: 2*cfg.CallTimeout + cfg.ReadWait,
		origin:   cfg.Origin,
		tableSet: make(chan struct{}),
		local:    make(map[string][]Store),
		remote:   make(map[string][]string),
		remotes:  make(map[string]*remoteStore),
		disk:     make(map[string]*sharedStore),
		paths:    make(map[pathKey]*pathState),
		chanSubs: make(map[string]map[*subscriber]struct{}),
	}
	if cfg.MaxPushes < 0 || cfg.MaxTags < 0 || cfg.MaxTags > 65535 {
		return nil, fmt.Errorf("config: MaxPushes %d, MaxTags %d: want MaxPushes at least 0, MaxTags 0 to 65535", cfg.MaxPushes, cfg.MaxTags)
	}
	if cfg.OriginDir != "" {
		if cfg.Origin != "" {
			return nil, errors.New("config: Origin and OriginDir are exclusive")
		}
		l, err := acquireLease(cfg.OriginDir, cfg.Logf)
		if err != nil {
			return nil, err
		}
		c.lease, c.origin, c.runOrigin = l, l.origin, uuid.NewString()
	}
	if c.origin == "" {
		c.origin = uuid.NewString()
	}
	if cfg.RepairSyncs > 0 {
		c.repairSlots = make(chan struct{}, cfg.RepairSyncs)
	}
	c.clock.Horizon = cfg.DateHorizon
	c.ctx, c.cancel = context.WithCancel(context.Background())
	mem := 0
	for ch, stores := range cfg.LocalTable {
		if _, err := gig.ParseChannel(ch); err != nil {
			c.Close()
			return nil, fmt.Errorf("local table: %w", err)
		}
		for _, ls := range stores {
			switch {
			case ls.InMemory && ls.StoragePath == "":
				mem++
				c.local[ch] = append(c.local[ch], newMemStore(fmt.Sprintf("memory:%d", mem)))
			case !ls.InMemory && ls.StoragePath != "":
				d, ok := c.disk[ls.StoragePath]
				if !ok {
					var err error
					if d, err = openSharedStore(c, ls.StoragePath); err != nil {
						c.Close()
						return nil, err
					}
					c.disk[ls.StoragePath] = d
					c.spawn(func() { d.run(c.ctx) })
				}
				c.local[ch] = append(c.local[ch], d)
			default:
				c.Close()
				return nil, fmt.Errorf("local table: channel %s: a store is in_memory or has a storage_path", ch)
			}
		}
	}
	if rt := cfg.RemoteTable; rt != nil {
		c.user = rt.User
		c.spawn(c.readTable)
	} else {
		c.tableOnce.Do(func() { close(c.tableSet) })
	}
	// Ops written while offline to on-disk stores are pending until the
	// remote stores have them: storeUp syncs every oplog of those channels
	// once a remote store is up.
	c.resendPending()
	return c, nil
}

// TableErr tells why the remote table is not in use: an error wrapping
// ErrTableRefused once the table refused the session, else nil (no table
// configured, read, or not answering yet).
func (c *Client) TableErr() error {
	select {
	case <-c.tableSet:
		c.tableMu.Lock()
		defer c.tableMu.Unlock()
		return c.tableErr
	default:
		return nil
	}
}

// Origin is the id this client puts in the ops it makes.
func (c *Client) Origin() string { return c.origin }

// Register sets the reducer of a type. Types named like a built-in reducer
// (lww, counter, merge, set, list) use it unless another is registered.
func (c *Client) Register(typ string, r oplog.Reducer) { c.reg.Register(typ, r) }

// readTable reads the mount table, retrying until it succeeds or the client
// closes, and connects the remote stores it names.
func (c *Client) readTable() {
	rt := c.cfg.RemoteTable
	backoff := 100 * time.Millisecond
	for c.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.CallTimeout)
		tc, err := table.DialTrust(ctx, rt.Addr, rt.trust(), rt.User, "session "+rt.Session)
		var mt table.MountTable
		if err == nil {
			mt, err = tc.Table(ctx)
			if err != nil {
				tc.Close()
			}
		}
		cancel()
		if err == nil {
			c.tableMu.Lock()
			c.table = tc
			c.tableMu.Unlock()
			c.onTable(nil)
			c.setMountTable(mt)
			c.followTable()
			return
		}
		c.cfg.Logf("gigfs: table %s: %v", rt.Addr, err)
		if isRefusal(err) {
			// Revoked, expired or unknown: asking again will not help.
			c.refused(err)
			c.tableOnce.Do(func() { close(c.tableSet) })
			return
		}
		if errors.Is(err, gig.ErrTransport) {
			c.onTable(fmt.Errorf("%w: %w", ErrTableUnreachable, err))
		}
		select {
		case <-c.ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// setMountTable makes mt the client's remote mount table, the first time
// and at every change: stores new to it are connected, channels it no
// longer names go, and stores it no longer names are closed.
func (c *Client) setMountTable(mt table.MountTable) {
	c.mu.Lock()
	var start, stop []*remoteStore
	remote := make(map[string][]string, len(mt))
	used := make(map[string]bool)
	for ch, refs := range mt {
		for _, ref := range refs {
			rs, ok := c.remotes[ref.StoreID]
			if ok && rs.addr != ref.StoreAddr {
				// Moved: the old connection is to the wrong place.
				stop = append(stop, rs)
				ok = false
			}
			if !ok {
				rs = newRemoteStore(c, ref.StoreID, ref.StoreAddr, ref.Fingerprint)
				c.remotes[ref.StoreID] = rs
				start = append(start, rs)
			}
			used[ref.StoreID] = true
			remote[ch] = append(remote[ch], ref.StoreID)
		}
	}
	for id, rs := range c.remotes {
		if !used[id] {
			delete(c.remotes, id)
			stop = append(stop, rs)
		}
	}
	added := make(map[string]bool)
	for ch, ids := range remote {
		if !slices.Equal(ids, c.remote[ch]) {
			added[ch] = true
		}
	}
	c.remote = remote
	closed := c.closed
	c.mu.Unlock()
	c.tableOnce.Do(func() { close(c.tableSet) })
	for _, rs := range stop {
		rs.Close()
	}
	if closed {
		return
	}
	for _, rs := range start {
		c.spawn(func() { rs.run(c.ctx) })
	}
	// A store that joined a channel it was already connected for (another
	// channel) gets the channel's ops when it is synced; a new store is
	// synced when it connects.
	for ch := range added {
		c.mu.Lock()
		subs := len(c.chanSubs[ch])
		c.mu.Unlock()
		if subs > 0 {
			c.spawn(func() { c.syncChannel(ch) })
		}
	}
}

// refused records that the table refused the session and says so.
func (c *Client) refused(err error) {
	c.tableMu.Lock()
	if c.tableErr == nil {
		c.tableErr = fmt.Errorf("%w: %w", ErrTableRefused, err)
	}
	err = c.tableErr
	c.tableMu.Unlock()
	c.onTable(err)
}

// onTable tells Config.OnTable how the table answers.
func (c *Client) onTable(err error) {
	if c.cfg.OnTable != nil {
		c.cfg.OnTable(err)
	}
}

// storeToken asks the table for a token of the store storeID.
func (c *Client) storeToken(ctx context.Context, storeID string) (string, error) {
	c.tableMu.Lock()
	tc := c.table
	c.tableMu.Unlock()
	if tc == nil {
		return "", errors.New("no table")
	}
	t, err := tc.StoreToken(ctx, storeID)
	if err != nil && ctx.Err() == nil && !isRefusal(err) {
		// The table connection may have broken: dial again once.
		rt := c.cfg.RemoteTable
		if nc, derr := table.DialTrust(ctx, rt.Addr, rt.trust(), rt.User, "session "+rt.Session); derr == nil {
			c.tableMu.Lock()
			old := c.table
			c.table = nc
			c.tableMu.Unlock()
			old.Close()
			t, err = nc.StoreToken(ctx, storeID)
		}
	}
	if isRefusal(err) {
		c.refused(err) // the session was revoked or expired meanwhile
	}
	return t, err
}

// stores returns the stores of a channel, local first. Until the remote
// table has been read it waits for it (within ctx and a call timeout), so
// that the local stores alone do not answer for a channel that remote
// stores serve too; past that wait it goes on with what it knows.
// Stores returns the stores of a channel, local first, as the client uses
// them: for a tool that asks each store on its own (status, listing). It
// waits for the remote table as reads do. The stores belong to the client:
// do not close them.
func (c *Client) Stores(ctx context.Context, channel string) ([]Store, error) {
	return c.stores(ctx, channel)
}

func (c *Client) stores(ctx context.Context, channel string) ([]Store, error) {
	if _, err := gig.ParseChannel(channel); err != nil {
		return nil, err
	}
	c.WaitTable(ctx)
	out, err := c.storesOf(channel)
	if errors.Is(err, ErrUnknownChannel) && c.refreshTable(ctx) {
		// The channel may have been added since the table was read.
		out, err = c.storesOf(channel)
	}
	return out, err
}

// storesOf returns the stores the client knows for a channel.
func (c *Client) storesOf(channel string) ([]Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	out := append([]Store(nil), c.local[channel]...)
	for _, id := range c.remote[channel] {
		out = append(out, c.remotes[id])
	}
	if len(out) == 0 {
		if err := c.TableErr(); err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrUnknownChannel, channel, err)
		}
		return nil, fmt.Errorf("%w %q", ErrUnknownChannel, channel)
	}
	return out, nil
}

// Channels lists the channels the client knows of.
func (c *Client) Channels() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[string]bool)
	for ch := range c.local {
		seen[ch] = true
	}
	for ch := range c.remote {
		seen[ch] = true
	}
	out := make([]string, 0, len(seen))
	for ch := range seen {
		out = append(out, ch)
	}
	sort.Strings(out)
	return out
}

// storeUp is called when a remote store (re)connects: sync every loaded
// path of its channels, and every oplog of those channels that an on-disk
// local store holds (ops written offline).
func (c *Client) storeUp(rs *remoteStore) {
	c.mu.Lock()
	var chans []string
	for ch, ids := range c.remote {
		for _, id := range ids {
			if id == rs.id {
				chans = append(chans, ch)
			}
		}
	}
	c.mu.Unlock()
	for _, ch := range chans {
		c.syncChannel(ch)
	}
}

// syncChannel schedules a sync of every loaded path of a channel and of
// every oplog its local stores hold.
func (c *Client) syncChannel(channel string) {
	c.mu.Lock()
	keys := make(map[pathKey]bool)
	for k := range c.paths {
		if k.channel == channel {
			keys[k] = true
		}
	}
	locals := append([]Store(nil), c.local[channel]...)
	c.mu.Unlock()
	for _, s := range locals {
		list, err := s.List(c.ctx, channel, "")
		if err != nil {
			c.cfg.Logf("gigfs: %s: %v", s.Name(), err)
		}
		for _, tp := range list {
			keys[pathKey{channel, tp.Type, tp.Path}] = true
		}
	}
	for k := range keys {
		c.scheduleSync(c.pathState(k), 0)
	}
}

// storeEvent handles an op from a store's stream.
func (c *Client) storeEvent(rs Store, ev netstore.Event) {
	channel, path, ok := splitStorePath(ev.Path)
	if !ok {
		return
	}
	k := pathKey{channel, ev.Type, path}
	c.mu.Lock()
	p := c.paths[k]
	watched := len(c.chanSubs[channel]) > 0
	c.mu.Unlock()
	if p == nil && !watched {
		// Nobody here holds or watches the path: the op need not be
		// decoded and verified (every client of the user gets every
		// event); the clock sees its date all the same.
		if d, ok := opDate(ev.Op); ok {
			c.observe(&oplog.Op{Date: d, Sha: "(not decoded)"})
		}
		return
	}
	// An op the path holds already (each store of the channel sends it)
	// is dropped before its sha is verified: it was, when it came first.
	held := func(o *oplog.Op) bool {
		if p == nil {
			return false
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.log.Has(o)
	}
	o, isHeld, err := oplog.DecodeHeld(ev.Op, held)
	if err != nil {
		c.cfg.Logf("gigfs: %s: bad op in stream: %v", rs.Name(), err)
		return
	}
	if isHeld {
		return // its date was observed when it came first
	}
	if p == nil {
		c.observe(&o)
		c.publishOp(k, o) // a loaded path's merge observes and publishes what is new
		return
	}
	if p.merge([]oplog.Op{o}, &o) && !p.syncScheduled() && c.pruneDue(p) {
		c.schedulePrune(p)
	}
}

// opDate reads the date of an op's JSON as the store writes it
// ({"date":D,...}), without decoding the rest.
func opDate(op []byte) (int64, bool) {
	b, ok := bytes.CutPrefix(op, []byte(`{"date":`))
	if !ok {
		return 0, false
	}
	var d int64
	i := 0
	for ; i < len(b) && i < 18 && b[i] >= '0' && b[i] <= '9'; i++ {
		d = d*10 + int64(b[i]-'0')
	}
	if i == 0 || i == len(b) || (b[i] != ',' && b[i] != '}') {
		return 0, false
	}
	return d, true
}

// splitStorePath splits a store path "/channel/path" in two; both are
// parts of spath (path keeps its leading slash), not copies.
func splitStorePath(spath string) (channel, path string, ok bool) {
	rest, found := strings.CutPrefix(spath, "/")
	if !found {
		return "", "", false
	}
	channel, tail, ok := strings.Cut(rest, "/")
	return channel, spath[1+len(channel):], ok && channel != "" && tail != ""
}

// storePath is where the oplog of (channel, path) lives on stores.
func storePath(channel, path string) string { return "/" + channel + path }

// startDelivery counts a push on its way to a store, unless Close has
// begun (a WaitGroup must not grow from zero while Close waits on it).
func (c *Client) startDelivery() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.inflight.Add(1)
	return true
}

// spawn runs f on a goroutine that Close waits for; once the client is
// closed it runs nothing and returns false.
func (c *Client) spawn(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// Close lets pushes on their way to stores finish (for at most the call
// timeout), then stops the client's background work and closes its stores.
// Ops no store has accepted are lost unless an on-disk store holds them.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed || c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.mu.Unlock()
	delivered := make(chan struct{})
	go func() { c.inflight.Wait(); close(delivered) }()
	select {
	case <-delivered:
	case <-time.After(c.cfg.CallTimeout):
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	remotes := make([]*remoteStore, 0, len(c.remotes))
	for _, rs := range c.remotes {
		remotes = append(remotes, rs)
	}
	c.mu.Unlock()
	c.cancel()
	for _, rs := range remotes {
		rs.Close()
	}
	c.wg.Wait()
	c.tableMu.Lock()
	if c.table != nil {
		c.table.Close()
	}
	c.tableMu.Unlock()
	var first error
	if c.lease != nil {
		first = c.lease.close()
	}
	for _, d := range c.disk {
		if err := d.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
