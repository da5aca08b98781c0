package table

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// userRights checks that p is the user itself (master or session).
func userRights(p *Principal) error {
	if p.Kind() != KindMaster && p.Kind() != KindSession {
		return denied("attach with the master or a session")
	}
	return nil
}

// AddStore adds the store at storeAddr to channel in p's mount table,
// after confirming with the store, with the one-time code its admin gave,
// that it will trust this table for the user (see Stores.Confirm). A store
// already in the table (by address) keeps its id and gets a new secret.
// It returns the store id.
func (s *Service) AddStore(ctx context.Context, p *Principal, channel, storeAddr, code string) (string, error) {
	return s.AddStorePinned(ctx, p, channel, storeAddr, code, "")
}

// AddStorePinned is AddStore for a store whose TLS certificate must have
// the fingerprint fp (srv9p.ParseFingerprint's forms); empty, the table
// takes the certificate the store shows at confirmation.
func (s *Service) AddStorePinned(ctx context.Context, p *Principal, channel, storeAddr, code, fp string) (string, error) {
	if err := userRights(p); err != nil {
		return "", err
	}
	if _, err := gig.ParseChannel(channel); err != nil {
		return "", err
	}
	if err := checkStoreAddr(storeAddr, s.cfg.AllowUnixStores); err != nil {
		return "", err
	}
	if err := validCode(code); err != nil {
		return "", err
	}
	if fp != "" {
		pinned, err := srv9p.ParseFingerprint(fp)
		if err != nil {
			return "", badRequest("bad store fingerprint: %w", err)
		}
		if !srv9p.IsTLS(storeAddr) {
			return "", badRequest("a store fingerprint needs a tls!host!port address, not %q", gig.Clip(storeAddr))
		}
		fp = pinned
	}
	if s.cfg.TableAddr == "" {
		return "", fmt.Errorf("store add: the table has no public address to give stores")
	}
	p.u.addMu.Lock()
	defer p.u.addMu.Unlock()

	u, _, err := s.acquire(p, true)
	if err != nil {
		return "", err
	}
	storeID := ""
	for id, st := range u.tab.Stores {
		if st.Addr == storeAddr {
			storeID = id
		}
	}
	if storeID == "" {
		storeID = newID()
	}
	c := u.tab.Channels[channel]
	switch {
	case c == nil && len(u.tab.Channels) >= MaxChannels:
		err = badRequest("too many channels: at most %d", MaxChannels)
	case c != nil && len(c.Stores) >= MaxStoresPerChannel && !c.has(storeID):
		err = badRequest("too many stores in channel %q: at most %d", channel, MaxStoresPerChannel)
	}
	u.mu.Unlock()
	if err != nil {
		return "", err
	}
	secret, err := newSecret()
	if err != nil {
		return "", err
	}

	start := s.cfg.Now()
	cctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	got, err := s.cfg.Stores.Confirm(cctx, Confirmation{
		StoreAddr: storeAddr, StoreFingerprint: fp, User: u.id, Code: code,
		TableAddr: s.cfg.TableAddr, TableFingerprint: s.cfg.TableFingerprint,
		StoreID: storeID, Secret: secret,
	})
	cancel()
	if err != nil {
		return "", s.confirmFailed(ctx, u.id, storeAddr, fp, err, start.Add(s.cfg.StoreTimeout))
	}
	fp = got

	u, _, err = s.acquire(p, false)
	if err != nil {
		return "", err
	}
	defer u.mu.Unlock()
	old := u.tab.Stores[storeID]
	oldChannel := u.tab.Channels[channel]
	u.tab.Stores[storeID] = &storeRecord{Addr: storeAddr, Secret: secret, Fingerprint: fp}
	changed := old == nil || old.Fingerprint != fp // the mount table shows it
	ref := StoreRef{StoreID: storeID, StoreAddr: storeAddr}
	if c := u.tab.Channels[channel]; c == nil {
		u.tab.Channels[channel] = &channelRecord{Born: u.tab.Version + 1, Stores: []StoreRef{ref}}
		changed = true
	} else if !c.has(storeID) {
		nc := &channelRecord{Born: c.Born, Stores: append(slices.Clip(c.Stores), ref)}
		u.tab.Channels[channel] = nc
		changed = true
	}
	if err := s.saveTable(u, changed); err != nil {
		u.tab.Stores[storeID] = old
		if old == nil {
			delete(u.tab.Stores, storeID)
		}
		u.tab.Channels[channel] = oldChannel
		if oldChannel == nil {
			delete(u.tab.Channels, channel)
		}
		return "", fmt.Errorf("store add: %w", err)
	}
	return storeID, nil
}

