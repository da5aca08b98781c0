// Package cluster runs a whole GiG.fs in one process, on loopback: a table
// and stores, each a real 9P server with its data on disk, and TCP proxies
// that can cut a store off. Tests of the client and the tools use it.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gigfs.io/gigfs/gig"
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
	TableAddr string
	Stores    []*Store
	Logf      func(string, ...any)

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
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", c.TableAddr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
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
		DataDir:   filepath.Join(c.Dir, "table"),
		TableAddr: c.TableAddr,
		AdminKey:  TableKey,
		KDF:       table.KDF{Time: 1, MemoryKiB: 64, Threads: 1}, // fast, for tests
		Logf:      c.Logf,
	}
}

// A Store is one store of a cluster. Stop and Start take it down and up on
// the same address and data.
type Store struct {
	Addr string
	Dir  string
	svc  *netstore.Service
	stop func()
	c    *Cluster
}

// Start starts a table and n stores with their data under dir.
func Start(dir string, n int, logf func(string, ...any)) (*Cluster, error) {
	c := &Cluster{Dir: dir, Logf: logf}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.TableAddr = l.Addr().String()
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

func serve(srv *srv9p.Server, l net.Listener) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	return sync.OnceFunc(func() { cancel(); <-done })
}

// Start serves the store, on its previous address if it had one.
func (s *Store) Start() error {
	addr := s.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old port may take a moment to be free
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	svc, err := netstore.Open(netstore.Config{Dir: s.Dir, Checker: table.NewChecker(), Logf: s.c.Logf})
	if err != nil {
		l.Close()
		return err
	}
	s.Addr, s.svc = l.Addr().String(), svc
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

// User makes a user with a master on the table and returns a session token
// that lasts a day.
func (c *Cluster) User(ctx context.Context, id, master string) (string, error) {
	adm, err := srv9p.Dial(ctx, c.TableAddr, "admin", "admin "+TableKey)
	if err != nil {
		return "", err
	}
	defer adm.Close()
	if _, err := adm.Ctl(ctx, "/admin/ctl", "user set "+id+" "+master); err != nil {
		return "", err
	}
	tc, err := table.DialMaster(ctx, c.TableAddr, id, master)
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
	adm, err := srv9p.Dial(ctx, s.Addr, "admin", "admin "+StoreKey)
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
	tc, err := table.DialMaster(ctx, c.TableAddr, id, master)
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
