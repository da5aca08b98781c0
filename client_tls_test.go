package gigfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gigfs.io/gigfs/internal/cluster"
	"gigfs.io/gigfs/internal/tlscert"
	"gigfs.io/gigfs/netstore/remote"
	"gigfs.io/gigfs/srv9p"
	"gigfs.io/gigfs/table"
)

// logLines collects a client's log, for tests that look for a line.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logLines) find(s string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return nil
		}
	}
	return fmt.Errorf("no log line has %q; log:\n%s", s, strings.Join(l.lines, "\n"))
}

// The whole flow over TLS: a table and a store with self-signed
// certificates, the store added with its code (the table learns its
// fingerprint), clients that know only the table's fingerprint push and
// read through the store (they pin the fingerprint the mount table gives;
// the store pins the table's when it checks their tokens), and a wrong
// fingerprint is refused with a clear error.
func TestTLS_FullFlow(t *testing.T) {
	cl, err := cluster.StartTLS(t.TempDir(), 2, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx := context.Background()
	if !strings.HasPrefix(cl.TableAddr, "tls!") || cl.TableFP == "" {
		t.Fatalf("table at %s, fingerprint %q: not TLS", cl.TableAddr, cl.TableFP)
	}
	session, err := cl.User(ctx, testUser, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	st := cl.Stores[0]
	if err := cl.AddStore(ctx, testUser, testMaster, "c", st, ""); err != nil {
		t.Fatal(err)
	}

	// The mount table carries the store's fingerprint, as the table saw it.
	tc, err := table.DialTrust(ctx, cl.TableAddr, cl.TableTrust(), testUser, "session "+session)
	if err != nil {
		t.Fatal(err)
	}
	mt, err := tc.Table(ctx)
	tc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if refs := mt["c"]; len(refs) != 1 || refs[0].Fingerprint != st.FP || refs[0].StoreAddr != st.Addr {
		t.Fatalf("mount table %+v; want store %s with fingerprint %s", mt, st.Addr, st.FP)
	}

	cfg := func(fp string) Config {
		c := testConfig(t)
		c.RemoteTable = &RemoteTable{Addr: cl.TableAddr, User: testUser, Session: session, Fingerprint: fp}
		return c
	}
	a, b := mustClient(t, cfg(cl.TableFP)), mustClient(t, cfg(cl.TableFP))
	mustPush(t, a, "c", "counter", "/n", "2")
	if got := mustGet(t, b, "c", "counter", "/n"); got != "2" {
		t.Fatalf("b reads %s, want 2", got)
	}

	// The clients follow the table over TLS too: a store added to the
	// channel now gets a's next push, with no new read of the table.
	st2 := cl.Stores[1]
	if err := cl.AddStore(ctx, testUser, testMaster, "c", st2, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		mustPush(t, a, "c", "counter", "/followed", "1")
		l, err := st2.Service().Log(testUser, "counter", "/c/followed")
		if err != nil || len(l.Ops()) == 0 {
			return fmt.Errorf("the added store holds no op of /followed (%v): the client did not follow the table", err)
		}
		return nil
	})

	// A client pinning another fingerprint for the table is refused, and
	// says why.
	bad := mustClient(t, cfg(st.FP))
	_, err = bad.Get(ctx, "c", "counter", "/n")
	if !errors.Is(err, ErrTableRefused) || !strings.Contains(err.Error(), "untrusted certificate") || !strings.Contains(err.Error(), "not the pinned "+st.FP) {
		t.Errorf("get with a wrong table fingerprint: %v", err)
	}
	t.Logf("wrong table fingerprint: %v", err)

	// A store dialled with a wrong pin is refused before any credential
	// is sent.
	_, err = remote.DialTrust(ctx, st.Addr, srv9p.Trust{Fingerprint: cl.TableFP}, testUser, "x")
	if !errors.Is(err, srv9p.ErrUntrusted) || !strings.Contains(err.Error(), "not the pinned "+cl.TableFP) {
		t.Errorf("store with a wrong pin: %v", err)
	}

	// A store whose certificate changed (someone in between, or a new
	// one) no longer matches the mount table: clients refuse it and log
	// why, and nothing is pushed to it.
	st.Stop()
	for _, name := range []string{tlscert.CertName, tlscert.KeyName} {
		if err := os.Remove(filepath.Join(st.Dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &logLines{}
	c3 := cfg(cl.TableFP)
	c3.Logf = logs.logf
	c := mustClient(t, c3)
	if _, err := c.Push(ctx, "c", "counter", "/changed", []byte("1")); err != nil {
		t.Errorf("push with one store of two refused: %v", err) // the other store takes it
	}
	eventually(t, 5*time.Second, func() error { return logs.find("untrusted certificate") })
	if l, err := st.Service().Log(testUser, "counter", "/c/changed"); err != nil || len(l.Ops()) != 0 {
		t.Errorf("a push went to a store whose certificate is not the pinned one (%v)", err)
	}
}
