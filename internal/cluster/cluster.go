// Package cluster runs a whole GiG.fs in one process, on loopback: a table
// and stores, each a real 9P server with its data on disk, and TCP proxies
// that can cut a store off. Tests of the client and the tools use it.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/tlscert"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/storefs"
	"gigfs.io/gigfs/srv9p"
	"gigfs.io/gigfs/table"
)

// The admin keys of a cluster's servers.
const (
	TableKey = "cluster-table-admin-key"
	StoreKey = "cluster-store-admin-key"
)

// A Cluster is a table and stores served on 127.0.0.1.
type Cluster struct {
	Dir       string
	TableAddr string // host:port, or tls!host!port with TLS
	TableFP   string // the table's certificate fingerprint, with TLS
	Stores    []*Store
	Logf      func(string, ...any)
	TLS       bool // servers speak 9P over TLS, self-signed certificates

	table     *table.Service
	stopTable func()
}

// RestartTable stops the table and starts it again on the same address and
// data.
func (c *Cluster) RestartTable() error {
	c.stopTable()
	if err := c.table.Close(); err != nil {
		return err
	}
	l, _, _, err := c.listen(c.TableAddr, filepath.Join(c.Dir, "table"))
	if err != nil {
		return err
	}
	ts, err := table.Open(c.tableConfig())
	if err != nil {
		l.Close()
		return err
	}
	c.table = ts
	c.stopTable = serve(table.NewServer(ts), l)
	return nil
}

func (c *Cluster) tableConfig() table.Config {
	return table.Config{
		DataDir:          filepath.Join(c.Dir, "table"),
		TableAddr:        c.TableAddr,
		TableFingerprint: c.TableFP,
		AdminKey:         TableKey,
		KDF:              table.KDF{Time: 1, MemoryKiB: 64, Threads: 1}, // fast, for tests
		Logf:             c.Logf,
	}
}

// A Store is one store of a cluster. Stop and Start take it down and up on
// the same address and data.
type Store struct {
	Addr string // host:port, or tls!host!port with TLS
	FP   string // its certificate fingerprint, with TLS
	Dir  string
	svc  *netstore.Service
	stop func()
	c    *Cluster
}

// Start starts a table and n stores with their data under dir.
func Start(dir string, n int, logf func(string, ...any)) (*Cluster, error) {
	return start(&Cluster{Dir: dir, Logf: logf}, n)
}

// StartTLS is Start with every server on 9P over TLS, each with a
// self-signed certificate in its data folder.
func StartTLS(dir string, n int, logf func(string, ...any)) (*Cluster, error) {
	return start(&Cluster{Dir: dir, Logf: logf, TLS: true}, n)
}

func start(c *Cluster, n int) (*Cluster, error) {
	dir := c.Dir
	l, addr, fp, err := c.listen("", filepath.Join(dir, "table"))
	if err != nil {
		return nil, err
	}
	c.TableAddr, c.TableFP = addr, fp
	ts, err := table.Open(c.tableConfig())
	if err != nil {
		l.Close()
		return nil, err
	}
	c.table = ts
	c.stopTable = serve(table.NewServer(ts), l)
	for i := 0; i < n; i++ {
		s := &Store{Dir: filepath.Join(dir, fmt.Sprintf("store%d", i+1)), c: c}
		if err := s.Start(); err != nil {
			c.Close()
			return nil, err
		}
		c.Stores = append(c.Stores, s)
	}
	return c, nil
}

// listen listens on addr (a previous address, or "" for a new port on
// 127.0.0.1), over TLS with the certificate of the data folder dir if the
// cluster speaks TLS, and returns the dial string and the fingerprint.
func (c *Cluster) listen(addr, dir string) (net.Listener, string, string, error) {
	hostport := strings.TrimPrefix(addr, "tls!")
	if h, p, ok := strings.Cut(hostport, "!"); ok {
		hostport = net.JoinHostPort(h, p)
	}
	if hostport == "" {
		hostport = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old port may take a moment to be free
		if l, err = net.Listen("tcp", hostport); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, "", "", err
	}
	if !c.TLS {
		return l, l.Addr().String(), "", nil
	}
	cert, err := tlscert.Load(dir, "", "")
	if err != nil {
		l.Close()
		return nil, "", "", err
	}
	ta := l.Addr().(*net.TCPAddr)
	dial := fmt.Sprintf("tls!%s!%d", ta.IP, ta.Port)
	return tls.NewListener(l, srv9p.ServerTLSConfig(cert.TLS)), dial, cert.Fingerprint, nil
}

