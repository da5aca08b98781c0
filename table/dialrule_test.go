package table

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/tlscert"
	"gigfs.io/gigfs/srv9p"
)

// store add takes only what a store's address may be, and never dials
// the others: no unix socket unless the table allows them, no wildcard,
// unspecified or multicast host, no service name for a port.
func TestStoreAdd_DialRules(t *testing.T) {
	for _, allowUnix := range []bool{false, true} {
		tt := newTestTable(t, func(c *Config) { c.AllowUnixStores = allowUnix })
		tt.setUser("alice", testMaster)
		m := tt.mustAttach("alice", "master "+testMaster)
		try := func(addr string) error {
			tt.stores.setCode(addr, "c")
			_, err := ctl(m, "/user/alice/ctl", "store add docs "+addr+" c")
			return err
		}
		refused := []string{
			"tcp!*!5641", "tcp!0.0.0.0!5641", "[::]:5641", ":5641", "tcp!224.0.0.1!5641",
			"tcp!store.example!9fs", "tcp!store.example!0", "tcp!store.example!65536",
			"tcp!-x.example!5641", "[fe80::1%lo]:5641",
		}
		if !allowUnix {
			refused = append(refused, "unix!/run/gig/store.sock", "/run/gig/store.sock", "./store.sock")
		}
		for _, addr := range refused {
			err := try(addr)
			if err == nil || !strings.HasPrefix(err.Error(), "invalid: bad store address") {
				t.Errorf("allowUnix=%v: store add %s: %v, want invalid: bad store address", allowUnix, addr, err)
			}
		}
		tt.stores.mu.Lock()
		dialled := len(tt.stores.confirms)
		tt.stores.mu.Unlock()
		if dialled != 0 {
			t.Errorf("allowUnix=%v: the table confirmed with %d refused addresses", allowUnix, dialled)
		}
		accepted := []string{"tcp!store.example!5641", "tls!10.0.0.7!5641", "store.example:5641", "tcp!::1!5641"}
		if allowUnix {
			accepted = append(accepted, "unix!/run/gig/store.sock")
		}
		for _, addr := range accepted {
			if err := try(addr); err != nil {
				t.Errorf("allowUnix=%v: store add %s: %v", allowUnix, addr, err)
			}
		}
	}
}