// confirmFailed is the error of a store add whose confirmation failed. The
// user learns only whether a store refused the code; every other failure
// (no such host, a closed, silent or non-9P port, a TLS handshake, a store
// that would not confirm) is the same neutral error, answered at the same
// time, once the confirmation's timeout (until) has passed, so that store
// add cannot be used to scan the table's network, by the answer or by how
// long it takes. The cause is logged. (The user's next store add waits its
// turn meanwhile.)
//
// A store that does not show the certificate the user pinned is told
// apart: it is a warning of someone in between.
func (s *Service) confirmFailed(ctx context.Context, user, storeAddr, pinned string, err error, until time.Time) error {
	if pinned != "" && errors.Is(err, srv9p.ErrUntrusted) {
		s.logf("store add for %s: confirm with %s: %v", user, storeAddr, err)
		return gig.Errorf(gig.ErrPermission, "store add: the store at %s does not show the certificate %s (a wrong fingerprint, or someone in between)", storeAddr, pinned)
	}
	if errors.Is(err, gig.ErrPermission) && !errors.Is(err, srv9p.ErrUntrusted) {
		s.logf("store add for %s: confirm with %s: %v", user, storeAddr, err)
		return gig.Errorf(gig.ErrPermission, "store add: the store at %s refused the confirmation code", storeAddr)
	}
	s.logf("store add for %s: confirm with %s: %v (answered once the store timeout of %v has passed)", user, storeAddr, err, s.cfg.StoreTimeout)
	s.waitUntil(ctx, until)
	return gig.Errorf(gig.ErrUnavailable, "store add: %s: %s", storeAddr, errConfirmUnreached)
}