// HostPort is the host:port of a cluster address, for a proxy.
func HostPort(addr string) string {
	if _, hp, err := srv9p.ParseAddr(addr); err == nil {
		return hp
	}
	return addr
}

func serve(srv *srv9p.Server, l net.Listener) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	return sync.OnceFunc(func() { cancel(); <-done })
}

// Start serves the store, on its previous address if it had one.
func (s *Store) Start() error {
	l, addr, fp, err := s.c.listen(s.Addr, s.Dir)
	if err != nil {
		return err
	}
	svc, err := netstore.Open(netstore.Config{Dir: s.Dir, Checker: table.NewChecker(), Logf: s.c.Logf})
	if err != nil {
		l.Close()
		return err
	}
	s.Addr, s.FP, s.svc = addr, fp, svc
	stop := serve(&srv9p.Server{Attach: (&storefs.Tree{S: svc, AdminKey: StoreKey}).Attach, Logf: s.c.Logf}, l)
	s.stop = func() { stop(); svc.Close() }
	return nil
}

// Stop stops serving the store; its connections drop.
func (s *Store) Stop() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// Service is the store's service, for tests that look inside.
func (s *Store) Service() *netstore.Service { return s.svc }

// Close stops everything.
func (c *Cluster) Close() {
	for _, s := range c.Stores {
		s.Stop()
	}
	if c.stopTable != nil {
		c.stopTable()
		c.table.Close()
	}
}

// TableTrust pins the table's certificate (with TLS).
func (c *Cluster) TableTrust() srv9p.Trust { return srv9p.Trust{Fingerprint: c.TableFP} }

// User makes a user with a master on the table and returns a session token
// that lasts a day.
func (c *Cluster) User(ctx context.Context, id, master string) (string, error) {
	adm, err := srv9p.DialTrust(ctx, c.TableAddr, c.TableTrust(), "admin", "admin "+TableKey)
	if err != nil {
		return "", err
	}
	defer adm.Close()
	if _, err := adm.Ctl(ctx, "/admin/ctl", "user set "+id+" "+master); err != nil {
		return "", err
	}
	tc, err := table.DialTrust(ctx, c.TableAddr, c.TableTrust(), id, "master "+master)
	if err != nil {
		return "", err
	}
	defer tc.Close()
	return tc.SessionNew(ctx, 24*time.Hour, "cluster test session")
}

// AddStore adds store s to a channel of user id, as a user does: the
// store's admin adds the user and reads a code, and the user gives the
// table the store's address and the code. addr, if not empty, is the
// address the table records (a proxy in front of the store).
func (c *Cluster) AddStore(ctx context.Context, id, master, channel string, s *Store, addr string) error {
	adm, err := srv9p.DialTrust(ctx, s.Addr, srv9p.Trust{Fingerprint: s.FP}, "admin", "admin "+StoreKey)
	if err != nil {
		return err
	}
	defer adm.Close()
	reply, err := adm.Ctl(ctx, "/admin/ctl", "user add "+id)
	if errors.Is(err, gig.ErrExist) {
		reply, err = adm.Ctl(ctx, "/admin/ctl", "user code "+id)
	}
	if err != nil {
		return err
	}
	code := strings.TrimSpace(strings.TrimPrefix(reply, "code "))
	tc, err := table.DialTrust(ctx, c.TableAddr, c.TableTrust(), id, "master "+master)
	if err != nil {
		return err
	}
	defer tc.Close()
	if addr == "" {
		addr = s.Addr
	}
	_, err = tc.StoreAdd(ctx, channel, addr, code)
	return err
}