// Every way a dial can fail gets the same answer, at the same time: a
// user cannot tell a closed port from a silent one, a non-9P service, a TLS
// mismatch or a name that does not resolve, by the answer or by how long it
// takes (each is answered when the store timeout has passed since the add
// began: the test's table records the wait and does not wait). Only a store
// that refuses the code says so.
func TestStoreAdd_NeutralErrors(t *testing.T) {
	tt := newTestTable(t, func(c *Config) {
		c.Stores = NinePStores{}
		c.StoreTimeout = 300 * time.Millisecond // the silent port's answer comes when it passes
	})
	tt.setUser("alice", testMaster)
	m := tt.mustAttach("alice", "master "+testMaster)

	closed := listen(t)
	closedAddr := closed.Addr().String()
	closed.Close()

	silent := listen(t)
	var held sync.WaitGroup
	held.Go(func() {
		var conns []net.Conn
		for {
			c, err := silent.Accept()
			if err != nil {
				break
			}
			conns = append(conns, c) // read nothing, answer nothing
		}
		for _, c := range conns {
			c.Close()
		}
	})
	t.Cleanup(func() { silent.Close(); held.Wait() })

	banner := listen(t) // a service that is not 9P
	go func() {
		for {
			c, err := banner.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
			c.Close()
		}
	}()

	plain := startFakeStore(t, "the-code") // a real 9P store, without TLS
	cert, err := tlscert.Load(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := srv9p.ListenTLS("tls!127.0.0.1!0", cert.TLS)
	if err != nil {
		t.Fatal(err)
	}
	overTLS := startFakeStoreOn(t, tl, "the-code") // a 9P store over TLS

	for _, tc := range []struct{ what, addr string }{
		{"a closed port", closedAddr},
		{"a silent port", silent.Addr().String()},
		{"a port that is not 9P", banner.Addr().String()},
		{"tls to a plain 9P store", "tls!127.0.0.1!" + port(plain.addr)},
		{"plain 9P to a TLS store", overTLS.addr},
		{"a name that does not resolve", "tcp!no-such-store.invalid!5641"},
	} {
		tt.waits.take()
		tt.clock.Advance(time.Minute) // the add begins now
		begun := tt.clock.Now()
		_, err := ctl(m, "/user/alice/ctl", "store add docs "+tc.addr+" the-code")
		want := "unavailable: store add: " + tc.addr + ": " + errConfirmUnreached
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", tc.what, err, want)
		}
		if w := tt.waits.take(); len(w) != 1 || !w[0].Equal(begun.Add(300*time.Millisecond)) {
			t.Errorf("%s: the answer waited for %v, want once, until the store timeout has passed since %v", tc.what, w, begun)
		}
		if !strings.Contains(tt.logs.String(), "confirm with "+tc.addr+": ") {
			t.Errorf("%s: the cause is not in the table's log:\n%s", tc.what, tt.logs)
		}
	}

	_, err = ctl(m, "/user/alice/ctl", "store add docs "+plain.addr+" wrong-code")
	if want := "permission: store add: the store at " + plain.addr + " refused the confirmation code"; err == nil || err.Error() != want {
		t.Errorf("a wrong code: got %v, want %q", err, want)
	}
	mustCtl(t, m, "/user/alice/ctl", "store add docs "+plain.addr+" the-code")
	if w := tt.waits.take(); len(w) != 0 {
		t.Errorf("a refused code and a confirmed store waited for %v: their answers need not look like the others", w)
	}

	// A user who pins the store's certificate (its admin gave the
	// fingerprint) learns when another one answers.
	tlsAddr := "tls!127.0.0.1!" + port(overTLS.addr)
	wrong := "sha256:" + strings.Repeat("ab", 32)
	_, err = ctl(m, "/user/alice/ctl", "store add docs "+tlsAddr+" the-code "+wrong)
	if want := "permission: store add: the store at " + tlsAddr + " does not show the certificate " + wrong; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("a wrong pin: got %v, want %q", err, want)
	}
	_, err = ctl(m, "/user/alice/ctl", "store add docs "+plain.addr+" the-code "+cert.Fingerprint)
	if err == nil || !strings.HasPrefix(err.Error(), "invalid: a store fingerprint needs a tls!host!port address") {
		t.Errorf("a pin on a plain address: %v", err)
	}
	mustCtl(t, m, "/user/alice/ctl", "store add docs "+tlsAddr+" the-code "+cert.Fingerprint)
	var refs []StoreRef
	if err := json.Unmarshal([]byte(mustRead(t, m, "/user/alice/channel/docs")), &refs); err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[1].StoreAddr != tlsAddr || refs[1].Fingerprint != cert.Fingerprint {
		t.Errorf("the channel after a pinned add: %+v, want %s with %s", refs, tlsAddr, cert.Fingerprint)
	}
}

// The kinds stay: a caller in Go sees unavailable and permission.
func TestConfirmFailed_Kinds(t *testing.T) {
	tt := newTestTable(t)
	if err := tt.svc.confirmFailed(context.Background(), "alice", "tcp!s!1", "", errors.New("connection refused"), time.Time{}); !errors.Is(err, gig.ErrUnavailable) {
		t.Errorf("a dial failure: %v, want unavailable", err)
	}
	if err := tt.svc.confirmFailed(context.Background(), "alice", "tcp!s!1", "", gig.Errorf(gig.ErrPermission, "bad code"), time.Time{}); !errors.Is(err, gig.ErrPermission) {
		t.Errorf("a refused code: %v, want permission", err)
	}
	if err := tt.svc.confirmFailed(context.Background(), "alice", "tcp!s!1", "", srv9p.ErrUntrusted, time.Time{}); !errors.Is(err, gig.ErrUnavailable) {
		t.Errorf("an untrusted certificate: %v, want unavailable (neutral)", err)
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func port(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}