// waitUntil waits until the clock reads until, or ctx ends (Config.Wait).
func (s *Service) waitUntil(ctx context.Context, until time.Time) {
	if s.cfg.Wait != nil {
		s.cfg.Wait(ctx, until)
		return
	}
	d := until.Sub(s.cfg.Now())
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// errConfirmUnreached is the neutral text of every failed confirmation
// but a refused code (see confirmFailed).
const errConfirmUnreached = "no store confirmed there (unreachable, not a GiG.fs store, or it failed; the table's log says why)"

func (c *channelRecord) has(storeID string) bool {
	return slices.ContainsFunc(c.Stores, func(r StoreRef) bool { return r.StoreID == storeID })
}

// saveTable writes u's table, moving its version first if the mount table
// changed; on error the version is put back. u.mu is held.
func (s *Service) saveTable(u *user, changed bool) error {
	version, mtime := u.tab.Version, u.tab.Mtime
	if changed {
		u.tab.Version++
		u.tab.Mtime = s.cfg.Now().UnixMilli()
	}
	if err := u.saveTable(); err != nil {
		u.tab.Version, u.tab.Mtime = version, mtime
		return err
	}
	if changed {
		u.wakeWaiters()
	}
	return nil
}

// RemoveStore removes the store storeID from channel in p's mount table.
// A channel left without stores goes, and so does a store left in no
// channel (it can no longer check tokens).
func (s *Service) RemoveStore(p *Principal, channel, storeID string) error {
	if err := userRights(p); err != nil {
		return err
	}
	if _, err := gig.ParseChannel(channel); err != nil {
		return err
	}
	if err := validID("store", storeID); err != nil {
		return err
	}
	u, _, err := s.acquire(p, true)
	if err != nil {
		return err
	}
	defer u.mu.Unlock()
	c := u.tab.Channels[channel]
	switch {
	case c == nil:
		return notFound("no channel %q", channel)
	case !c.has(storeID):
		return notFound("no store %s in channel %q", storeID, channel)
	}
	rest := slices.DeleteFunc(slices.Clone(c.Stores), func(r StoreRef) bool { return r.StoreID == storeID })
	next := maps.Clone(u.tab.Channels)
	if len(rest) == 0 {
		delete(next, channel)
	} else {
		next[channel] = &channelRecord{Born: c.Born, Stores: rest}
	}
	return s.replaceChannels(u, next, "store remove")
}

// RemoveChannel removes channel from p's mount table; a store left in no
// channel goes too.
func (s *Service) RemoveChannel(p *Principal, channel string) error {
	if err := userRights(p); err != nil {
		return err
	}
	if _, err := gig.ParseChannel(channel); err != nil {
		return err
	}
	u, _, err := s.acquire(p, true)
	if err != nil {
		return err
	}
	defer u.mu.Unlock()
	if u.tab.Channels[channel] == nil {
		return notFound("no channel %q", channel)
	}
	next := maps.Clone(u.tab.Channels)
	delete(next, channel)
	return s.replaceChannels(u, next, "channel remove")
}

// replaceChannels makes channels u's mount table, forgets the stores it
// no longer names, and writes the table. u.mu is held.
func (s *Service) replaceChannels(u *user, channels map[string]*channelRecord, op string) error {
	used := map[string]bool{}
	for _, c := range channels {
		for _, r := range c.Stores {
			used[r.StoreID] = true
		}
	}
	stores := maps.Clone(u.tab.Stores)
	maps.DeleteFunc(stores, func(id string, _ *storeRecord) bool { return !used[id] })
	oldC, oldS := u.tab.Channels, u.tab.Stores
	u.tab.Channels, u.tab.Stores = channels, stores
	if err := s.saveTable(u, true); err != nil {
		u.tab.Channels, u.tab.Stores = oldC, oldS
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// TableInfo describes the mount table of a user as a file: its version
// moves with every change.
type TableInfo struct {
	Version uint64
	Mtime   time.Time
}

// Table returns p's mount table and its version. It counts as a use of a
// session.
func (s *Service) Table(p *Principal) (MountTable, TableInfo, error) {
	return s.table(p, true)
}

func (s *Service) table(p *Principal, use bool) (MountTable, TableInfo, error) {
	if err := userRights(p); err != nil {
		return nil, TableInfo{}, err
	}
	u, _, err := s.acquire(p, use)
	if err != nil {
		return nil, TableInfo{}, err
	}
	defer u.mu.Unlock()
	mt := make(MountTable, len(u.tab.Channels))
	for name, c := range u.tab.Channels {
		mt[name] = u.refs(c)
	}
	return mt, u.tabInfo(), nil
}

func (u *user) tabInfo() TableInfo {
	ti := TableInfo{Version: u.tab.Version}
	if u.tab.Mtime != 0 {
		ti.Mtime = time.UnixMilli(u.tab.Mtime)
	}
	return ti
}

// channelEntry is one channel of a mount table.
type channelEntry struct {
	name   string
	born   uint64
	stores []StoreRef
}

// channels returns the channels of p's mount table, sorted by name. It is
// not a use of a session.
func (s *Service) channels(p *Principal) ([]channelEntry, TableInfo, error) {
	if err := userRights(p); err != nil {
		return nil, TableInfo{}, err
	}
	u, _, err := s.acquire(p, false)
	if err != nil {
		return nil, TableInfo{}, err
	}
	defer u.mu.Unlock()
	list := make([]channelEntry, 0, len(u.tab.Channels))
	for name, c := range u.tab.Channels {
		list = append(list, channelEntry{name, c.Born, u.refs(c)})
	}
	slices.SortFunc(list, func(a, b channelEntry) int { return strings.Compare(a.name, b.name) })
	return list, u.tabInfo(), nil
}

// Channel returns the stores of one channel of p's mount table, and born,
// the table version that made the channel. It counts as a use of a
// session.
func (s *Service) Channel(p *Principal, channel string) (stores []StoreRef, born uint64, info TableInfo, err error) {
	return s.channel(p, channel, true)
}

func (s *Service) channel(p *Principal, channel string, use bool) ([]StoreRef, uint64, TableInfo, error) {
	if err := userRights(p); err != nil {
		return nil, 0, TableInfo{}, err
	}
	u, _, err := s.acquire(p, use)
	if err != nil {
		return nil, 0, TableInfo{}, err
	}
	defer u.mu.Unlock()
	c := u.tab.Channels[channel]
	if c == nil {
		return nil, 0, TableInfo{}, notFound("no channel %q", gig.Clip(channel))
	}
	return u.refs(c), c.Born, u.tabInfo(), nil
}

// refs returns the stores of c as clients see them: with the fingerprint
// the table pinned for each. u.mu is held.
func (u *user) refs(c *channelRecord) []StoreRef {
	refs := slices.Clone(c.Stores)
	for i := range refs {
		if st := u.tab.Stores[refs[i].StoreID]; st != nil {
			refs[i].Fingerprint = st.Fingerprint
		}
	}
	return refs
}
