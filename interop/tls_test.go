package interop

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
	plan9client "9fans.net/go/plan9/client"
	go9p "github.com/knusbaum/go9p/client"

	"gigfs.io/gigfs/internal/cluster"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/srv9p"
	"gigfs.io/gigfs/table"
	"gigfs.io/gigfs/tools"
)

// tlsWorld is a table and a store serving 9P over TLS with self-signed
// certificates, a user with a session, the store in a channel, and a
// store token.
type tlsWorld struct {
	cl      *cluster.Cluster
	store   *cluster.Store
	session string
	token   string // the store token
}

func startTLSWorld(t *testing.T) *tlsWorld {
	t.Helper()
	cl, err := cluster.StartTLS(t.TempDir(), 1, quietLogf(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const master = "a master of tess"
	session, err := cl.User(ctx, "tess", master)
	if err != nil {
		t.Fatal(err)
	}
	st := cl.Stores[0]
	if err := cl.AddStore(ctx, "tess", master, "notes", st, ""); err != nil {
		t.Fatal(err)
	}
	tc, err := table.DialTrust(ctx, cl.TableAddr, cl.TableTrust(), "tess", "session "+session)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	mt, err := tc.Table(ctx)
	if err != nil || len(mt["notes"]) != 1 {
		t.Fatalf("mount table %v, %v", mt, err)
	}
	token, err := tc.StoreToken(ctx, mt["notes"][0].StoreID)
	if err != nil {
		t.Fatal(err)
	}
	return &tlsWorld{cl: cl, store: st, session: session, token: token}
}

// dialPinned opens a TLS connection to the dial string addr that accepts
// only the certificate with fingerprint fp: what a client that is not
// ours does (here by hand, with crypto/tls).
func dialPinned(t *testing.T, addr, fp string) net.Conn {
	t.Helper()
	_, hostport, err := srv9p.ParseAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", hostport, &tls.Config{
		InsecureSkipVerify: true, // the pin below replaces the chain
		VerifyConnection: func(cs tls.ConnectionState) error {
			if got := srv9p.Fingerprint(cs.PeerCertificates[0].Raw); got != fp {
				return errors.New("certificate " + got + ", pinned " + fp)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatalf("tls dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The go9p client (mount9p's) over TLS: the table's tree with a session
// (its mount table carries the store's fingerprint), then the store's
// with the token: push a record, read the oplog, list.
func TestGo9p_TLS(t *testing.T) {
	w := startTLSWorld(t)
	tab, err := go9p.NewClient(dialPinned(t, w.cl.TableAddr, w.cl.TableFP), "tess", "session "+w.session)
	if err != nil {
		t.Fatal(err)
	}
	var mt map[string][]struct {
		StoreAddr   string `json:"store_addr"`
		Fingerprint string `json:"fingerprint"`
	}
	if raw := go9pRead(t, tab, "/user/tess/table"); json.Unmarshal([]byte(raw), &mt) != nil ||
		len(mt["notes"]) != 1 || mt["notes"][0].StoreAddr != w.store.Addr || mt["notes"][0].Fingerprint != w.store.FP {
		t.Fatalf("mount table over TLS %q: want the store %s with fingerprint %s", raw, w.store.Addr, w.store.FP)
	}

	st, err := go9p.NewClient(dialPinned(t, w.store.Addr, w.store.FP), "tess", "token "+w.token)
	if err != nil {
		t.Fatal(err)
	}
	op := newOp(t, "tls-go9p", 1, `"over tls"`)
	reply, err := go9pCtl(st, "/user/tess/push", pushLines(netstore.Record{Type: "lww", Path: "/notes/todo", Op: op}))
	if err != nil || reply != "accepted\n" {
		t.Fatalf("push over TLS: %q, %v", reply, err)
	}
	if got := go9pRead(t, st, "/user/tess/oplog/lww/notes/todo"); !strings.Contains(got, `"over tls"`) {
		t.Errorf("oplog over TLS: %q", got)
	}
	stats, err := st.Readdir("/user/tess/oplog/lww/notes")
	if err != nil || len(stats) != 1 || stats[0].Name != "todo" {
		t.Errorf("listing over TLS: %v, %v", names(stats), err)
	}
	if _, err := go9p.NewClient(dialPinned(t, w.store.Addr, w.store.FP), "tess", "token "+w.token+"x"); err == nil {
		t.Error("a bad token attached over TLS")
	}
}

// The 9fans client over TLS to the store: stat (length, qid version) and
// read of an oplog pushed with our own client.
func TestPlan9_TLS(t *testing.T) {
	w := startTLSWorld(t)
	ctx := context.Background()
	ours, err := srv9p.DialTrust(ctx, w.store.Addr, srv9p.Trust{Fingerprint: w.store.FP}, "tess", "token "+w.token)
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	op := newOp(t, "tls-9fans", 1, `7`)
	if reply, err := ours.Ctl(ctx, "/user/tess/push", pushLines(netstore.Record{Type: "counter", Path: "/notes/n", Op: op})); err != nil || reply != "accepted" {
		t.Fatalf("push: %q, %v", reply, err)
	}

	conn, err := plan9client.NewConn(dialPinned(t, w.store.Addr, w.store.FP))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fsys, err := conn.Attach(nil, "tess", "token "+w.token)
	if err != nil {
		t.Fatal(err)
	}
	fid, err := fsys.Open("/user/tess/oplog/counter/notes/n", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer fid.Close()
	d, err := fid.Stat()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	n, _ := fid.ReadAt(buf, 0)
	if got := string(buf[:n]); !strings.Contains(got, op.Sha) || int(d.Length) != n || d.Qid.Vers == 0 {
		t.Errorf("over TLS: stat length %d vers %d, read %d bytes %q", d.Length, d.Qid.Vers, n, got)
	}
}

// mount9p speaks no TLS: it mounts a store served over TLS through
// gig-tunnel's unix socket (README, Mounting), and plain shell tools use
// it.
func TestFUSE_Mount9pTLSTunnel(t *testing.T) {
	needFUSE(t)
	w := startTLSWorld(t)
	sock := filepath.Join(t.TempDir(), "store.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() {
		ended <- tools.ServeTunnel(ctx, l, w.store.Addr, srv9p.Trust{Fingerprint: w.store.FP}, t.Logf)
	}()
	m := startMount9pAt(t, sock, "tess", "token "+w.token)
	t.Cleanup(func() {
		stop()
		if err := <-ended; err != nil {
			t.Errorf("tunnel: %v", err)
		}
	})
	m.waitMounted(t)
	op := newOp(t, "tls-fuse", 1, `"through the tunnel"`)
	home := "user/tess"
	// A push and its reply on one open file, through FUSE, the tunnel and TLS.
	f, err := os.OpenFile(filepath.Join(m.dir, home, "push"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte(pushLines(netstore.Record{Type: "lww", Path: "/notes/fuse", Op: op}))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if n, _ := f.ReadAt(buf, 0); string(buf[:n]) != "accepted\n" {
		t.Fatalf("push reply through the tunnel: %q", buf[:n])
	}
	if got := m.mustSh(t, "ls "+home+"/oplog/lww/notes"); got != "fuse\n" {
		t.Errorf("ls through the tunnel: %q", got)
	}
	c, err := srv9p.DialTrust(ctx, w.store.Addr, srv9p.Trust{Fingerprint: w.store.FP}, "tess", "token "+w.token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, err := c.ReadFile(ctx, "/user/tess/oplog/lww/notes/fuse"); err != nil || !strings.Contains(string(b), `"through the tunnel"`) {
		t.Errorf("the store after a push through the tunnel: %q, %v", b, err)
	}
}
