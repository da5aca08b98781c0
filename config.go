package gigfs

import (
	"encoding/json"
	"fmt"
	"log"
	"time"

	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

// Defaults for the zero values of Config.
const (
	DefaultReadWait    = 500 * time.Millisecond
	DefaultCallTimeout = 5 * time.Second
	DefaultPruneOps    = 64
	DefaultPruneAge    = 10 * time.Minute
	DefaultSyncDelay   = 50 * time.Millisecond
	DefaultKeepPaths   = 4096
	DefaultRepairSyncs = 8
)

// RemoteTable says where the table is and how to use it.
type RemoteTable struct {
	Addr    string `json:"addr"`    // dial string of the table
	User    string `json:"user"`    // user id
	Session string `json:"session"` // session token
	// Fingerprint, if set, pins the TLS certificate of a tls!host!port
	// table (srv9p.Fingerprint: sha256:<hex>).
	Fingerprint string `json:"fingerprint,omitempty"`
	// CAFile, if set, is a PEM file of the authorities that sign the TLS
	// certificates of the table (unless pinned) and of stores the mount
	// table gives no fingerprint for; empty means the system roots.
	CAFile string `json:"ca_file,omitempty"`
}

// trust is how the table's certificate is verified.
func (rt *RemoteTable) trust() srv9p.Trust {
	return srv9p.Trust{Fingerprint: rt.Fingerprint, CAFile: rt.CAFile}
}

// LocalStore is a store of the client's own, in memory or on disk.
type LocalStore struct {
	InMemory    bool   `json:"in_memory,omitempty"`
	StoragePath string `json:"storage_path,omitempty"`
}

// Config configures a Client.
type Config struct {
	// RemoteTable, if set, gives the channels served by remote stores.
	RemoteTable *RemoteTable `json:"remote_table,omitempty"`
	// LocalTable maps channels to local stores; it is merged with the
	// remote table.
	LocalTable map[string][]LocalStore `json:"local_table,omitempty"`

	// ReadWait bounds how long the first read of a path waits for the
	// stores that have not answered once one has. Zero means
	// DefaultReadWait.
	ReadWait time.Duration `json:"-"`
	// CallTimeout bounds each call to one store. Zero means
	// DefaultCallTimeout.
	CallTimeout time.Duration `json:"-"`
	// PruneOps and PruneAge say when a path is worth a checkpoint: when
	// its tail since the last checkpoint has PruneOps ops, or its oldest
	// op is PruneAge old. Zero means the defaults; negative never.
	PruneOps int           `json:"-"`
	PruneAge time.Duration `json:"-"`
	// SyncDelay is how long a sync waits for more changes to the same
	// path before it runs. Zero means DefaultSyncDelay.
	SyncDelay time.Duration `json:"-"`
	// Resume, if set, starts the streams of the remote stores it names
	// where a channel-wide watch left them (OpEvent.Cursor).
	Resume Cursor `json:"-"`
	// Origin names this client instance in the ops it makes; empty means
	// a new random id (or the lease's, with OriginDir). A fixed Origin is
	// for one process at a time that keeps no op pending across runs: its
	// seqs restart from what the stores hold.
	Origin string `json:"-"`
	// OriginDir, when set, is a folder of origin leases: the client takes
	// the first free slot and uses its origin, which outlives the process
	// (see lease.go). Set it for any program that runs many times as the
	// same writer (a tool run from cron, a service restarted): every
	// checkpoint of a path carries one covers entry per origin that ever
	// wrote it, so a new origin per run grows them without bound. The
	// slot's seqs continue across runs and crashes, and ops a run left
	// pending are sent again by the next. Leave it empty for a client
	// whose origin may die with it (tests, one-off programs). Concurrent
	// clients never share a slot. It cannot be set with Origin.
	OriginDir string `json:"-"`
	// DateHorizon is how far past the wall clock a date read from a store
	// may move the client's clock: dates beyond it are ignored (logged
	// once), so one op dated in the year 9999 does not date every later
	// op after it, and PushOp refuses ops dated beyond it. Zero means
	// oplog.DefaultHorizon (24h, as stores); negative, no bound.
	DateHorizon time.Duration `json:"-"`
	// KeepPaths bounds the paths a long-running client keeps in memory
	// that nobody watches: past it, the least recently used of those whose
	// every op a store that outlives the process holds are dropped (logged
	// at most once a minute) and read again from the stores when used.
	// Watched paths, and paths with ops no such store has yet, are kept.
	// Zero means DefaultKeepPaths; negative, no bound.
	KeepPaths int `json:"-"`
	// RepairSyncs bounds the syncs a client runs at once when a remote
	// store comes back and channel-wide watchers follow its channels:
	// every path of those channels is synced to repair the store, this
	// many at a time (a channel of 100,000 paths is not read all at once
	// into memory; logged when a repair has more paths than this). Zero
	// means DefaultRepairSyncs; negative, no bound.
	RepairSyncs int `json:"-"`
	// MaxPushes bounds the pushes in flight on the connection to one
	// remote store (one push fid each); more wait their turn (logged at
	// most once a minute). Zero means remote.DefaultMaxPushes (64).
	MaxPushes int `json:"-"`
	// MaxTags bounds the 9P requests in flight on the connection to one
	// remote store; more wait for a tag (logged at most once a minute).
	// Zero means srv9p.DefaultMaxTags (4096); at most 65535.
	MaxTags int `json:"-"`
	// Logf logs what goes wrong in the background (a store down, a
	// refused op); nil means log.Printf.
	Logf func(format string, args ...any) `json:"-"`
	// OnTable, if set, is told from the client's background work how the
	// remote table answers: an error wrapping ErrTableRefused when it
	// refuses the session (when the mount table is read, or later when a
	// store token is asked for: the session was revoked or expired), one
	// wrapping ErrTableUnreachable when it cannot be reached, one wrapping
	// ErrTableLost when it stops answering later (the client follows it
	// with the mount table it has), nil when it answers (again). A tool
	// stops on a refusal rather than wait for a timeout.
	OnTable func(err error) `json:"-"`
	// OnStore, if set, is told from the client's background work when a
	// remote store stops answering (err: why the last attempt to reach it
	// failed) and when it answers again after that (err nil): once per
	// change, not at each redial. A store reached at the first attempt is
	// no news. store is the store's name ("store <id> at <addr>").
	OnStore func(store string, err error) `json:"-"`
}

func (c *Config) setDefaults() {
	if c.ReadWait == 0 {
		c.ReadWait = DefaultReadWait
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.PruneOps == 0 {
		c.PruneOps = DefaultPruneOps
	}
	if c.PruneAge == 0 {
		c.PruneAge = DefaultPruneAge
	}
	if c.SyncDelay == 0 {
		c.SyncDelay = DefaultSyncDelay
	}
	if c.Logf == nil {
		c.Logf = log.Printf
	}
	if c.KeepPaths == 0 {
		c.KeepPaths = DefaultKeepPaths
	}
	if c.RepairSyncs == 0 {
		c.RepairSyncs = DefaultRepairSyncs
	}
	if c.DateHorizon == 0 {
		c.DateHorizon = oplog.DefaultHorizon
	}
}

// ParseLocalTable parses a local table in the seed's form:
//
//	{"core":[{"storage_path":"/home/me/gig/core"}],"modules":[{"in_memory":true}]}
func ParseLocalTable(b []byte) (map[string][]LocalStore, error) {
	var t map[string][]LocalStore
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("local table: %w", err)
	}
	for ch, stores := range t {
		for i, s := range stores {
			if s.InMemory == (s.StoragePath != "") {
				return nil, fmt.Errorf("local table: channel %s store %d: want exactly one of in_memory and storage_path", ch, i+1)
			}
		}
	}
	return t, nil
}
